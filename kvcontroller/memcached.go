package kvcontroller

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memcons/memcons/kvcontroller/mcclient"
)

// Defaults for MemcachedOptions fields left zero.
const (
	DefaultMemcachedTimeout       = mcclient.DefaultTimeout
	DefaultMemcachedPipelineConns = mcclient.DefaultConns
)

// ErrInvalidOptions reports options that a store cannot be built from.
var ErrInvalidOptions = errors.New("invalid replica options")

// maxRelativeExptime is memcached's boundary: an expiration up to 30 days is
// relative to now, a larger one is an absolute unix time.
const maxRelativeExptime = 30 * 24 * 60 * 60

// maxPooledBuf bounds the envelope buffers kept for reuse by Set.
const maxPooledBuf = 64 << 10

// dumpBatch is the number of keys Dump fetches with one multi-get.
const dumpBatch = 100

// MemcachedOptions configures a MemcachedStore; zero fields mean defaults.
type MemcachedOptions struct {
	// Addr is the memcached host:port; required.
	Addr string
	// Timeout bounds each whole Get, GetMulti, Set and Delete call, and each
	// dial and network read or write of the others; 0 means
	// DefaultMemcachedTimeout.
	Timeout time.Duration
	// PipelineConns is the number of long-lived connections that carry Get,
	// GetMulti, Set and Delete, pipelined; 0 means
	// DefaultMemcachedPipelineConns, at most 64.
	PipelineConns int
	// Now is the clock that decides expiry; nil means time.Now.
	Now func() time.Time
}

// MemcachedStore is a Store backed by one memcached server, spoken to
// through one mcclient.Client. Each item lives under its replica key (the
// client key, escaped where the text protocol cannot carry it), as its
// envelope, with memcached flags 0 and memcached expiration set to the
// item's absolute Exptime. It is safe for concurrent use. Get, GetMulti,
// Set and Delete are pipelined and each waits at most Timeout; the others
// use a connection of their own, each network operation bounded by
// Timeout. Every call observes ctx.
type MemcachedStore struct {
	now    func() time.Time
	client *mcclient.Client
	bufs   sync.Pool // *[]byte envelope buffers, reused by Set
	closed atomic.Bool
}

var _ Store = (*MemcachedStore)(nil)

// NewMemcachedStore returns a store for the memcached at opts.Addr. It does
// not contact memcached; use Ping to check that it answers. Close stops the
// goroutines it starts.
func NewMemcachedStore(opts MemcachedOptions) (*MemcachedStore, error) {
	if opts.Timeout == 0 {
		opts.Timeout = DefaultMemcachedTimeout
	}
	if opts.PipelineConns == 0 {
		opts.PipelineConns = DefaultMemcachedPipelineConns
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Addr == "" {
		return nil, fmt.Errorf("%w: Addr is empty", ErrInvalidOptions)
	}
	client, err := mcclient.New(mcclient.Options{Addr: opts.Addr, Timeout: opts.Timeout, Conns: opts.PipelineConns})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	s := &MemcachedStore{now: opts.Now, client: client}
	if s.now == nil {
		s.now = time.Now
	}
	s.bufs.New = func() any { return new([]byte) }
	return s, nil
}

// Addr returns the memcached address the store talks to.
func (s *MemcachedStore) Addr() string { return s.client.Addr() }

// Get returns the item under key; ErrNotFound if none or expired by Now.
// The returned Value is owned by the caller.
func (s *MemcachedStore) Get(ctx context.Context, key string) (Item, error) {
	if err := s.ready(ctx); err != nil {
		return Item{}, err
	}
	rk, err := replicaKey(key)
	if err != nil {
		return Item{}, err
	}
	v, err := s.client.Get(ctx, rk)
	if err != nil {
		return Item{}, mapErr(err)
	}
	return s.decodeLive(key, v, s.now().Unix())
}

// GetMulti returns the live items found among keys.
func (s *MemcachedStore) GetMulti(ctx context.Context, keys []string) (map[string]Item, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return map[string]Item{}, nil
	}
	rkeys, back, err := replicaKeys(keys)
	if err != nil {
		return nil, err
	}
	got, err := s.client.GetMulti(ctx, rkeys)
	if err != nil {
		return nil, mapErr(err)
	}
	now := s.now().Unix()
	found := make(map[string]Item, len(got))
	for rk, v := range got {
		k := rk
		if ck, ok := back[rk]; ok {
			k = ck
		}
		it, err := s.decodeLive(k, v, now)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found[k] = it
	}
	return found, nil
}

// decodeLive decodes the envelope stored under key; ErrNotFound if the item
// has expired at unix second now.
func (s *MemcachedStore) decodeLive(key string, b []byte, now int64) (Item, error) {
	it, err := DecodeEnvelope(key, b)
	if err != nil {
		return Item{}, fmt.Errorf("%w: key %q: %w", ErrBackend, key, err)
	}
	if expired(storeExptime(it), now) {
		return Item{}, ErrNotFound
	}
	return it, nil
}

// Set stores item, replacing whatever was under its key. ErrTooLarge if
// memcached refuses its size; memcached then also drops the old item.
func (s *MemcachedStore) Set(ctx context.Context, item Item) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	rk, err := replicaKey(item.Key)
	if err != nil {
		return err
	}
	buf := s.bufs.Get().(*[]byte)
	env := AppendEnvelope((*buf)[:0], item)
	if err := s.client.Set(ctx, rk, env, memcachedExpiration(storeExptime(item))); err != nil {
		// The call may still be queued and read env later: drop the buffer.
		return mapErr(err)
	}
	if cap(env) <= maxPooledBuf {
		*buf = env[:0]
		s.bufs.Put(buf)
	}
	return nil
}

// memcachedExpiration converts an absolute Exptime into memcached's
// expiration field. Memcached reads values up to 30 days as relative, so
// such (long past) absolute times become -1, "already expired"; times beyond
// int32 become 0 and are enforced by this store's own check on read.
func memcachedExpiration(exptime int64) int32 {
	switch {
	case exptime == 0:
		return 0
	case exptime <= maxRelativeExptime:
		return -1
	case exptime > math.MaxInt32:
		return 0
	default:
		return int32(exptime)
	}
}

// Delete removes key; ErrNotFound if memcached held nothing under it.
func (s *MemcachedStore) Delete(ctx context.Context, key string) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	rk, err := replicaKey(key)
	if err != nil {
		return err
	}
	return mapErr(s.client.Delete(ctx, rk))
}

// FlushAll removes every item with memcached's flush_all.
func (s *MemcachedStore) FlushAll(ctx context.Context) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	return mapErr(s.client.FlushAll(ctx))
}

// Ping reports whether memcached answers a version request.
func (s *MemcachedStore) Ping(ctx context.Context) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	_, err := s.client.Version(ctx)
	return mapErr(err)
}

// Dump calls fn for every live item, tombstones included, in key order. It
// lists the keys with the client's Metadump, then fetches their values in
// batches; keys that vanish in between are skipped. Items written while
// Dump runs may or may not be seen: callers that need a point-in-time dump
// hold writes off while it runs.
func (s *MemcachedStore) Dump(ctx context.Context, fn func(Item) error) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	keys, err := s.client.Metadump(ctx)
	if err != nil {
		return mapErr(err)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys) // defensive: a hash walk lists each key once
	for start := 0; start < len(keys); start += dumpBatch {
		if err := s.ready(ctx); err != nil {
			return err
		}
		batch := keys[start:min(start+dumpBatch, len(keys))]
		got, err := s.client.GetMulti(ctx, batch)
		if err != nil {
			return mapErr(err)
		}
		now := s.now().Unix()
		for _, k := range batch {
			v, ok := got[k]
			if !ok {
				continue
			}
			ck, err := clientKey(k)
			if err != nil {
				return fmt.Errorf("%w: dump: %w", ErrBackend, err)
			}
			it, err := s.decodeLive(ck, v, now)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := fn(it); err != nil {
				return err
			}
		}
	}
	return nil
}

// Stats reports memcached's curr_items (tombstones included), total_items,
// bytes, limit_maxbytes and evictions.
func (s *MemcachedStore) Stats(ctx context.Context) (Stats, error) {
	if err := s.ready(ctx); err != nil {
		return Stats{}, err
	}
	raw, err := s.client.Stats(ctx)
	if err != nil {
		return Stats{}, mapErr(err)
	}
	return parseStats(raw)
}

// GroupStats passes the replica's own `stats items` or `stats slabs`
// through: its items are the envelopes, so sizes include the envelope and
// the counts include tombstones.
func (s *MemcachedStore) GroupStats(ctx context.Context, group StatGroup) ([]StatLine, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	raw, err := s.client.StatGroup(ctx, string(group))
	if err != nil {
		return nil, mapErr(err)
	}
	lines := make([]StatLine, len(raw))
	for i, st := range raw {
		lines[i] = StatLine(st)
	}
	return lines, nil
}

// parseStats picks the fields of Stats out of memcached's stats; a missing
// one stays zero.
func parseStats(raw map[string]string) (Stats, error) {
	var st Stats
	for name, dst := range map[string]*uint64{
		"curr_items":     &st.Items,
		"total_items":    &st.TotalItems,
		"bytes":          &st.Bytes,
		"limit_maxbytes": &st.LimitBytes,
		"evictions":      &st.Evictions,
	} {
		v, ok := raw[name]
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return Stats{}, fmt.Errorf("%w: stats %s: %w", ErrBackend, name, err)
		}
		*dst = n
	}
	return st, nil
}

// Close fails calls waiting on the pipelined connections, closes every
// connection and waits for the store's goroutines; later calls on the store
// fail. Safe to call twice.
func (s *MemcachedStore) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("close memcached client: %w", err)
	}
	return nil
}

// ready fails if the store is closed or ctx is done.
func (s *MemcachedStore) ready(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replica call: %w", err)
	}
	return nil
}

// mapErr is the one place that turns an mcclient error into this package's:
// a miss into ErrNotFound, a refused size into ErrTooLarge, ctx's error
// into itself, and every other failure into an error wrapping ErrBackend
// (and still the mcclient sentinel and network cause) whose text is one
// short line. nil stays nil.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mcclient.ErrCacheMiss):
		return ErrNotFound
	case errors.Is(err, mcclient.ErrTooLarge):
		return fmt.Errorf("%w: memcached refused the item size", ErrTooLarge)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("replica call: %w", err)
	case errors.Is(err, mcclient.ErrClosed):
		return errClosed
	}
	return fmt.Errorf("%w: %w", ErrBackend, err)
}
