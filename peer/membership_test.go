package peer

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMembership_ThreePeersSeeEachOtherUp(t *testing.T) {
	c := newTestCluster(t, "a", "b", "c")
	nodes := []*testNode{startNode(t, c, "a"), startNode(t, c, "b"), startNode(t, c, "c")}
	waitUp(t, nodes...)

	for _, n := range nodes {
		members := n.mem.Members()
		require.Len(t, members, 3)
		for i, m := range members {
			want := c.members[i]
			assert.Equal(t, want.Name, m.Name, "config order")
			assert.Equal(t, want.ClientAddr, m.ClientAddr)
			assert.Equal(t, want.PeerAddr, m.PeerAddr)
			assert.Equal(t, want.ReplicaAddr, m.ReplicaAddr)
			assert.Equal(t, n.name == m.Name, m.Self, "%s sees %s", n.name, m.Name)
			assert.True(t, m.Up, "%s sees %s up", n.name, m.Name)
			assert.False(t, m.LastHeard.IsZero(), "%s heard %s", n.name, m.Name)
			assert.Equal(t, m.Name, m.Last.Name)
			assert.Equal(t, "linearizable", m.Last.Mode)
			assert.Equal(t, "follower", m.Last.Role)
			assert.Equal(t, "applied 7", m.Last.Progress)
			assert.Equal(t, RequestStats{Completed: 3}, m.Last.Requests)
		}
	}
}

// waitMember polls until every observer sees peer in state up.
func waitMember(t *testing.T, peer string, up bool, observers ...*testNode) {
	t.Helper()
	for _, o := range observers {
		require.Eventually(t, func() bool { return o.member(t, peer).Up == up },
			waitLimit, pollEvery, "%s never saw %s up=%v", o.name, peer, up)
	}
}

func TestMembership_ClosedPeerDownThenUpAfterRestart(t *testing.T) {
	c := newTestCluster(t, "a", "b", "c")
	a, b, cn := startNode(t, c, "a"), startNode(t, c, "b"), startNode(t, c, "c")
	waitUp(t, a, b, cn)

	cn.close()
	closedAt := time.Now()
	waitMember(t, "c", false, a, b)
	assert.Less(t, time.Since(closedAt), testTimeout+3*time.Second, "down within Timeout plus slack")
	for _, o := range []*testNode{a, b} {
		assert.Contains(t, o.logs.String(), "peer c down: no heartbeat for", o.name)
		assert.True(t, o.member(t, "a").Up && o.member(t, "b").Up, "%s still sees the live peers up", o.name)
		assert.True(t, o.mem.Up("a") && o.mem.Up("b"), "%s: Up agrees with Members", o.name)
		assert.False(t, o.mem.Up("c"), "%s: Up agrees with Members", o.name)
		assert.False(t, o.mem.Up("nobody"), "an unknown name is not up")
	}
	names := []string{}
	for _, m := range a.mem.Members() {
		names = append(names, m.Name)
	}
	assert.Equal(t, []string{"a", "b", "c"}, names, "a down peer stays a member")

	cn = startNode(t, c, "c") // same name, same address
	waitMember(t, "c", true, a, b)
	waitUp(t, cn)
	for _, o := range []*testNode{a, b} {
		assert.Equal(t, 2, strings.Count(o.logs.String(), "peer c up"), "%s logged c up at start and after restart", o.name)
	}
}

func TestMembership_PausedPeerMarkedDownWhileSocketOpen(t *testing.T) {
	c := newTestCluster(t, "a", "b", "c")
	a, b, cn := startNode(t, c, "a"), startNode(t, c, "b"), startNode(t, c, "c")
	waitUp(t, a, b, cn)

	dials := cn.dials.Load()
	cn.paused.Store(true) // c's heartbeats vanish; its sockets stay open
	waitMember(t, "c", false, a, b)
	for _, o := range []*testNode{a, b} {
		o.mem.mu.Lock()
		_, open := o.mem.incoming["c"]
		o.mem.mu.Unlock()
		assert.True(t, open, "%s marked c down while c's connection was still open", o.name)
		assert.Contains(t, o.logs.String(), "peer c down: no heartbeat for", o.name)
	}
	assert.Equal(t, dials, cn.dials.Load(), "c never saw an error and never redialled")
	assert.True(t, cn.member(t, "a").Up, "c still hears a")

	cn.paused.Store(false)
	waitMember(t, "c", true, a, b)
}

func TestMembership_CloseWaitsForGoroutines(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	c := newTestCluster(t, "a", "b", "c")
	nodes := []*testNode{startNode(t, c, "a"), startNode(t, c, "b"), startNode(t, c, "c")}
	waitUp(t, nodes...)
	// Close while heartbeats flow in both directions.
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(n.close)
	}
	wg.Wait()
	// goleak retries briefly (a goroutine that called wg.Done may still be
	// exiting); CloseWaitsForSenders and CloseWaitsForHandlers check the
	// waiting itself.
	goleak.VerifyNone(t, ignore)

	for _, n := range nodes {
		assert.NoError(t, n.mem.Close(), "second Close")
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		assert.ErrorIs(t, n.mem.WaitUp(ctx), ErrClosed)
		cancel()
	}
}

func TestMembership_CloseWaitsForSenders(t *testing.T) {
	c := newTestCluster(t, "a", "b")
	startNode(t, c, "b")
	tr, err := NewTransport(c.transportConfig("a"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close() })
	var (
		m                 *Membership
		block             atomic.Bool
		entered, returned atomic.Int64
	)
	m, err = NewMembership(MembershipConfig{Self: "a", Peers: c.members, Interval: testInterval, Timeout: testTimeout,
		Local: func() Heartbeat {
			if block.Load() {
				entered.Add(1)
				<-m.ctx.Done()
				time.Sleep(50 * time.Millisecond) // slow work that Close must wait for
				returned.Add(1)
			}
			return Heartbeat{}
		}}, tr)
	require.NoError(t, err)
	require.NoError(t, tr.Start())
	m.Start()

	block.Store(true)
	require.Eventually(t, func() bool { return entered.Load() > 0 }, waitLimit, pollEvery, "sender calls Local")
	require.NoError(t, m.Close())
	assert.Equal(t, entered.Load(), returned.Load(), "Close returned while a sender was still running")
}

// fakeClock is a settable clock for Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// newIdleMembership builds a membership of a, b, c that is never started, so
// a test drives observe and check with a fake clock.
func newIdleMembership(t *testing.T, clock *fakeClock) (*Membership, *syncBuffer) {
	t.Helper()
	c := newTestCluster(t, "a", "b", "c")
	log, buf := newTestLogger(t, "a")
	tr, err := NewTransport(c.transportConfig("a"))
	require.NoError(t, err)
	m, err := NewMembership(MembershipConfig{Self: "a", Peers: c.members, Interval: testInterval,
		Timeout: testTimeout, Now: clock.Now, Logger: log}, tr)
	require.NoError(t, err)
	return m, buf
}

func TestMembership_DownAfterTimeoutUpWhenHeard(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	m, logs := newIdleMembership(t, clock)
	member := func(name string) Member {
		for _, mem := range m.Members() {
			if mem.Name == name {
				return mem
			}
		}
		t.Fatalf("no member %s", name)
		return Member{}
	}

	assert.False(t, member("b").Up, "never heard")
	assert.True(t, member("b").LastHeard.IsZero())
	self := member("a")
	assert.True(t, self.Self && self.Up)
	assert.Equal(t, "a", self.Last.Name)
	assert.Equal(t, clock.Now(), self.Last.Sent)

	heardAt := clock.Now()
	m.observe("b", Heartbeat{Name: "b", Role: "leader"})
	assert.True(t, member("b").Up)
	assert.Equal(t, heardAt, member("b").LastHeard)
	assert.Equal(t, "leader", member("b").Last.Role)
	assert.Contains(t, logs.String(), "peer b up")

	clock.Advance(testTimeout)
	assert.True(t, member("b").Up, "silent for exactly Timeout is still up")
	clock.Advance(time.Millisecond)
	assert.False(t, member("b").Up, "silent for longer than Timeout")
	assert.Equal(t, heardAt, member("b").LastHeard, "down keeps the last heard time")
	assert.Equal(t, "leader", member("b").Last.Role, "down keeps the last heartbeat")
	assert.Equal(t, 1, strings.Count(logs.String(), "peer b down: no heartbeat for 501ms"), "logged once")

	m.observe("b", Heartbeat{Name: "b"})
	assert.True(t, member("b").Up, "heard again")
	assert.Equal(t, 2, strings.Count(logs.String(), "peer b up"))
	assert.False(t, member("c").Up, "c unaffected")

	m.observe("zed", Heartbeat{Name: "zed"}) // not a member: ignored
	assert.Len(t, m.Members(), 3)
}

func TestMembership_WaitUp(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	m, _ := newIdleMembership(t, clock)

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	assert.NoError(t, m.WaitUp(ctx, "a"), "self is always up")
	assert.ErrorIs(t, m.WaitUp(ctx, "zed"), ErrUnknownPeer)

	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	err := m.WaitUp(short, "b")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "b")

	done := make(chan error, 1)
	go func() { done <- m.WaitUp(ctx, "b", "c") }()
	m.observe("b", Heartbeat{Name: "b"})
	m.observe("c", Heartbeat{Name: "c"})
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(waitLimit):
		t.Fatal("WaitUp did not return once b and c were heard")
	}
	require.NoError(t, m.Close())
}

func TestMembership_DropsHeartbeatWithForeignName(t *testing.T) {
	c := newTestCluster(t, "a", "b", "c")
	b := startNode(t, c, "b")
	a, err := NewTransport(c.transportConfig("a"))
	require.NoError(t, err)
	defer func() { _ = a.Close() }()

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	conn, err := a.Dial(ctx, "b", ChannelHeartbeat)
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	payload, err := json.Marshal(Heartbeat{Name: "c"}) // a claims to be c
	require.NoError(t, err)
	require.NoError(t, writeFrame(conn, payload, maxHeartbeatFrame))

	require.NoError(t, conn.SetReadDeadline(time.Now().Add(waitLimit)))
	_, err = io.Copy(io.Discard, conn)
	assert.NoError(t, err, "b closed the connection")
	assert.False(t, b.member(t, "c").Up, "forged heartbeat ignored")
	assert.False(t, b.member(t, "a").Up, "a sent no heartbeat of its own")
	waitLog(t, b.logs, "heartbeat name does not match authenticated peer")
}

func TestMembershipConfig_Validate(t *testing.T) {
	c := newTestCluster(t, "a", "b", "c")
	tr, err := NewTransport(c.transportConfig("a"))
	require.NoError(t, err)
	base := func() MembershipConfig {
		return MembershipConfig{Self: "a", Peers: c.members, Interval: time.Second, Timeout: 3 * time.Second}
	}
	tests := []struct {
		name  string
		edit  func(*MembershipConfig)
		field string
	}{
		{name: "zero interval", edit: func(m *MembershipConfig) { m.Interval = 0 }, field: "Interval"},
		{name: "negative interval", edit: func(m *MembershipConfig) { m.Interval = -time.Second }, field: "Interval"},
		{name: "timeout equals interval", edit: func(m *MembershipConfig) { m.Timeout = m.Interval }, field: "Timeout"},
		{name: "self missing", edit: func(m *MembershipConfig) { m.Self = "z" }, field: "Self"},
		{name: "self differs from transport", edit: func(m *MembershipConfig) { m.Self = "b" }, field: "Self"},
		{name: "duplicate name", edit: func(m *MembershipConfig) {
			m.Peers = append(append([]MemberAddrs{}, c.members...), MemberAddrs{Name: "b"})
		}, field: "Peers[3].Name"},
		{name: "empty name", edit: func(m *MembershipConfig) {
			m.Peers = append(append([]MemberAddrs{}, c.members...), MemberAddrs{})
		}, field: "Peers[3].Name"},
		{name: "name unknown to transport", edit: func(m *MembershipConfig) {
			m.Peers = append(append([]MemberAddrs{}, c.members...), MemberAddrs{Name: "d"})
		}, field: "Peers[3].Name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.edit(&cfg)
			_, err := NewMembership(cfg, tr)
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.field)
		})
	}
	_, err = NewMembership(base(), tr)
	assert.NoError(t, err, "base config is valid")

	started, err := NewTransport(c.transportConfig("a"))
	require.NoError(t, err)
	require.NoError(t, started.Start())
	t.Cleanup(func() { _ = started.Close() })
	_, err = NewMembership(base(), started)
	assert.Error(t, err, "the heartbeat handler must be registered before Start")
}
