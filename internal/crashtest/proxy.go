package crashtest

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Proxy forwards TCP connections from its own loopback port to a target
// address, byte for byte (so the peer port's HMAC handshake passes through
// it), and can be cut: Cut closes every connection it carries and refuses
// new ones until Heal. It is safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex // guards cut, conns, closed
	cut   bool
	conns map[net.Conn]struct{} // both ends of every forwarded connection

	wg        sync.WaitGroup // accept loop and the copiers
	closeOnce sync.Once
}

// NewProxy listens on a free loopback port and forwards to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.acceptLoop)
	return p, nil
}

// Addr returns the address to dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every connection through the proxy and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	conns := p.conns
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	for c := range conns {
		abort(c)
	}
}

// Heal lets connections through again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Close stops the proxy, closes its connections and waits for its
// goroutines.
func (p *Proxy) Close() {
	p.closeOnce.Do(func() {
		_ = p.ln.Close()
		p.Cut()
		p.wg.Wait()
	})
}

// abort closes c with a reset, as a cut cable looks to the peer that
// next writes; the other side sees the connection end at once.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

func (p *Proxy) acceptLoop() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.wg.Go(func() { p.forward(c) })
	}
}

// forward dials the target for the accepted connection in and copies
// both ways until either side ends or the proxy is cut.
func (p *Proxy) forward(in net.Conn) {
	p.mu.Lock()
	cut := p.cut
	p.mu.Unlock()
	if cut {
		abort(in)
		return
	}
	out, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		abort(in)
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		abort(in)
		abort(out)
		return
	}
	p.conns[in], p.conns[out] = struct{}{}, struct{}{}
	p.mu.Unlock()

	var once sync.Once
	stop := func() {
		once.Do(func() {
			p.mu.Lock()
			delete(p.conns, in)
			delete(p.conns, out)
			p.mu.Unlock()
			_ = in.Close()
			_ = out.Close()
		})
	}
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(out, in); stop() })
	wg.Go(func() { _, _ = io.Copy(in, out); stop() })
	wg.Wait()
}
