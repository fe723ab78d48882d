package testcluster

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/memcachedtest"
	"github.com/memcons/memcons/internal/server"
)

// Options shape a test cluster; zero values mean the defaults noted.
type Options struct {
	Peers             int                  // 3
	Mode              consistency.Kind     // eventual
	Store             server.StoreKind     // memory; memcached starts one real memcached per peer
	HeartbeatInterval time.Duration        // 50ms
	HeartbeatTimeout  time.Duration        // 1s
	Secret            string               // "test-secret"
	Configure         func(*server.Config) // last word on every peer's config
}

func (o *Options) defaults() {
	if o.Peers == 0 {
		o.Peers = 3
	}
	if o.Mode == "" {
		o.Mode = consistency.Eventual
	}
	if o.Store == "" {
		o.Store = server.StoreMemory
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = 50 * time.Millisecond
	}
	if o.HeartbeatTimeout == 0 {
		o.HeartbeatTimeout = time.Second
	}
	if o.Secret == "" {
		o.Secret = "test-secret"
	}
}

// Cluster is a set of in-process peers on loopback.
type Cluster struct {
	t    testing.TB
	opts Options
	// Net holds the links between the peers.
	Net *Network

	mu        sync.Mutex // guards servers
	servers   []*server.Server
	logs      []*peerLog
	cfgs      []server.Config
	listeners [][2]net.Listener // bound ports for each peer's next start
}

// Start runs a cluster for the rest of the test and stops it at cleanup.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	opts.defaults()
	c := &Cluster{t: t, opts: opts, Net: NewNetwork()}
	peers := make([]server.PeerAddrs, opts.Peers)
	for i := range peers {
		// Bind both ports now and hand the listeners to the first start, so
		// no other test's process can take them in between.
		client, peerLn := listen(t, "127.0.0.1:0"), listen(t, "127.0.0.1:0")
		c.listeners = append(c.listeners, [2]net.Listener{client, peerLn})
		peers[i] = server.PeerAddrs{
			Name:       fmt.Sprintf("peer%d", i+1),
			ClientAddr: client.Addr().String(),
			PeerAddr:   peerLn.Addr().String(),
		}
		if opts.Store == server.StoreMemcached {
			peers[i].ReplicaAddr = memcachedtest.Start(t, "-I", "2m")
		}
		c.Net.Register(peers[i].Name, peers[i].PeerAddr)
	}
	for i := range peers {
		cfg := server.Config{
			ClusterName:       "test",
			Mode:              opts.Mode,
			Secret:            opts.Secret,
			HeartbeatInterval: opts.HeartbeatInterval,
			HeartbeatTimeout:  opts.HeartbeatTimeout,
			DataDir:           t.TempDir(),
			ItemSizeMax:       1 << 20,
			MaxConns:          1024,
			MaxLineLength:     8192,
			Store:             opts.Store,
			MemoryLimitBytes:  64 << 20,
			StoreTimeout:      2 * time.Second,
			Self:              peers[i].Name,
			Peers:             peers,
			PeerDial:          c.Net.Dialer(peers[i].Name),
		}
		if opts.Configure != nil {
			opts.Configure(&cfg)
		}
		c.cfgs = append(c.cfgs, cfg)
		c.servers = append(c.servers, nil)
		c.logs = append(c.logs, &peerLog{name: cfg.Self, t: t})
	}
	t.Cleanup(c.stopAll)
	for i := range peers {
		c.Restart(i)
	}
	return c
}

// Config returns peer i's config (a copy).
func (c *Cluster) Config(i int) server.Config { return c.cfgs[i] }

// Name returns peer i's name.
func (c *Cluster) Name(i int) string { return c.cfgs[i].Self }

// ClientAddr returns the address clients use for peer i.
func (c *Cluster) ClientAddr(i int) string { return c.cfgs[i].Peers[i].ClientAddr }

// Server returns peer i, or nil while it is stopped.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.servers[i]
}

// Log returns everything peer i has logged so far, over all its restarts;
// each line also went to the test's log as it was written.
func (c *Cluster) Log(i int) string { return c.logs[i].String() }

// Kill stops peer i. Its replica (memcached or memory) goes with it for the
// memory store and stays for memcached.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	c.mu.Lock()
	s := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if s != nil {
		if err := s.Close(); err != nil {
			c.t.Errorf("stop %s: %v", c.Name(i), err)
		}
	}
}

// Restart starts peer i again with its config (it must be stopped).
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	cfg := c.cfgs[i]
	cfg.Logger = slog.New(slog.NewTextHandler(c.logs[i], &slog.HandlerOptions{Level: slog.LevelDebug}))
	ls := c.listeners[i]
	if ls[0] == nil {
		// A restart: the peer's ports were just released by Kill; take
		// them again, retrying while the kernel still holds them.
		ls = [2]net.Listener{relisten(c.t, cfg.Peers[i].ClientAddr), relisten(c.t, cfg.Peers[i].PeerAddr)}
	}
	c.listeners[i] = [2]net.Listener{}
	cfg.ClientListener, cfg.PeerListener = ls[0], ls[1]
	s, err := server.New(cfg)
	if err != nil {
		_ = ls[0].Close()
		_ = ls[1].Close()
		c.t.Fatalf("new %s: %v", cfg.Self, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		c.t.Fatalf("start %s: %v", cfg.Self, err)
	}
	c.mu.Lock()
	c.servers[i] = s
	c.mu.Unlock()
}

func (c *Cluster) stopAll() {
	for i := range c.cfgs {
		c.Kill(i)
	}
	for _, l := range c.logs {
		l.detach()
	}
}

// WaitState waits until peer observer sees peer target up (or down), for at
// most limit.
func (c *Cluster) WaitState(observer, target int, up bool, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if s := c.Server(observer); s != nil {
			for _, m := range s.Members() {
				if m.Name == c.Name(target) && m.Up == up {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not see %s up=%v within %v", c.Name(observer), c.Name(target), up, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitAllUp waits until every running peer sees every other running peer up.
func (c *Cluster) WaitAllUp(limit time.Duration) error {
	for i := range c.cfgs {
		for j := range c.cfgs {
			if i == j || c.Server(i) == nil || c.Server(j) == nil {
				continue
			}
			if err := c.WaitState(i, j, true, limit); err != nil {
				return err
			}
		}
	}
	return nil
}

func listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = l.Close() }) // a no-op once a server owns and closed it
	return l
}

// relisten binds addr again, for as long as 10 seconds.
func relisten(t testing.TB, addr string) net.Listener {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			t.Cleanup(func() { _ = l.Close() })
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen %s again: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// peerLog keeps everything one peer logs, over all its restarts, and
// passes each line on to the test's log (shown with -v or when the test
// fails), prefixed with the peer's name. It is safe for concurrent
// writers.
type peerLog struct {
	name string

	mu  sync.Mutex // guards buf and t
	buf bytes.Buffer
	t   testing.TB // nil once the cluster stopped: t.Log after the test ends panics
}

// Write keeps p and logs it; slog writes one record per call. A line
// that starts a phrase with a package name of the project fails the test:
// log lines say what happened, not which package said it.
func (l *peerLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if l.t != nil {
		line := strings.TrimSuffix(string(p), "\n")
		l.t.Log(l.name + ": " + line)
		re, err := packagePrefix()
		switch {
		case err != nil:
			l.t.Errorf("check %s's log line: %v", l.name, err)
		case re.MatchString(line):
			l.t.Errorf("%s logged a Go package prefix: %s", l.name, line)
		}
	}
	return len(p), nil
}

// detach stops passing lines to the test's log.
func (l *peerLog) detach() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t = nil
}

func (l *peerLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
