package memcachedtest

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeServer is what the fakes share: a listener on a free loopback port,
// the connections they opened and the goroutines serving them. At test
// cleanup it closes the listener and every connection, then waits for the
// goroutines.
type fakeServer struct {
	l    net.Listener
	mu   sync.Mutex
	open []net.Conn
	wg   sync.WaitGroup
}

// listenFake listens on a free loopback port; what names the fake in a
// failure. Nothing is accepted until serve.
func listenFake(t testing.TB, what string) *fakeServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	f := &fakeServer{l: l}
	t.Cleanup(func() {
		_ = l.Close()
		f.mu.Lock()
		for _, c := range f.open {
			_ = c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

// serve calls handle on a goroutine of its own for each connection
// accepted.
func (f *fakeServer) serve(handle func(net.Conn)) {
	f.wg.Go(func() {
		for {
			c, err := f.l.Accept()
			if err != nil {
				return
			}
			f.track(c)
			f.wg.Go(func() { handle(c) })
		}
	})
}

// track adds c to the connections closed at cleanup.
func (f *fakeServer) track(c net.Conn) {
	f.mu.Lock()
	f.open = append(f.open, c)
	f.mu.Unlock()
}

// Addr returns the server's host:port.
func (f *fakeServer) Addr() string { return f.l.Addr().String() }

// Silent is a server that accepts connections, counts the request lines it
// receives and never answers: a memcached that hangs.
type Silent struct {
	*fakeServer
	lines atomic.Int64
}

// StartSilent starts a Silent server on a free loopback port; it stops,
// closing every connection, at test cleanup.
func StartSilent(t testing.TB) *Silent {
	t.Helper()
	s := &Silent{fakeServer: listenFake(t, "silent server")}
	s.serve(func(c net.Conn) {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			s.lines.Add(1)
		}
	})
	return s
}

// Lines returns the number of lines received so far, over every
// connection.
func (s *Silent) Lines() int64 { return s.lines.Load() }

// PausingProxy forwards TCP connections to an upstream address; Pause
// holds back the replies (upstream to client) until Resume.
type PausingProxy struct {
	*fakeServer
	upstream string
	accepted atomic.Int32
	closed   atomic.Int32 // client connections that ended

	mu      sync.Mutex
	resumed chan struct{} // nil when not paused; closed by Resume

	stop chan struct{}
}

// StartPausingProxy starts a proxy to upstream on a free loopback port; it
// stops at test cleanup.
func StartPausingProxy(t testing.TB, upstream string) *PausingProxy {
	t.Helper()
	p := &PausingProxy{fakeServer: listenFake(t, "pausing proxy"), upstream: upstream, stop: make(chan struct{})}
	// Registered after listenFake's cleanup, so it runs first: replies held
	// back give up before the connections close.
	t.Cleanup(func() { close(p.stop) })
	p.serve(p.forward)
	return p
}

// Accepted returns the number of client connections forwarded so far.
func (p *PausingProxy) Accepted() int { return int(p.accepted.Load()) }

// Closed returns the number of client connections that the client closed.
func (p *PausingProxy) Closed() int { return int(p.closed.Load()) }

// Pause holds back every reply from now until Resume.
func (p *PausingProxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resumed == nil {
		p.resumed = make(chan struct{})
	}
}

// Resume lets the replies held back since Pause through.
func (p *PausingProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resumed != nil {
		close(p.resumed)
		p.resumed = nil
	}
}

// forward connects the client connection c to upstream: requests flow
// freely, replies wait while the proxy is paused.
func (p *PausingProxy) forward(c net.Conn) {
	u, err := net.Dial("tcp", p.upstream)
	if err != nil {
		_ = c.Close()
		return
	}
	p.accepted.Add(1)
	p.track(u)
	p.wg.Go(func() {
		_, _ = io.Copy(u, c)
		_ = u.Close()
		p.closed.Add(1)
	})
	buf := make([]byte, 32<<10)
	for {
		n, err := u.Read(buf)
		if n > 0 {
			p.mu.Lock()
			wait := p.resumed
			p.mu.Unlock()
			if wait != nil {
				select {
				case <-wait:
				case <-p.stop:
					return
				}
			}
			if _, err := c.Write(buf[:n]); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = c.Close()
}

// Script is what a Scripted server answers.
type Script struct {
	// Reply returns the answer to one request: its command line, "\r\n"
	// removed, and for a storage command (set, add, replace, append,
	// prepend, cas) with a valid byte count the data block, read by that
	// count, without its "\r\n". "" sends nothing. It is called from any
	// connection's goroutine.
	Reply func(line, data string) string
	// CloseAfter, when positive, closes a connection once it has answered
	// that many requests; when negative, closes each connection as soon as
	// it is accepted. Zero never closes one.
	CloseAfter int
}

// Scripted is a server that answers each request it reads with what its
// script returns for it.
type Scripted struct {
	*fakeServer
	script Script
	conns  atomic.Int32
}

// StartScripted starts a Scripted server on a free loopback port; it stops,
// closing every connection, at test cleanup.
func StartScripted(t testing.TB, script Script) *Scripted {
	t.Helper()
	s := &Scripted{fakeServer: listenFake(t, "scripted server"), script: script}
	s.serve(func(c net.Conn) {
		s.conns.Add(1)
		s.answer(c)
	})
	return s
}

// answer serves one connection by the script.
func (s *Scripted) answer(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for n := 0; s.script.CloseAfter == 0 || n < s.script.CloseAfter; n++ {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		var data string
		if size, ok := dataSize(line); ok {
			block := make([]byte, size+2)
			if _, err := io.ReadFull(r, block); err != nil {
				return
			}
			data = string(block[:size])
		}
		if out := s.script.Reply(line, data); out != "" {
			if _, err := io.WriteString(c, out); err != nil {
				return
			}
		}
	}
}

// dataSize returns the byte count of a storage command's data block.
func dataSize(line string) (int, bool) {
	f := strings.Fields(line)
	if len(f) < 5 {
		return 0, false
	}
	switch f[0] {
	case "set", "add", "replace", "append", "prepend", "cas":
		n, err := strconv.Atoi(f[4])
		return n, err == nil && n >= 0
	}
	return 0, false
}

// Conns returns the number of connections accepted so far.
func (s *Scripted) Conns() int { return int(s.conns.Load()) }
