package ordered

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/memcons/memcons/peer"
)

// maxForwardFrame bounds one forwarded frame: a command with the largest
// value and key list fits with room to spare.
const maxForwardFrame = 64 << 20

// Forwarded request kinds.
const (
	fwdPropose   byte = 1 // append a command to the log
	fwdReadIndex byte = 2 // return a confirmed commit index
	fwdConfirm   byte = 3 // leader to follower: do you follow this term?
)

// Forwarded answer statuses.
const (
	fwdOK        byte = 0
	fwdNotLeader byte = 1 // nothing was done: ask the current leader
	fwdFailed    byte = 2 // the outcome is unknown
)

// errNotLeader reports that the asked peer does not lead; nothing was done,
// so the request may be sent again.
var errNotLeader = errors.New("not the leader")

// errNotSent reports that a forwarded request never left this peer, so it
// may be sent again.
var errNotSent = errors.New("not sent")

// errAbandoned reports a forwarded request that was sent but whose answer
// this peer stopped waiting for: raft reports another leader, or a read
// index took longer than its attempt limit. A read index may be asked
// again; a propose's outcome is unknown.
var errAbandoned = errors.New("abandoned")

// fwdAnswer is the leader's answer to one forwarded request.
type fwdAnswer struct {
	status byte
	index  uint64
	msg    string
}

func writeFrame(w io.Writer, payload []byte) error {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(payload)))
	if _, err := w.Write(append(hdr[:], payload...)); err != nil {
		return err
	}
	return nil
}

func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxForwardFrame || n < 9 {
		return nil, fmt.Errorf("forward frame of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, unexpected(err)
	}
	return b, nil
}

// fwdConn is one multiplexed connection to the leader: requests carry ids,
// a reader goroutine pairs answers with waiting callers.
type fwdConn struct {
	leader string
	conn   net.Conn

	wmu sync.Mutex // serialises frame writes

	mu      sync.Mutex // guards next, pending, err, retired
	next    uint64
	pending map[uint64]chan fwdAnswer
	err     error // set once the connection failed
	// retired is set once a call on the connection was abandoned: it may
	// be dead without having failed (a silent partition), so no new call
	// uses it, and it closes once the calls still waiting on it are done.
	retired bool
}

// call sends one request and waits for its answer.
func (c *fwdConn) call(ctx context.Context, kind byte, data []byte) (fwdAnswer, error) {
	ch := make(chan fwdAnswer, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return fwdAnswer{}, fmt.Errorf("%w: %w", errNotSent, c.err)
	}
	if c.retired {
		c.mu.Unlock()
		return fwdAnswer{}, fmt.Errorf("%w: connection to %s retired", errNotSent, c.leader)
	}
	if ctx.Err() != nil {
		c.mu.Unlock()
		return fwdAnswer{}, fmt.Errorf("%w: forward to %s: %w", errNotSent, c.leader, context.Cause(ctx))
	}
	c.next++
	id := c.next
	c.pending[id] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.closeIfDrainedLocked()
		c.mu.Unlock()
	}

	payload := make([]byte, 9, 9+len(data))
	binary.BigEndian.PutUint64(payload, id)
	payload[8] = kind
	payload = append(payload, data...)
	c.wmu.Lock()
	err := writeFrame(c.conn, payload)
	c.wmu.Unlock()
	if err != nil {
		forget()
		_ = c.conn.Close()
		return fwdAnswer{}, fmt.Errorf("forward to %s: %w", c.leader, err)
	}
	select {
	case a, ok := <-ch:
		if !ok {
			c.mu.Lock()
			err := c.err
			c.mu.Unlock()
			return fwdAnswer{}, fmt.Errorf("forward to %s: %w", c.leader, err)
		}
		return a, nil
	case <-ctx.Done():
		forget()
		return fwdAnswer{}, fmt.Errorf("forward to %s: %w", c.leader, context.Cause(ctx))
	}
}

// retire takes the connection out of use: it closes as soon as no call
// waits on it any more.
func (c *fwdConn) retire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.retired = true
	c.closeIfDrainedLocked()
}

// closeIfDrainedLocked closes a retired connection that no call waits on;
// c.mu is held.
func (c *fwdConn) closeIfDrainedLocked() {
	if c.retired && len(c.pending) == 0 {
		_ = c.conn.Close()
	}
}

// readLoop delivers answers until the connection fails, then fails every
// waiting call.
func (c *fwdConn) readLoop() {
	r := bufio.NewReader(c.conn)
	var err error
	for {
		var b []byte
		if b, err = readFrame(r); err != nil {
			break
		}
		id := binary.BigEndian.Uint64(b)
		a := fwdAnswer{status: b[8]}
		if len(b) >= 17 {
			a.index = binary.BigEndian.Uint64(b[9:])
			a.msg = string(b[17:])
		}
		c.mu.Lock()
		ch := c.pending[id]
		delete(c.pending, id)
		if ch != nil {
			ch <- a // buffered: never blocks
		}
		c.closeIfDrainedLocked()
		c.mu.Unlock()
	}
	_ = c.conn.Close()
	c.mu.Lock()
	c.err = fmt.Errorf("connection lost: %w", err)
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	c.mu.Unlock()
}

// usable reports whether a new call may use the connection.
func (c *fwdConn) usable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err == nil && !c.retired
}

// forwarder keeps one connection to each leader this peer forwarded to.
type forwarder struct {
	trans peer.Channels
	wg    sync.WaitGroup // read loops and the leader watch

	mu     sync.Mutex // guards conns, closed, watch
	conns  map[string]*fwdConn
	closed bool
	watch  *leaderWatch // started by the first call
}

// conn returns a working connection to leader, dialling if needed.
func (f *forwarder) conn(ctx context.Context, leader string) (*fwdConn, error) {
	f.mu.Lock()
	if c := f.conns[leader]; c != nil && c.usable() {
		f.mu.Unlock()
		return c, nil
	}
	f.mu.Unlock()
	nc, err := f.trans.Dial(ctx, leader, peer.ChannelForward)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNotSent, err)
	}
	c := &fwdConn{leader: leader, conn: nc, pending: map[uint64]chan fwdAnswer{}}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		_ = nc.Close()
		return nil, fmt.Errorf("%w: mode closed", errNotSent)
	}
	if old := f.conns[leader]; old != nil && old.usable() {
		_ = nc.Close()
		return old, nil
	}
	f.conns[leader] = c
	f.wg.Go(c.readLoop)
	return c, nil
}

// Causes of an abandoned forward, set on the call's context.
var (
	errLeaderMoved = errors.New("raft reports another leader")
	errAttemptOver = errors.New("no answer within the attempt limit")
)

// call forwards one request to leader, the leader src knows, and waits for
// the answer. A peer that stopped leading may never answer (cut off by a
// partition that drops its packets), so the call gives up with
// errAbandoned once src reports that leader replaced: a read index as
// soon as src's leader is any other or none (it can always be asked
// again), a propose once src knows another leader (its outcome is unknown
// either way; waiting keeps the answer of a leader that is only slow). A
// limit above zero bounds the call. Giving up during the dial is
// errNotSent.
func (f *forwarder) call(ctx context.Context, src leaderSource, leader string, kind byte, data []byte, limit time.Duration) (fwdAnswer, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if limit > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, limit, fmt.Errorf("%w %v", errAttemptOver, limit))
		defer stop()
	}
	if w := f.leaders(src); w != nil {
		unwatch := w.watch(func(now string) {
			if now != leader && (now != "" || kind == fwdReadIndex) {
				cancel(fmt.Errorf("%w %q", errLeaderMoved, now))
			}
		})
		defer unwatch()
	}
	c, err := f.conn(ctx, leader)
	if err != nil {
		return fwdAnswer{}, err
	}
	a, err := c.call(ctx, kind, data)
	if cause := context.Cause(ctx); err != nil && (errors.Is(cause, errLeaderMoved) || errors.Is(cause, errAttemptOver)) {
		// The connection may be dead without having failed: the next
		// call to this peer dials a fresh one.
		c.retire()
		return fwdAnswer{}, fmt.Errorf("%w: %w", errAbandoned, err)
	}
	return a, err
}

// leaders returns the watch on src's leader, starting it on first use; nil
// once the forwarder is closed.
func (f *forwarder) leaders(src leaderSource) *leaderWatch {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	if f.watch == nil {
		f.watch = startLeaderWatch(src, &f.wg)
	}
	return f.watch
}

// close closes every connection and waits for the read loops.
func (f *forwarder) close() {
	f.mu.Lock()
	f.closed = true
	for _, c := range f.conns {
		_ = c.conn.Close()
	}
	if f.watch != nil {
		f.watch.stop()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// leaderSource is what the leader watch needs of raft; *raft.Raft
// implements it.
type leaderSource interface {
	LeaderWithID() (raft.ServerAddress, raft.ServerID)
	RegisterObserver(*raft.Observer)
	DeregisterObserver(*raft.Observer)
}

// leaderWatch calls its watchers with raft's known leader whenever that
// changes. One raft observer feeds it; a dropped observation loses
// nothing, since every wake-up reads the leader afresh.
type leaderWatch struct {
	src  leaderSource
	obs  *raft.Observer
	wake chan raft.Observation
	done chan struct{}

	mu       sync.Mutex // guards watchers, nextID
	watchers map[uint64]func(leader string)
	nextID   uint64
}

func startLeaderWatch(src leaderSource, wg *sync.WaitGroup) *leaderWatch {
	w := &leaderWatch{
		src:      src,
		wake:     make(chan raft.Observation, 1),
		done:     make(chan struct{}),
		watchers: map[uint64]func(string){},
	}
	w.obs = raft.NewObserver(w.wake, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	src.RegisterObserver(w.obs)
	wg.Go(w.loop)
	return w
}

func (w *leaderWatch) loop() {
	for {
		select {
		case <-w.done:
			return
		case <-w.wake:
		}
		w.notify()
	}
}

// notify calls every watcher with the current leader.
func (w *leaderWatch) notify() {
	now := w.leader()
	w.mu.Lock()
	fns := make([]func(string), 0, len(w.watchers))
	for _, fn := range w.watchers {
		fns = append(fns, fn)
	}
	w.mu.Unlock()
	for _, fn := range fns {
		fn(now)
	}
}

func (w *leaderWatch) leader() string {
	_, id := w.src.LeaderWithID()
	return string(id)
}

// watch calls fn with the current leader now and after every change until
// the returned function is called. fn must not block.
func (w *leaderWatch) watch(fn func(leader string)) (unwatch func()) {
	w.mu.Lock()
	w.nextID++
	id := w.nextID
	w.watchers[id] = fn
	w.mu.Unlock()
	// Registered first, then read: a change after the read reaches fn.
	fn(w.leader())
	return func() {
		w.mu.Lock()
		delete(w.watchers, id)
		w.mu.Unlock()
	}
}

// stop ends the watch; the owner then waits on its WaitGroup.
func (w *leaderWatch) stop() {
	w.src.DeregisterObserver(w.obs)
	close(w.done)
}

// serveForward answers forwarded requests from one follower connection;
// answer runs each request on its own goroutine. It returns after the
// connection failed and every request on it was answered.
func serveForward(conn net.Conn, answer func(kind byte, data []byte) fwdAnswer) {
	var wg sync.WaitGroup
	defer wg.Wait()
	var wmu sync.Mutex
	r := bufio.NewReader(conn)
	for {
		b, err := readFrame(r)
		if err != nil {
			_ = conn.Close()
			return
		}
		wg.Go(func() {
			a := answer(b[8], b[9:])
			out := make([]byte, 17, 17+len(a.msg))
			copy(out, b[:8])
			out[8] = a.status
			binary.BigEndian.PutUint64(out[9:], a.index)
			out = append(out, a.msg...)
			wmu.Lock()
			err := writeFrame(conn, out)
			wmu.Unlock()
			if err != nil {
				_ = conn.Close()
			}
		})
	}
}
