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
	l      net.Listener
	script Script
	conns  atomic.Int32
	mu     sync.Mutex
	open   []net.Conn
	wg     sync.WaitGroup
}

// StartScripted starts a Scripted server on a free loopback port; it stops,
// closing every connection, at test cleanup.
func StartScripted(t testing.TB, script Script) *Scripted {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("scripted server: %v", err)
	}
	s := &Scripted{l: l, script: script}
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
			s.wg.Go(func() { s.serve(c) })
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

func (s *Scripted) serve(c net.Conn) {
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

// Addr returns the server's host:port.
func (s *Scripted) Addr() string { return s.l.Addr().String() }

// Conns returns the number of connections accepted so far.
func (s *Scripted) Conns() int { return int(s.conns.Load()) }
