package mcclient

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// call states; a call moves from callPending to exactly one of the others.
const (
	callPending   int32 = iota
	callDone            // the reply (or a failure) is in the call
	callAbandoned       // the caller gave up; whoever holds the call drops it
)

// call is one request travelling through a pipelined connection: from its
// caller into the connection's queue, through the writer into the in-flight
// queue, and to the reader, which pairs it with its reply. Calls are pooled:
// the caller returns a call it has read the result of (release); an
// abandoned call stays with whoever holds it.
type call struct {
	op      opKind
	key     string   // replica key of get, set and delete
	keys    []string // replica keys of a multi-get
	value   []byte   // set: the envelope; read by the writer only
	exptime int32    // set: memcached expiration

	state atomic.Int32
	// done receives one token when state becomes callDone; the caller
	// takes it (in roundTrips or abandon) before reading the result.
	done chan struct{}

	// Written before the token is sent, read by the caller after.
	rep reply
	err error // transport or protocol failure; the connection was closed
}

// calls pools calls with their done channel, saving two allocations per
// request.
var calls = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func newCall(op opKind) *call {
	c := calls.Get().(*call)
	c.op = op
	return c
}

// release returns c to the pool if its caller took its result; an
// abandoned call may still be held by a writer or reader and is left alone.
func (c *call) release() {
	if c.state.Load() != callDone {
		return
	}
	c.key, c.keys, c.value, c.exptime = "", nil, nil, 0
	c.rep, c.err = reply{}, nil
	c.state.Store(callPending)
	calls.Put(c)
}

// finish hands the reply to the caller unless it gave up.
func (c *call) finish(rep reply, err error) {
	c.rep, c.err = rep, err
	if c.state.CompareAndSwap(callPending, callDone) {
		c.done <- struct{}{} // room for exactly this one token
	}
}

// fail finishes c with a transport or protocol failure, or with ErrClosed
// if that is the cause.
func (c *call) fail(cause error) {
	if errors.Is(cause, ErrClosed) {
		c.finish(reply{}, ErrClosed)
		return
	}
	c.finish(reply{}, fmt.Errorf("memcached %s: %w", c.op, cause))
}

// abandoned reports whether the caller has given up on c.
func (c *call) abandoned() bool { return c.state.Load() == callAbandoned }

// abandon gives c up; false if it finished first, and then its result is
// ready to read.
func (c *call) abandon() bool {
	if c.state.CompareAndSwap(callPending, callAbandoned) {
		return true
	}
	<-c.done
	return false
}

// pipeline sends requests of concurrent callers to one memcached over a few
// long-lived connections, many requests per write, as mcrouter and
// twemproxy do. Requests for one replica key always use the same connection,
// so they reach memcached in the order they were queued. Safe for
// concurrent use.
//
// Per connection (pipeConn), a writer goroutine takes every queued call,
// writes them with one flush and hands them, in write order, to a reader
// goroutine that pairs each reply with its call. A caller that finds its
// connection idle skips both hand-offs and does its round trip itself
// (pipeConn.roundTripDirect): one serial client then pays what a
// one-request-per-connection client pays. A caller that gives up leaves its
// call abandoned, and its reply is still read. Any IO or protocol error
// closes the connection and fails every call written on it; calls not yet
// written go out on a new connection, dialled at once, or after a backoff
// if dialling failed (then they fail at once).
type pipeline struct {
	timeout time.Duration
	conns   []*pipeConn

	ctx       context.Context // cancelled by close; bounds dials
	cancel    context.CancelFunc
	closing   chan struct{} // closed by close
	closeOnce sync.Once
	wg        sync.WaitGroup // writers and readers of every connection
}

// newPipeline starts n connection writers for the memcached at addr; they
// dial on their first request.
func newPipeline(addr string, n int, timeout time.Duration) *pipeline {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pipeline{
		timeout: timeout,
		ctx:     ctx,
		cancel:  cancel,
		closing: make(chan struct{}),
	}
	for range n {
		pc := newPipeConn(p, addr)
		p.conns = append(p.conns, pc)
		p.wg.Go(pc.run)
	}
	return p
}

// close fails queued and in-flight calls, stops every goroutine and waits
// for them. Safe to call twice.
func (p *pipeline) close() {
	p.closeOnce.Do(func() {
		p.cancel()
		close(p.closing)
	})
	p.wg.Wait()
}

// connFor picks the connection of a key (FNV-1a).
func (p *pipeline) connFor(key string) int {
	if len(p.conns) == 1 {
		return 0
	}
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % uint32(len(p.conns)))
}

// get returns the value under key; reply.miss if memcached has none.
func (p *pipeline) get(ctx context.Context, key string) (reply, error) {
	c := newCall(opGet)
	c.key = key
	return p.roundTrip(ctx, c)
}

// set stores value under key with memcached expiration exptime. value must
// stay untouched until set returns; if set fails it may be read later, so
// the caller must not reuse it then.
func (p *pipeline) set(ctx context.Context, key string, value []byte, exptime int32) (reply, error) {
	c := newCall(opSet)
	c.key, c.value, c.exptime = key, value, exptime
	return p.roundTrip(ctx, c)
}

// delete removes key; reply.miss if memcached had nothing under it.
func (p *pipeline) delete(ctx context.Context, key string) (reply, error) {
	c := newCall(opDelete)
	c.key = key
	return p.roundTrip(ctx, c)
}

// getMulti returns the values found among keys, by key. Keys are split by
// connection and fetched with one get per connection.
func (p *pipeline) getMulti(ctx context.Context, keys []string) (map[string][]byte, error) {
	groups := make([][]string, len(p.conns))
	for _, k := range keys {
		i := p.connFor(k)
		groups[i] = append(groups[i], k)
	}
	calls := make([]*call, 0, len(p.conns))
	for _, g := range groups {
		if len(g) == 0 {
			continue
		}
		c := newCall(opGetMulti)
		c.key, c.keys = g[0], g // c.key picks the connection
		calls = append(calls, c)
	}
	defer func() {
		for _, c := range calls {
			c.release()
		}
	}()
	if err := p.roundTrips(ctx, calls); err != nil {
		return nil, err
	}
	if len(calls) == 1 {
		return calls[0].rep.values, nil
	}
	found := make(map[string][]byte, len(keys))
	for _, c := range calls {
		for k, v := range c.rep.values {
			found[k] = v
		}
	}
	return found, nil
}

// roundTrip queues c on its key's connection, waits for its reply and
// releases c.
func (p *pipeline) roundTrip(ctx context.Context, c *call) (reply, error) {
	one := [1]*call{c}
	if err := p.roundTrips(ctx, one[:]); err != nil {
		c.release()
		return reply{}, err
	}
	rep := c.rep
	c.release()
	return rep, nil
}

// roundTrips queues calls (or does the round trip of a single call at once
// if its connection is idle) and waits for all their replies, within the
// pipeline's timeout for the lot. A caller that gives up (timeout, ctx,
// close) abandons its calls: writers skip them and readers still consume
// their replies, so the connections stay in step.
func (p *pipeline) roundTrips(ctx context.Context, calls []*call) error {
	select {
	case <-p.closing:
		return ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memcached %s: %w", calls[0].op, err)
	}
	deadline := time.Now().Add(p.timeout)
	if len(calls) == 1 && p.conns[p.connFor(calls[0].key)].roundTripDirect(calls[0], deadline) {
		<-calls[0].done // finished: take its token
		return callsErr(calls)
	}
	timer := timers.Get().(*time.Timer)
	timer.Reset(p.timeout)
	defer func() {
		timer.Stop()
		timers.Put(timer)
	}()
	giveUp := func(from int, err error) error {
		for _, c := range calls[from:] {
			c.abandon()
		}
		return err
	}
	for _, c := range calls {
		pc := p.conns[p.connFor(c.key)]
		select {
		case pc.queue <- c:
		case <-p.closing:
			return giveUp(0, ErrClosed)
		case <-ctx.Done():
			return giveUp(0, fmt.Errorf("memcached %s: %w", c.op, ctx.Err()))
		case <-timer.C:
			return giveUp(0, fmt.Errorf("memcached %s: queue full for %v: %w", c.op, p.timeout, os.ErrDeadlineExceeded))
		}
	}
	for i, c := range calls {
		select {
		case <-c.done:
			continue
		case <-p.closing:
			return giveUp(i, ErrClosed)
		case <-ctx.Done():
			return giveUp(i, fmt.Errorf("memcached %s: %w", c.op, ctx.Err()))
		case <-timer.C:
			return giveUp(i, fmt.Errorf("memcached %s: no reply within %v: %w", c.op, p.timeout, os.ErrDeadlineExceeded))
		}
	}
	return callsErr(calls)
}

// timers pools the stopped timers that bound roundTrips. Since Go 1.23 a
// stopped or reset timer delivers no stale tick.
var timers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// callsErr returns the first failure among finished calls.
func callsErr(calls []*call) error {
	for _, c := range calls {
		if c.err != nil {
			return c.err
		}
		if c.rep.err != nil {
			return c.rep.err
		}
	}
	return nil
}
