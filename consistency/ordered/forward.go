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

	"github.com/memcons/memcons/peer"
)

// maxForwardFrame bounds one forwarded frame: a command with the largest
// value and key list fits with room to spare.
const maxForwardFrame = 64 << 20

// Forwarded request kinds.
const (
	fwdPropose   byte = 1 // append a command to the log
	fwdReadIndex byte = 2 // return a confirmed commit index
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

	mu      sync.Mutex // guards next, pending, err
	next    uint64
	pending map[uint64]chan fwdAnswer
	err     error // set once the connection failed
}

// call sends one request and waits for its answer.
func (c *fwdConn) call(ctx context.Context, kind byte, data []byte) (fwdAnswer, error) {
	ch := make(chan fwdAnswer, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return fwdAnswer{}, fmt.Errorf("%w: %w", errNotSent, c.err)
	}
	c.next++
	id := c.next
	c.pending[id] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, id)
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
		return fwdAnswer{}, fmt.Errorf("forward to %s: %w", c.leader, ctx.Err())
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
		c.mu.Unlock()
		if ch != nil {
			ch <- a
		}
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

func (c *fwdConn) failed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

// forwarder keeps one connection to each leader this peer forwarded to.
type forwarder struct {
	trans Transport
	wg    sync.WaitGroup // read loops

	mu     sync.Mutex // guards conns, closed
	conns  map[string]*fwdConn
	closed bool
}

// conn returns a working connection to leader, dialling if needed.
func (f *forwarder) conn(ctx context.Context, leader string) (*fwdConn, error) {
	f.mu.Lock()
	if c := f.conns[leader]; c != nil && !c.failed() {
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
	if old := f.conns[leader]; old != nil && !old.failed() {
		_ = nc.Close()
		return old, nil
	}
	f.conns[leader] = c
	f.wg.Go(c.readLoop)
	return c, nil
}

// call forwards one request to leader.
func (f *forwarder) call(ctx context.Context, leader string, kind byte, data []byte) (fwdAnswer, error) {
	c, err := f.conn(ctx, leader)
	if err != nil {
		return fwdAnswer{}, err
	}
	return c.call(ctx, kind, data)
}

// close closes every connection and waits for the read loops.
func (f *forwarder) close() {
	f.mu.Lock()
	f.closed = true
	for _, c := range f.conns {
		_ = c.conn.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
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
