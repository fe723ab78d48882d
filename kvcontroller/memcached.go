package kvcontroller

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// Defaults for MemcachedOptions fields left zero.
const (
	DefaultMemcachedTimeout      = time.Second
	DefaultMemcachedMaxIdleConns = 64
)

// ErrInvalidOptions reports options that a store cannot be built from.
var ErrInvalidOptions = errors.New("kvcontroller: invalid options")

// maxRelativeExptime is memcached's boundary: an expiration up to 30 days is
// relative to now, a larger one is an absolute unix time.
const maxRelativeExptime = 30 * 24 * 60 * 60

// maxPooledBuf bounds the envelope buffers kept for reuse by Set.
const maxPooledBuf = 64 << 10

// MemcachedOptions configures a MemcachedStore; zero fields mean defaults.
type MemcachedOptions struct {
	// Addr is the memcached host:port; required.
	Addr string
	// Timeout bounds each whole Get, GetMulti, Set and Delete call, and each
	// dial and network read or write of the others; 0 means
	// DefaultMemcachedTimeout.
	Timeout time.Duration
	// MaxIdleConns is the number of idle connections kept for reuse by
	// FlushAll, Ping and Dump; 0 means DefaultMemcachedMaxIdleConns.
	MaxIdleConns int
	// PipelineConns is the number of long-lived connections that carry Get,
	// GetMulti, Set and Delete, pipelined; 0 means
	// DefaultMemcachedPipelineConns, at most 64.
	PipelineConns int
	// Now is the clock that decides expiry; nil means time.Now.
	Now func() time.Time
}

// MemcachedStore is a Store backed by one memcached server. Each item lives
// under its own key, as its envelope, with memcached flags 0 and memcached
// expiration set to the item's absolute Exptime. It is safe for concurrent
// use. Get, GetMulti, Set and Delete from concurrent callers share a few
// pipelined connections (see pipeline); each such call waits at most
// Timeout. Calls observe ctx cancellation before they start; a call queued
// behind others also returns when ctx is done, one sent at once on an idle
// connection is bounded by Timeout alone. FlushAll, Ping and Dump use pooled
// connections, each network operation bounded by Timeout.
type MemcachedStore struct {
	addr    string
	timeout time.Duration
	now     func() time.Time
	client  *memcache.Client
	pipe    *pipeline
	bufs    sync.Pool // *[]byte envelope buffers, reused by Set
	closed  atomic.Bool
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
	switch {
	case opts.Addr == "":
		return nil, fmt.Errorf("%w: Addr is empty", ErrInvalidOptions)
	case opts.MaxIdleConns < 0:
		return nil, fmt.Errorf("%w: MaxIdleConns %d is negative", ErrInvalidOptions, opts.MaxIdleConns)
	}
	s := &MemcachedStore{
		addr:    opts.Addr,
		timeout: opts.Timeout,
		now:     opts.Now,
	}
	if s.now == nil {
		s.now = time.Now
	}
	maxIdle := opts.MaxIdleConns
	if maxIdle == 0 {
		maxIdle = DefaultMemcachedMaxIdleConns
	}
	var servers memcache.ServerList
	if err := servers.SetServers(opts.Addr); err != nil {
		return nil, fmt.Errorf("%w: Addr %q: %w", ErrInvalidOptions, opts.Addr, err)
	}
	s.client = memcache.NewFromSelector(&servers)
	s.client.Timeout = s.timeout
	s.client.MaxIdleConns = maxIdle
	s.bufs.New = func() any { return new([]byte) }
	s.pipe = newPipeline(opts.Addr, opts.PipelineConns, s.timeout)
	return s, nil
}

// Addr returns the memcached address the store talks to.
func (s *MemcachedStore) Addr() string { return s.addr }

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
	rep, err := s.pipe.get(ctx, rk)
	switch {
	case err != nil:
		return Item{}, err
	case rep.miss:
		return Item{}, ErrNotFound
	}
	return s.decodeLive(key, rep.value, s.now().Unix())
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
	got, err := s.pipe.getMulti(ctx, rkeys)
	if err != nil {
		return nil, err
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
	if expired(it.Exptime, now) {
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
	rep, err := s.pipe.set(ctx, rk, env, memcachedExpiration(item.Exptime))
	if err != nil {
		// The call may still be queued and read env later: drop the buffer.
		return err
	}
	if cap(env) <= maxPooledBuf {
		*buf = env[:0]
		s.bufs.Put(buf)
	}
	return rep.err
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
	rep, err := s.pipe.delete(ctx, rk)
	switch {
	case err != nil:
		return err
	case rep.miss:
		return ErrNotFound
	}
	return rep.err
}

// FlushAll removes every item with memcached's flush_all.
func (s *MemcachedStore) FlushAll(ctx context.Context) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	if err := s.client.FlushAll(); err != nil {
		return s.mapErr("flush_all", err)
	}
	return nil
}

// Ping reports whether memcached answers a version request.
func (s *MemcachedStore) Ping(ctx context.Context) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	if err := s.client.Ping(); err != nil {
		return s.mapErr("ping", err)
	}
	return nil
}

// Close fails calls waiting on the pipelined connections, closes every
// connection and waits for the store's goroutines; later calls on the store
// fail. Safe to call twice.
func (s *MemcachedStore) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.pipe.close()
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("kvcontroller: close memcached connections: %w", err)
	}
	return nil
}

// ready fails if the store is closed or ctx is done.
func (s *MemcachedStore) ready(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("kvcontroller: %w", err)
	}
	return nil
}

// mapErr turns a gomemcache error into ErrNotFound, ErrTooLarge or an error
// wrapping ErrBackend whose text is one short line.
func (s *MemcachedStore) mapErr(op string, err error) error {
	switch {
	case errors.Is(err, memcache.ErrCacheMiss):
		return ErrNotFound
	case errors.Is(err, memcache.ErrMalformedKey):
		return fmt.Errorf("%w: %s: malformed key", ErrBackend, op)
	// gomemcache has no typed error for memcached's "SERVER_ERROR object too
	// large for cache". (Set goes through the pipeline, whose serverError
	// maps it; TestMemcachedStore_TooLarge pins that.)
	case strings.Contains(err.Error(), "object too large"):
		return fmt.Errorf("%w: memcached refused the item size", ErrTooLarge)
	}
	return fmt.Errorf("%w: %s: %w", ErrBackend, op, err)
}
