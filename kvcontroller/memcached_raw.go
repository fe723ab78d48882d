package kvcontroller

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Dump tuning: keys are fetched in batches of dumpBatch; a busy LRU crawler
// is retried with a backoff doubling from busyBackoffMin to busyBackoffMax
// for at most busyWaitMax.
const (
	dumpBatch      = 100
	busyBackoffMin = 5 * time.Millisecond
	busyBackoffMax = 200 * time.Millisecond
	busyWaitMax    = 15 * time.Second
)

// errCrawlerBusy reports that memcached's LRU crawler is already running.
var errCrawlerBusy = errors.New("lru crawler busy")

// Dump calls fn for every live item, tombstones included, in key order. It
// lists the keys with `lru_crawler metadump hash`, then fetches their values
// in batches; keys that vanish in between are skipped. Items written while
// Dump runs may or may not be seen: callers that need a point-in-time dump
// hold writes off while it runs.
func (s *MemcachedStore) Dump(ctx context.Context, fn func(Item) error) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	keys, err := s.metadumpKeys(ctx)
	if err != nil {
		return err
	}
	slices.Sort(keys)
	keys = slices.Compact(keys) // defensive: a hash walk lists each key once
	for start := 0; start < len(keys); start += dumpBatch {
		if err := s.ready(ctx); err != nil {
			return err
		}
		batch := keys[start:min(start+dumpBatch, len(keys))]
		got, err := s.client.GetMulti(batch)
		if err != nil {
			return s.mapErr("dump get", err)
		}
		now := s.now().Unix()
		for _, k := range batch {
			mi, ok := got[k]
			if !ok {
				continue
			}
			ck, err := clientKey(k)
			if err != nil {
				return fmt.Errorf("%w: dump: %w", ErrBackend, err)
			}
			it, err := s.decodeLive(ck, mi.Value, now)
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

// metadumpKeys lists every key memcached holds, retrying while the crawler
// is busy.
//
// It walks the hash table (`metadump hash`), not the LRUs (`metadump all`):
// the LRU walk silently skips any item another connection holds at that
// instant, so under read load it misses keys, hot keys most of all; the hash
// walk holds each bucket's lock and lists every unexpired item.
func (s *MemcachedStore) metadumpKeys(ctx context.Context) ([]string, error) {
	backoff := busyBackoffMin
	giveUp := time.Now().Add(busyWaitMax)
	for {
		var keys []string
		// memcached refuses metadump after other commands on a connection and
		// ignores commands after it, so each attempt has its own connection.
		err := s.rawCommand(ctx, "metadump", "lru_crawler metadump hash\r\n", func(r *bufio.Reader) error {
			var err error
			keys, err = readMetadump(r)
			return err
		})
		if !errors.Is(err, errCrawlerBusy) {
			return keys, err
		}
		if time.Now().Add(backoff).After(giveUp) {
			return nil, fmt.Errorf("%w: metadump: lru crawler busy for %v", ErrBackend, busyWaitMax)
		}
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("kvcontroller: metadump: %w", ctx.Err())
		case <-timer.C:
		}
		backoff = min(2*backoff, busyBackoffMax)
	}
}

// readMetadump reads metadump lines (`key=<url-encoded> exp=... ...\n`) up
// to `END\r\n` and returns the decoded keys.
func readMetadump(r *bufio.Reader) ([]string, error) {
	var keys []string
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return nil, fmt.Errorf("read metadump: %w", err)
		}
		switch {
		case bytes.Equal(line, []byte("END\r\n")):
			return keys, nil
		case bytes.HasPrefix(line, []byte("BUSY")):
			return nil, errCrawlerBusy
		}
		k, err := parseMetadumpKey(line)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
}

// parseMetadumpKey returns the decoded key of one metadump line.
func parseMetadumpKey(line []byte) (string, error) {
	line = bytes.TrimRight(line, "\r\n")
	rest, ok := bytes.CutPrefix(line, []byte("key="))
	if !ok {
		return "", fmt.Errorf("unexpected metadump line %q", clip(line))
	}
	enc, _, _ := bytes.Cut(rest, []byte(" "))
	k, err := url.PathUnescape(string(enc))
	if err != nil || k == "" {
		return "", fmt.Errorf("bad metadump key %q", clip(enc))
	}
	return k, nil
}

// Stats reports memcached's curr_items (tombstones included), bytes,
// limit_maxbytes and evictions.
func (s *MemcachedStore) Stats(ctx context.Context) (Stats, error) {
	if err := s.ready(ctx); err != nil {
		return Stats{}, err
	}
	var st Stats
	err := s.rawCommand(ctx, "stats", "stats\r\n", func(r *bufio.Reader) error {
		var err error
		st, err = readStats(r)
		return err
	})
	return st, err
}

// readStats reads `STAT <name> <value>\r\n` lines up to `END\r\n`.
func readStats(r *bufio.Reader) (Stats, error) {
	var st Stats
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return Stats{}, fmt.Errorf("read stats: %w", err)
		}
		if bytes.Equal(line, []byte("END\r\n")) {
			return st, nil
		}
		rest, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("STAT "))
		if !ok {
			return Stats{}, fmt.Errorf("unexpected stats line %q", clip(line))
		}
		name, value, _ := bytes.Cut(rest, []byte(" "))
		var dst *uint64
		switch string(name) {
		case "curr_items":
			dst = &st.Items
		case "bytes":
			dst = &st.Bytes
		case "limit_maxbytes":
			dst = &st.LimitBytes
		case "evictions":
			dst = &st.Evictions
		default:
			continue
		}
		n, err := strconv.ParseUint(string(value), 10, 64)
		if err != nil {
			return Stats{}, fmt.Errorf("stats %s: %w", name, err)
		}
		*dst = n
	}
}

// rawCommand sends cmd on a new connection and lets read parse the answer.
// Each network operation is bounded by the store's Timeout; cancelling ctx
// closes the connection.
func (s *MemcachedStore) rawCommand(ctx context.Context, op, cmd string, read func(*bufio.Reader) error) error {
	d := net.Dialer{Timeout: s.timeout}
	c, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return s.rawErr(ctx, op, err)
	}
	defer c.Close()
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = c.Close()
		close(closed)
	})
	defer func() {
		if !stop() {
			<-closed
		}
	}()

	if err := c.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
		return s.rawErr(ctx, op, err)
	}
	if _, err := io.WriteString(c, cmd); err != nil {
		return s.rawErr(ctx, op, err)
	}
	if err := read(bufio.NewReader(&deadlineReader{c: c, timeout: s.timeout})); err != nil {
		return s.rawErr(ctx, op, err)
	}
	return nil
}

func (s *MemcachedStore) rawErr(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("kvcontroller: %s: %w", op, ctxErr)
	}
	return fmt.Errorf("%w: %s: %w", ErrBackend, op, err)
}

// deadlineReader extends the read deadline of c before every Read.
type deadlineReader struct {
	c       net.Conn
	timeout time.Duration
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if err := d.c.SetReadDeadline(time.Now().Add(d.timeout)); err != nil {
		return 0, err
	}
	return d.c.Read(p)
}

// clip shortens protocol text quoted in error messages.
func clip(b []byte) []byte {
	const maxQuoted = 64
	if len(b) > maxQuoted {
		return b[:maxQuoted]
	}
	return b
}
