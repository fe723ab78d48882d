package controller

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/localmode"
	"github.com/memcons/memcons/kvcontroller"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ioTimeout bounds every network wait in these tests; generous for a loaded
// machine.
const ioTimeout = 20 * time.Second

// newLocalMode returns the single-peer mode over a fresh memory store.
func newLocalMode(t testing.TB) consistency.Mode {
	t.Helper()
	store := kvcontroller.NewMemStore(kvcontroller.MemStoreOptions{})
	mode := localmode.New(store, localmode.Config{Kind: consistency.Linearizable})
	t.Cleanup(func() {
		_ = mode.Close()
		_ = store.Close()
	})
	return mode
}

// startServer serves mode (a Local mode when nil) on l, or on a free
// loopback port when l is nil, and returns the server and its address. The
// server is closed at cleanup and Serve must have returned nil.
func startServer(t testing.TB, cfg Config, mode consistency.Executor, opts Options, l net.Listener) (*Server, string) {
	t.Helper()
	if mode == nil {
		mode = newLocalMode(t)
	}
	if l == nil {
		var err error
		l, err = net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
	}
	srv, err := New(cfg, mode, opts)
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		require.NoError(t, <-served)
	})
	return srv, l.Addr().String()
}

// dial connects to addr with an overall deadline.
func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	require.NoError(t, err)
	require.NoError(t, c.SetDeadline(time.Now().Add(ioTimeout)))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// sendAll writes each chunk with its own Write from a goroutine, so the
// server may answer (and block on its replies) while the client still
// writes. The returned channel yields the write error once done.
func sendAll(c net.Conn, chunks ...[]byte) <-chan error {
	done := make(chan error, 1)
	go func() {
		for _, b := range chunks {
			if _, err := c.Write(b); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// readUntil reads from c until the output ends with suffix, EOF, or the
// deadline; it returns what was read and whether the peer closed.
func readUntil(c net.Conn, suffix []byte) (out []byte, closed bool, err error) {
	buf := make([]byte, 64<<10)
	for {
		if suffix != nil && bytes.HasSuffix(out, suffix) {
			return out, false, nil
		}
		n, rerr := c.Read(buf)
		out = append(out, buf[:n]...)
		if rerr != nil {
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, net.ErrClosed) || isReset(rerr) {
				return out, true, nil
			}
			return out, false, rerr
		}
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// pipeListener is a net.Listener whose connections are net.Pipe pairs: every
// client Write reaches the server as its own reads, so tests control exactly
// how the input is split.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// Dial returns the client end of a new connection, with the test deadline
// set.
func (l *pipeListener) Dial() (net.Conn, error) {
	client, server := net.Pipe()
	if err := client.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return nil, err
	}
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// fakeMode is a Mode that answers every request with a fixed result or
// error, counts calls, and can hold requests until released.
type fakeMode struct {
	res     consistency.Result
	err     error
	calls   atomic.Int64
	hold    chan struct{} // when non-nil, Do waits for it to be closed
	entered chan struct{} // when non-nil, Do signals here on entry, without waiting
}

func (m *fakeMode) DoBatch(ctx context.Context, reqs []consistency.Request, outs []consistency.Outcome) {
	consistency.DoEach(ctx, m.Do, reqs, outs)
}

func (m *fakeMode) Do(ctx context.Context, _ *consistency.Request) (consistency.Result, error) {
	m.calls.Add(1)
	if m.entered != nil {
		select {
		case m.entered <- struct{}{}:
		default: // the test has not taken the previous signal yet
		}
	}
	if m.hold != nil {
		select {
		case <-m.hold:
		case <-ctx.Done():
			return consistency.Result{}, ctx.Err()
		}
	}
	return m.res, m.err
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
