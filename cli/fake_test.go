package cli

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeServer answers each request line with reply(line). When closeAfter
// is positive it closes a connection after that many replies; when it is
// negative it closes every connection at once.
type fakeServer struct {
	ln         net.Listener
	reply      func(line string) string
	closeAfter int
	accepted   atomic.Int32

	wg    sync.WaitGroup
	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
}

// startFake listens on a free loopback port; the server stops at cleanup.
func startFake(t *testing.T, closeAfter int, reply func(line string) string) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	f := &fakeServer{ln: ln, reply: reply, closeAfter: closeAfter, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.stop)
	return f
}

func (f *fakeServer) addr() string { return f.ln.Addr().String() }

func (f *fakeServer) accept() {
	defer f.wg.Done()
	for {
		conn, err := f.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		f.accepted.Add(1)
		f.mu.Lock()
		f.conns[conn] = struct{}{}
		f.mu.Unlock()
		f.wg.Add(1)
		go f.serve(conn)
	}
}

func (f *fakeServer) serve(conn net.Conn) {
	defer f.wg.Done()
	defer func() {
		f.mu.Lock()
		delete(f.conns, conn)
		f.mu.Unlock()
		_ = conn.Close()
	}()
	r := bufio.NewReader(conn)
	for served := 0; f.closeAfter == 0 || served < f.closeAfter; served++ {
		line, err := readLine(r)
		if err != nil {
			return
		}
		if _, err := conn.Write([]byte(f.reply(line))); err != nil {
			return
		}
	}
}

func (f *fakeServer) stop() {
	_ = f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}
