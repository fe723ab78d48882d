package ordered

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/peer"
)

// fakeLeaders is a leaderSource whose leader the test sets; set wakes the
// forwarder's watch as raft's observer would.
type fakeLeaders struct {
	mu     sync.Mutex
	leader string
	obs    int // registered observers
	f      *forwarder
}

func (s *fakeLeaders) LeaderWithID() (raft.ServerAddress, raft.ServerID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return raft.ServerAddress(s.leader), raft.ServerID(s.leader)
}

func (s *fakeLeaders) RegisterObserver(*raft.Observer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.obs++
}

func (s *fakeLeaders) DeregisterObserver(*raft.Observer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.obs--
}

func (s *fakeLeaders) set(leader string) {
	s.mu.Lock()
	s.leader = leader
	s.mu.Unlock()
	if w := s.f.leaders(s); w != nil {
		w.notify()
	}
}

// fakeLeaderPeer answers forwarded requests over in-memory connections
// with index 7. Requests on the first connection it accepts wait until
// release is closed (a leader cut off by a partition that drops packets
// never answers); later connections answer at once.
type fakeLeaderPeer struct {
	release chan struct{} // closed by the test
	done    chan struct{} // closed at cleanup
	wg      sync.WaitGroup

	mu       sync.Mutex
	dials    int
	received int // requests
	closed   int // connections the forwarder closed
}

func (p *fakeLeaderPeer) Dial(ctx context.Context, _ string, _ peer.Channel) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	client, server := net.Pipe()
	p.mu.Lock()
	p.dials++
	silent := p.dials == 1
	p.mu.Unlock()
	p.wg.Go(func() {
		serveForward(server, func(byte, []byte) fwdAnswer {
			p.mu.Lock()
			p.received++
			p.mu.Unlock()
			if silent {
				select {
				case <-p.release:
				case <-p.done:
				}
			}
			return fwdAnswer{status: fwdOK, index: 7}
		})
	})
	return &countedConn{Conn: client, p: p}, nil
}

// countedConn counts the forwarder closing its end.
type countedConn struct {
	net.Conn
	p    *fakeLeaderPeer
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.p.mu.Lock()
		c.p.closed++
		c.p.mu.Unlock()
	})
	return c.Conn.Close()
}

func (p *fakeLeaderPeer) Handle(peer.Channel, func(net.Conn, string)) {}

func (p *fakeLeaderPeer) counts() (dials, closed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dials, p.closed
}

// waitReceived waits until the peer has received n requests.
func (p *fakeLeaderPeer) waitReceived(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.received >= n
	}, time.Second, time.Millisecond, "%d requests reach the leader", n)
}

// newFakeForwarder returns a forwarder to fake peers, with peer "old" as
// the leader raft knows.
func newFakeForwarder(t *testing.T) (*forwarder, *fakeLeaders, *fakeLeaderPeer) {
	t.Helper()
	p := &fakeLeaderPeer{release: make(chan struct{}), done: make(chan struct{})}
	f := &forwarder{trans: p, conns: map[string]*fwdConn{}}
	src := &fakeLeaders{leader: "old", f: f}
	t.Cleanup(func() {
		close(p.done)
		f.close()
		p.wg.Wait()
		assert.Zero(t, src.obs, "the leader watch deregisters its observer")
	})
	return f, src, p
}

// result is what a call in the background returned.
type result struct {
	a   fwdAnswer
	err error
}

func callAsync(f *forwarder, src leaderSource, kind byte, limit time.Duration) <-chan result {
	ch := make(chan result, 1)
	go func() {
		a, err := f.call(context.Background(), src, "old", kind, []byte{0, 0, 0, 0, 0, 0, 0, 0}, limit)
		ch <- result{a, err}
	}()
	return ch
}

func waitResult(t *testing.T, ch <-chan result, limit time.Duration) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(limit):
		t.Fatalf("forwarded call still waiting after %v", limit)
		return result{}
	}
}

func TestForwarder_AbandonsCallWhenLeaderChanges(t *testing.T) {
	tests := []struct {
		name    string
		kind    byte
		next    string // the leader raft reports next
		abandon bool
	}{
		{"read index, another leader", fwdReadIndex, "new", true},
		{"read index, no leader", fwdReadIndex, "", true},
		{"propose, another leader", fwdPropose, "new", true},
		// Without a new leader the old one may still answer: a propose
		// keeps waiting for it rather than turn a write into an error.
		{"propose, no leader", fwdPropose, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, src, p := newFakeForwarder(t)
			ch := callAsync(f, src, tt.kind, 0)
			p.waitReceived(t, 1)
			src.set(tt.next)
			if !tt.abandon {
				select {
				case r := <-ch:
					t.Fatalf("propose gave up without a new leader: %+v", r)
				case <-time.After(100 * time.Millisecond):
				}
				close(p.release) // the old leader answers after all
				r := waitResult(t, ch, time.Second)
				require.NoError(t, r.err)
				assert.Equal(t, uint64(7), r.a.index)
				return
			}
			r := waitResult(t, ch, time.Second)
			require.ErrorIs(t, r.err, errAbandoned)
			assert.ErrorIs(t, r.err, errLeaderMoved)
			assert.NotErrorIs(t, r.err, errNotSent, "the request was sent: a propose's outcome is unknown")

			// The connection may be dead: it is closed (no call waits on
			// it) and the next forward to that peer dials afresh.
			require.Eventually(t, func() bool { _, c := p.counts(); return c == 1 }, time.Second, time.Millisecond,
				"the abandoned connection closes")
			src.set("old")
			ch = callAsync(f, src, tt.kind, 0)
			r = waitResult(t, ch, time.Second)
			require.NoError(t, r.err)
			assert.Equal(t, uint64(7), r.a.index)
			d, _ := p.counts()
			assert.Equal(t, 2, d, "a second connection")
		})
	}
}

func TestForwarder_ReadIndexAttemptLimit(t *testing.T) {
	f, src, p := newFakeForwarder(t)
	start := time.Now()
	r := waitResult(t, callAsync(f, src, fwdReadIndex, 50*time.Millisecond), 2*time.Second)
	require.ErrorIs(t, r.err, errAbandoned)
	assert.ErrorIs(t, r.err, errAttemptOver)
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	require.Eventually(t, func() bool { _, c := p.counts(); return c == 1 }, time.Second, time.Millisecond,
		"the connection that did not answer closes")
}

func TestForwarder_NotSentWhenLeaderChangedBeforeDial(t *testing.T) {
	for _, kind := range []byte{fwdReadIndex, fwdPropose} {
		f, src, p := newFakeForwarder(t)
		src.set("new")
		r := waitResult(t, callAsync(f, src, kind, 0), time.Second)
		require.ErrorIs(t, r.err, errNotSent, "kind %d: nothing was sent, so it may be sent to the new leader", kind)
		d, _ := p.counts()
		assert.Zero(t, d)
	}
}

func TestForwarder_RetiredConnectionWaitsForItsCalls(t *testing.T) {
	f, src, p := newFakeForwarder(t)
	propose := callAsync(f, src, fwdPropose, 0)
	p.waitReceived(t, 1)
	read := callAsync(f, src, fwdReadIndex, 50*time.Millisecond)
	r := waitResult(t, read, time.Second)
	require.ErrorIs(t, r.err, errAbandoned)

	// The read retired the connection, but the propose on it still waits
	// for the leader's answer, which arrives.
	_, c := p.counts()
	assert.Zero(t, c, "the retired connection stays open while a call waits on it")
	close(p.release)
	r = waitResult(t, propose, time.Second)
	require.NoError(t, r.err)
	require.Eventually(t, func() bool { _, c := p.counts(); return c == 1 }, time.Second, time.Millisecond,
		"the retired connection closes after its last call")
	assert.False(t, errors.Is(r.err, errAbandoned))
}
