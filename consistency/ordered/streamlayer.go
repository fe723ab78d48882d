package ordered

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/memcons/memcons/peer"
)

// nameAddr is a net.Addr that is a peer's name: raft addresses peers by
// name and the peer port resolves names.
type nameAddr string

func (a nameAddr) Network() string { return "memcons-peer" }
func (a nameAddr) String() string  { return string(a) }

// streamLayer carries raft's RPCs over the peer port's raft channel.
// Accepted connections stay owned by the peer transport's handler
// goroutine, which blocks until raft closes them or the layer closes.
type streamLayer struct {
	self   string
	trans  peer.Channels
	accept chan net.Conn
	done   chan struct{}
	once   sync.Once
	conns  peer.ConnSet // accepted connections still open
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func newStreamLayer(self string, trans peer.Channels) *streamLayer {
	return &streamLayer{
		self: self, trans: trans,
		accept: make(chan net.Conn),
		done:   make(chan struct{}),
	}
}

// handle is the peer transport's handler for the raft channel.
func (l *streamLayer) handle(conn net.Conn, _ string) {
	lc := &layerConn{Conn: conn, closed: make(chan struct{})}
	if !l.conns.Add(lc) {
		return
	}
	defer l.conns.Remove(lc)
	select {
	case l.accept <- lc:
	case <-l.done:
		return
	}
	select {
	case <-lc.closed:
	case <-l.done:
		_ = lc.Close()
	}
}

// Accept returns the next raft connection from another peer.
func (l *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and closes the accepted connections still open.
func (l *streamLayer) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.conns.CloseAll()
	})
	return nil
}

// Addr returns this peer's name.
func (l *streamLayer) Addr() net.Addr { return nameAddr(l.self) }

// Dial opens a raft connection to the peer named address.
func (l *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return l.trans.Dial(ctx, string(address), peer.ChannelRaft)
}

// layerConn tells the handler goroutine when raft has closed the conn.
type layerConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *layerConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}
