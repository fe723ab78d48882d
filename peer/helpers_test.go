package peer

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/memcons/memcons/internal/memcachedtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testInterval = 50 * time.Millisecond
	testTimeout  = 500 * time.Millisecond
	// waitLimit is how long tests wait for a condition: generous, because a
	// loaded 2-core machine running -race can stall for a while.
	waitLimit = 10 * time.Second
	pollEvery = 10 * time.Millisecond
)

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newTestLogger returns a logger writing to a buffer that is dumped to the
// test log if the test fails.
func newTestLogger(t *testing.T, name string) (*slog.Logger, *syncBuffer) {
	t.Helper()
	buf := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// pausableConn drops every write while paused, so the peer at the other end
// hears nothing although the TCP connection stays open.
type pausableConn struct {
	net.Conn
	paused *atomic.Bool
}

func (c *pausableConn) Write(p []byte) (int, error) {
	if c.paused.Load() {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// testCluster is the shared configuration of a loopback test cluster.
type testCluster struct {
	addrs   map[string]string
	members []MemberAddrs
}

func newTestCluster(t *testing.T, names ...string) testCluster {
	t.Helper()
	c := testCluster{addrs: make(map[string]string)}
	addrs := memcachedtest.FreeAddrs(t, len(names))
	for i, n := range names {
		addr := addrs[i]
		c.addrs[n] = addr
		c.members = append(c.members, MemberAddrs{
			Name: n, ClientAddr: "client-" + n, PeerAddr: addr, ReplicaAddr: "replica-" + n,
		})
	}
	return c
}

func (c testCluster) transportConfig(self string) TransportConfig {
	return TransportConfig{
		ClusterName: "test", Mode: "linearizable", Secret: "s3cret", Self: self, Peers: c.addrs,
	}
}

// testNode is one running peer: transport, membership and its fault hooks.
type testNode struct {
	name   string
	tr     *Transport
	mem    *Membership
	logs   *syncBuffer
	paused atomic.Bool  // drops this node's outgoing writes when set
	dials  atomic.Int64 // TCP connections this node opened
}

func startNode(t *testing.T, c testCluster, name string) *testNode {
	t.Helper()
	n := &testNode{name: name}
	log, buf := newTestLogger(t, name)
	n.logs = buf
	tcfg := c.transportConfig(name)
	tcfg.Logger = log
	tcfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		n.dials.Add(1)
		return &pausableConn{Conn: conn, paused: &n.paused}, nil
	}
	tr, err := NewTransport(tcfg)
	require.NoError(t, err)
	mem, err := NewMembership(MembershipConfig{
		Self: name, Peers: c.members, Interval: testInterval, Timeout: testTimeout, Logger: log,
		Local: func() Heartbeat {
			return Heartbeat{Role: "follower", Progress: "applied 7", Backend: "ok", Requests: RequestStats{Completed: 3}}
		},
	}, tr)
	require.NoError(t, err)
	require.NoError(t, tr.Start())
	mem.Start()
	n.tr, n.mem = tr, mem
	t.Cleanup(n.close)
	return n
}

func (n *testNode) close() {
	_ = n.mem.Close()
	_ = n.tr.Close()
}

// member returns what n currently knows about peer.
func (n *testNode) member(t *testing.T, peer string) Member {
	t.Helper()
	for _, m := range n.mem.Members() {
		if m.Name == peer {
			return m
		}
	}
	t.Fatalf("%s has no member %s", n.name, peer)
	return Member{}
}

func waitUp(t *testing.T, nodes ...*testNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for _, n := range nodes {
		require.NoError(t, n.mem.WaitUp(ctx), "%s waiting for every peer", n.name)
	}
}

// waitLog waits until buf contains want.
func waitLog(t *testing.T, buf *syncBuffer, want string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(buf.String(), want) },
		waitLimit, pollEvery, "log never contained %q; log:\n%s", want, buf)
}
