package memcachedtest

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Silent is a server that accepts connections, counts the request lines it
// receives and never answers: a memcached that hangs.
type Silent struct {
	l     net.Listener
	lines atomic.Int64
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// StartSilent starts a Silent server on a free loopback port; it stops,
// closing every connection, at test cleanup.
func StartSilent(t testing.TB) *Silent {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("silent server: %v", err)
	}
	s := &Silent{l: l}
	s.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Go(func() {
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					s.lines.Add(1)
				}
			})
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// Addr returns the server's host:port.
func (s *Silent) Addr() string { return s.l.Addr().String() }

// Lines returns the number of lines received so far, over every
// connection.
func (s *Silent) Lines() int64 { return s.lines.Load() }

// PausingProxy forwards TCP connections to an upstream address; Pause
// holds back the replies (upstream to client) until Resume.
type PausingProxy struct {
	l        net.Listener
	upstream string
	accepted atomic.Int32
	closed   atomic.Int32 // client connections that ended

	mu      sync.Mutex
	resumed chan struct{} // nil when not paused; closed by Resume
	conns   []net.Conn

	stop chan struct{}
	wg   sync.WaitGroup
}

// StartPausingProxy starts a proxy to upstream on a free loopback port; it
// stops at test cleanup.
func StartPausingProxy(t testing.TB, upstream string) *PausingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pausing proxy: %v", err)
	}
	p := &PausingProxy{l: l, upstream: upstream, stop: make(chan struct{})}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		close(p.stop)
		_ = l.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// Addr returns the proxy's host:port.
func (p *PausingProxy) Addr() string { return p.l.Addr().String() }

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

func (p *PausingProxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.upstream)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.accepted.Add(1)
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		p.wg.Go(func() {
			_, _ = io.Copy(u, c)
			_ = u.Close()
			p.closed.Add(1)
		})
		p.wg.Go(func() {
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
		})
	}
}

// Scripted is a server that answers each line it receives with what its
// script returns for it; "" sends nothing (as for the command line of a
// set, whose data line follows).
type Scripted struct {
	l     net.Listener
	conns atomic.Int32
	mu    sync.Mutex
	open  []net.Conn
	wg    sync.WaitGroup
}

// StartScripted starts a Scripted server on a free loopback port; script is
// called with each line, "\r\n" removed, from any connection's goroutine.
// It stops at test cleanup.
func StartScripted(t testing.TB, script func(line string) string) *Scripted {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("scripted server: %v", err)
	}
	s := &Scripted{l: l}
	s.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
			s.wg.Go(func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if out := script(strings.TrimRight(line, "\r\n")); out != "" {
						if _, err := io.WriteString(c, out); err != nil {
							return
						}
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		s.mu.Lock()
		for _, c := range s.open {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// Addr returns the server's host:port.
func (s *Scripted) Addr() string { return s.l.Addr().String() }

// Conns returns the number of connections accepted so far.
func (s *Scripted) Conns() int { return int(s.conns.Load()) }
