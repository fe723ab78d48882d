// Package testcluster runs in-process memcons peers on loopback for tests,
// joined by links that a test can cut, delay or make drop traffic.
package testcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// ErrLinkCut reports a dial over a link the test has cut.
var ErrLinkCut = errors.New("link cut")

// link names an unordered pair of peers.
type link [2]string

func linkOf(a, b string) link {
	if a > b {
		a, b = b, a
	}
	return link{a, b}
}

// linkState is what a test has done to one link.
type linkState struct {
	cut   bool
	drop  bool
	delay time.Duration
}

// Network holds the links between peers. Faults apply to both directions of
// every connection between the two peers, whoever dialed it.
type Network struct {
	mu     sync.Mutex // guards all fields below
	byAddr map[string]string
	links  map[link]linkState
	conns  map[link]map[*faultConn]struct{}
}

// NewNetwork returns a Network where every link works.
func NewNetwork() *Network {
	return &Network{
		byAddr: map[string]string{},
		links:  map[link]linkState{},
		conns:  map[link]map[*faultConn]struct{}{},
	}
}

// Register names the peer listening on the peer address addr.
func (n *Network) Register(name, addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.byAddr[addr] = name
}

// Dialer returns the dial function for peer from.
func (n *Network) Dialer(from string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.mu.Lock()
		to, known := n.byAddr[addr]
		l := linkOf(from, to)
		st := n.links[l]
		n.mu.Unlock()
		if known && st.cut {
			return nil, fmt.Errorf("dial %s -> %s: %w", from, to, ErrLinkCut)
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil || !known {
			return c, err
		}
		fc := &faultConn{Conn: c, net: n, link: l}
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.links[l].cut {
			_ = c.Close()
			return nil, fmt.Errorf("dial %s -> %s: %w", from, to, ErrLinkCut)
		}
		if n.conns[l] == nil {
			n.conns[l] = map[*faultConn]struct{}{}
		}
		n.conns[l][fc] = struct{}{}
		return fc, nil
	}
}

func (n *Network) update(a, b string, f func(*linkState)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := linkOf(a, b)
	st := n.links[l]
	f(&st)
	n.links[l] = st
	if st.cut {
		for c := range n.conns[l] {
			_ = c.Conn.Close()
		}
	}
}

// Cut breaks the link between a and b: open connections close, new dials fail.
func (n *Network) Cut(a, b string) { n.update(a, b, func(s *linkState) { s.cut = true }) }

// Drop makes the link between a and b silently lose every byte while its
// connections stay open, as a paused peer looks to the others.
func (n *Network) Drop(a, b string, on bool) { n.update(a, b, func(s *linkState) { s.drop = on }) }

// Delay holds every write over the link between a and b for d.
func (n *Network) Delay(a, b string, d time.Duration) {
	n.update(a, b, func(s *linkState) { s.delay = d })
}

// Heal restores the link between a and b.
func (n *Network) Heal(a, b string) { n.update(a, b, func(s *linkState) { *s = linkState{} }) }

func (n *Network) state(l link) linkState {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.links[l]
}

func (n *Network) forget(fc *faultConn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.conns[fc.link], fc)
}

// faultConn is a connection between two peers that obeys its link's state.
type faultConn struct {
	net.Conn
	net  *Network
	link link
}

func (c *faultConn) Write(p []byte) (int, error) {
	st := c.net.state(c.link)
	if st.delay > 0 {
		time.Sleep(st.delay)
	}
	if st.drop {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *faultConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if n > 0 && c.net.state(c.link).drop {
			if err != nil {
				return 0, err
			}
			continue
		}
		return n, err
	}
}

func (c *faultConn) Close() error {
	c.net.forget(c)
	return c.Conn.Close()
}
