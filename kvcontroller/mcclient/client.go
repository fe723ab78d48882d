// Package mcclient is a memcached text-protocol client for one server:
// get, multi-get, set and delete pipelined over a few long-lived
// connections, and flush_all, version, stats and metadump on short-lived
// ones.
//
// It is written for memcons' replicas rather than taken from a library:
// the Go client memcons used before (bradfitz's) gives each caller a
// connection of its own, one request per write and per read however many
// callers wait, and has no API for `lru_crawler metadump` or for reading
// stats (docs/ARCHITECTURE.md, "The replica connection"). Values are
// stored with flags 0 and read back without them; callers keep their own
// metadata in the value.
package mcclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Defaults for Options fields left zero.
const (
	DefaultTimeout = time.Second
	// DefaultConns is the number of pipelined connections. One connection
	// packs the most requests into each write and read; on two cores it
	// beat two by 5% for one memcons peer and 10% for three
	// (docs/BENCHMARKS.md).
	DefaultConns = 1
)

// MaxKeyLen is memcached's key length limit, in bytes.
const MaxKeyLen = 250

var (
	// ErrCacheMiss reports a get of a key the server does not hold, or a
	// delete of one (NOT_FOUND).
	ErrCacheMiss = errors.New("cache miss")
	// ErrMalformedKey reports a key the text protocol cannot carry: empty,
	// longer than MaxKeyLen, or holding a space or control byte. Nothing was
	// sent.
	ErrMalformedKey = errors.New("malformed key")
	// ErrTooLarge reports that memcached refused an item's size
	// (`SERVER_ERROR object too large for cache`); a set then also drops
	// the key's old item.
	ErrTooLarge = errors.New("object too large")
	// ErrServer reports any other SERVER_ERROR reply, such as
	// `SERVER_ERROR out of memory storing object`.
	ErrServer = errors.New("memcached server error")
	// ErrProtocol reports a reply that does not answer the request sent:
	// ERROR, CLIENT_ERROR, an unexpected line or a malformed VALUE block.
	// The connection it came on is closed.
	ErrProtocol = errors.New("memcached protocol error")
	// ErrBusy reports that memcached's LRU crawler stayed busy with another
	// request (BUSY) for longer than a metadump waits.
	ErrBusy = errors.New("lru crawler busy")
	// ErrClosed reports use of a Client after Close, or a call Close cut
	// short.
	ErrClosed = errors.New("memcached client closed")
	// ErrInvalidOptions reports Options a Client cannot be built from.
	ErrInvalidOptions = errors.New("invalid memcached client options")
)

// Options configures a Client; zero fields mean defaults.
type Options struct {
	// Addr is the memcached host:port; required.
	Addr string
	// Timeout bounds each whole Get, GetMulti, Set and Delete call, and
	// each dial and network read or write of the other calls; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// Conns is the number of long-lived connections that carry Get,
	// GetMulti, Set and Delete, pipelined; 0 means DefaultConns.
	Conns int
}

// Client talks to one memcached server. It is safe for concurrent use.
//
// Get, GetMulti, Set and Delete from concurrent callers share Options.Conns
// pipelined connections (see pipeline): a key always travels on the same
// connection, so requests for one key reach memcached in the order they
// were made. Each such call waits at most Timeout; a call queued behind
// others also returns when its ctx is done, while one sent at once on an
// idle connection is bounded by Timeout alone.
//
// FlushAll, Version, Stats and Metadump each dial a connection of their
// own, which cancelling ctx closes. They keep no idle pool: they are rare
// (health probes, flushes, dumps), and memcached refuses a metadump after
// other commands on a connection anyway.
type Client struct {
	addr    string
	timeout time.Duration
	pipe    *pipeline
}

// New returns a client for the memcached at opts.Addr. It does not contact
// memcached: connections are dialled on first use. Close stops the
// goroutines it starts.
func New(opts Options) (*Client, error) {
	switch {
	case opts.Addr == "":
		return nil, fmt.Errorf("%w: Addr is empty", ErrInvalidOptions)
	case opts.Timeout < 0:
		return nil, fmt.Errorf("%w: Timeout %v is negative", ErrInvalidOptions, opts.Timeout)
	case opts.Conns < 0:
		return nil, fmt.Errorf("%w: Conns %d is negative", ErrInvalidOptions, opts.Conns)
	}
	if _, _, err := net.SplitHostPort(opts.Addr); err != nil {
		return nil, fmt.Errorf("%w: Addr %q: %w", ErrInvalidOptions, opts.Addr, err)
	}
	c := &Client{addr: opts.Addr, timeout: opts.Timeout}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	conns := opts.Conns
	if conns == 0 {
		conns = DefaultConns
	}
	c.pipe = newPipeline(opts.Addr, conns, c.timeout)
	return c, nil
}

// Addr returns the memcached address the client talks to.
func (c *Client) Addr() string { return c.addr }

// Get returns the value stored under key, owned by the caller;
// ErrCacheMiss if there is none.
func (c *Client) Get(ctx context.Context, key string) ([]byte, error) {
	if !LegalKey(key) {
		return nil, fmt.Errorf("%w: get: %d bytes", ErrMalformedKey, len(key))
	}
	rep, err := c.pipe.get(ctx, key)
	switch {
	case err != nil:
		return nil, err
	case rep.miss:
		return nil, ErrCacheMiss
	}
	return rep.value, nil
}

// GetMulti returns the values found among keys, by key. Keys are split by
// connection and fetched with one get per connection.
func (c *Client) GetMulti(ctx context.Context, keys []string) (map[string][]byte, error) {
	for _, k := range keys {
		if !LegalKey(k) {
			return nil, fmt.Errorf("%w: get: %d bytes", ErrMalformedKey, len(k))
		}
	}
	if len(keys) == 0 {
		return map[string][]byte{}, nil
	}
	return c.pipe.getMulti(ctx, keys)
}

// Set stores value under key with memcached expiration exptime (0 never,
// up to 30 days relative, above that absolute unix time, negative already
// expired). ErrTooLarge if memcached refuses the size.
//
// value must stay untouched until Set returns; if Set fails with anything
// but a reply from memcached (ErrTooLarge, ErrServer), value may still be
// read later, and the caller must not reuse it.
func (c *Client) Set(ctx context.Context, key string, value []byte, exptime int32) error {
	if !LegalKey(key) {
		return fmt.Errorf("%w: set: %d bytes", ErrMalformedKey, len(key))
	}
	rep, err := c.pipe.set(ctx, key, value, exptime)
	if err != nil {
		return err
	}
	return rep.err
}

// Delete removes key; ErrCacheMiss if memcached held nothing under it.
func (c *Client) Delete(ctx context.Context, key string) error {
	if !LegalKey(key) {
		return fmt.Errorf("%w: delete: %d bytes", ErrMalformedKey, len(key))
	}
	rep, err := c.pipe.delete(ctx, key)
	switch {
	case err != nil:
		return err
	case rep.miss:
		return ErrCacheMiss
	}
	return rep.err
}

// Close fails calls waiting on the pipelined connections with ErrClosed,
// closes every connection and waits for the client's goroutines; later
// calls fail with ErrClosed. Safe to call twice.
func (c *Client) Close() error {
	c.pipe.close()
	return nil
}

// LegalKey reports whether the text protocol carries key as one key: 1 to
// MaxKeyLen bytes, none of them a space or control byte (memcached splits
// on spaces; this client refuses every control byte, as common clients do,
// so that no key can put a pipelined connection out of step).
func LegalKey(key string) bool { return legalKey(key) }

// legalKey is LegalKey for keys in either form.
func legalKey[K string | []byte](key K) bool {
	if len(key) == 0 || len(key) > MaxKeyLen {
		return false
	}
	for i := 0; i < len(key); i++ {
		if b := key[i]; b <= ' ' || b == 0x7f {
			return false
		}
	}
	return true
}
