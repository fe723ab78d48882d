package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memcons/memcons/internal/field"
)

// MemberAddrs are the configured addresses of one peer.
type MemberAddrs struct {
	Name          string
	ClientAddr    string
	ClientTLSAddr string // "" when the peer serves no TLS client port
	PeerAddr      string
	ReplicaAddr   string
}

// Member is one peer as this peer currently sees it.
type Member struct {
	MemberAddrs
	Self      bool      // this peer
	Up        bool      // heard within Timeout (always true for Self)
	LastHeard time.Time // zero if never heard
	Last      Heartbeat // the last heartbeat heard (Local() for Self)
}

// Heartbeat timing for MembershipConfig's Interval and Timeout, which
// NewMembership requires to be set.
const (
	DefaultHeartbeatInterval = 500 * time.Millisecond
	DefaultHeartbeatTimeout  = 3 * time.Second
)

// MembershipConfig configures a Membership; Now and Logger may be nil.
type MembershipConfig struct {
	Self     string
	Peers    []MemberAddrs // every peer, this one included, in display order
	Interval time.Duration // time between heartbeats
	Timeout  time.Duration // silence after which a peer is marked down; > Interval
	// Local returns this peer's current state; it is called on every beat
	// and must be safe for concurrent use. nil sends name and mode only.
	Local func() Heartbeat
	// Now is the clock for LastHeard and up/down decisions; nil is time.Now.
	// Ticking and IO deadlines always use real time.
	Now    func() time.Time
	Logger *slog.Logger
}

// Validate reports every field of c that breaks its rule. Each problem is a
// *field.Error matching ErrInvalidConfig. NewMembership also checks c
// against its transport.
func (c MembershipConfig) Validate() error {
	v := field.NewChecker(ErrInvalidConfig, "peer.MembershipConfig")
	field.Positive(v, "Interval", c.Interval)
	field.MoreThanField(v, "Timeout", c.Timeout, "Interval", c.Interval)
	seen := make(map[string]bool, len(c.Peers))
	for i, p := range c.Peers {
		name := fmt.Sprintf("Peers[%d].Name", i)
		switch {
		case p.Name == "":
			v.Failf(name, "must not be empty")
		case seen[p.Name]:
			v.Failf(name, "%q is not unique", p.Name)
		}
		seen[p.Name] = true
	}
	if !seen[c.Self] {
		v.Failf("Self", "must be one of %s, got %q", field.Ref("Peers"), c.Self)
	}
	return v.Err()
}

// validate checks c, and c against t, and fills in defaults.
func (c *MembershipConfig) validate(t *Transport) error {
	if err := c.Validate(); err != nil {
		return err
	}
	for i, p := range c.Peers {
		if !t.isKnown(p.Name) {
			return fmt.Errorf("%w: Peers[%d].Name %q is not in the transport's peers", ErrInvalidConfig, i, p.Name)
		}
	}
	if c.Self != t.cfg.Self {
		return fmt.Errorf("%w: Self %q differs from the transport's Self %q", ErrInvalidConfig, c.Self, t.cfg.Self)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// memberState is what this peer knows about another peer.
type memberState struct {
	up        bool
	lastHeard time.Time
	last      Heartbeat
}

// Membership tracks which peers are up by sending heartbeats to every other
// peer and listening for theirs. Members are never removed: a silent peer is
// marked down and marked up again when heard. It is safe for concurrent use.
type Membership struct {
	cfg MembershipConfig
	t   *Transport
	log *slog.Logger

	live atomic.Pointer[Timing] // cfg's Interval and Timeout, replaced by SetTiming

	mu       sync.Mutex              // guards states, changed, incoming
	states   map[string]*memberState // every peer but self
	changed  chan struct{}           // closed and replaced on every up/down change
	incoming map[string]net.Conn     // current heartbeat connection from each peer

	conns     ConnSet            // heartbeat connections in both directions
	ctx       context.Context    // cancelled by Close
	cancel    context.CancelFunc // cancels ctx
	wg        sync.WaitGroup     // send loops and the check loop
	startOnce sync.Once
	closeOnce sync.Once
}

// NewMembership validates cfg and registers the heartbeat handler on t, which
// must not be started yet.
func NewMembership(cfg MembershipConfig, t *Transport) (*Membership, error) {
	cfg.Peers = append([]MemberAddrs(nil), cfg.Peers...)
	if err := cfg.validate(t); err != nil {
		return nil, err
	}
	t.mu.Lock()
	started := t.started
	t.mu.Unlock()
	if started {
		return nil, errors.New("NewMembership after the transport started")
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Membership{
		cfg:      cfg,
		t:        t,
		log:      cfg.Logger,
		states:   make(map[string]*memberState, len(cfg.Peers)),
		changed:  make(chan struct{}),
		incoming: make(map[string]net.Conn),
		ctx:      ctx,
		cancel:   cancel,
	}
	m.live.Store(&Timing{Interval: cfg.Interval, Timeout: cfg.Timeout})
	for _, p := range cfg.Peers {
		if p.Name != cfg.Self {
			m.states[p.Name] = &memberState{}
		}
	}
	t.Handle(ChannelHeartbeat, m.serveHeartbeats)
	return m, nil
}

// Start begins sending heartbeats and checking for silent peers.
func (m *Membership) Start() {
	m.startOnce.Do(func() {
		if m.ctx.Err() != nil {
			return
		}
		for _, p := range m.cfg.Peers {
			if p.Name != m.cfg.Self {
				m.wg.Go(func() { m.sendLoop(p.Name) })
			}
		}
		m.wg.Go(m.checkLoop)
	})
}

// Close stops heartbeats, closes heartbeat connections in both directions and
// waits for its goroutines. The receiving handlers belong to the transport,
// which waits for them; they return as soon as their connections close. It is
// safe to call more than once.
func (m *Membership) Close() error {
	m.closeOnce.Do(func() {
		m.startOnce.Do(func() {}) // a later Start does nothing
		m.cancel()
		m.conns.CloseAll()
		m.wg.Wait()
	})
	return nil
}

// Members returns every configured peer in config order, self included.
func (m *Membership) Members() []Member {
	m.check()
	self := m.localHeartbeat()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Member, 0, len(m.cfg.Peers))
	for _, p := range m.cfg.Peers {
		mem := Member{MemberAddrs: p}
		if p.Name == m.cfg.Self {
			mem.Self, mem.Up, mem.LastHeard, mem.Last = true, true, self.Sent, self
		} else {
			st := m.states[p.Name]
			mem.Up, mem.LastHeard, mem.Last = st.up, st.lastHeard, st.last
		}
		out = append(out, mem)
	}
	return out
}

// Up reports whether the named peer is currently heard; this peer itself
// always is. Unlike Members it does not build this peer's heartbeat.
func (m *Membership) Up(name string) bool {
	if name == m.cfg.Self {
		return true
	}
	m.check()
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.states[name]
	return st != nil && st.up
}

// WaitUp blocks until every named peer (every configured peer if none are
// named) is up, ctx is done, or the membership is closed (ErrClosed).
func (m *Membership) WaitUp(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		for _, p := range m.cfg.Peers {
			names = append(names, p.Name)
		}
	}
	for _, n := range names {
		if _, ok := m.states[n]; !ok && n != m.cfg.Self {
			return fmt.Errorf("wait for peer %q: %w", n, ErrUnknownPeer)
		}
	}
	for {
		if m.ctx.Err() != nil {
			return ErrClosed
		}
		m.check()
		m.mu.Lock()
		var down []string
		for _, n := range names {
			if st := m.states[n]; st != nil && !st.up {
				down = append(down, n)
			}
		}
		changed := m.changed
		m.mu.Unlock()
		if len(down) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for peers %v to be up: %w", down, ctx.Err())
		case <-m.ctx.Done():
			return ErrClosed
		case <-changed:
		}
	}
}

// checkLoop marks silent peers down, on a real ticker.
func (m *Membership) checkLoop() {
	every := func() time.Duration { return max(m.timing().Interval/2, time.Millisecond) }
	period := every()
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-ticker.C:
			retune(ticker, &period, every())
			m.check()
		}
	}
}

// check marks down every up peer not heard for longer than Timeout.
func (m *Membership) check() {
	now := m.cfg.Now()
	type downed struct {
		name   string
		silent time.Duration
	}
	var gone []downed
	m.mu.Lock()
	for _, p := range m.cfg.Peers {
		st := m.states[p.Name]
		if st == nil || !st.up {
			continue
		}
		if silent := now.Sub(st.lastHeard); silent > m.timing().Timeout {
			st.up = false
			gone = append(gone, downed{p.Name, silent})
		}
	}
	if len(gone) > 0 {
		m.notifyLocked()
	}
	m.mu.Unlock()
	for _, d := range gone {
		m.log.Warn(fmt.Sprintf("peer %s down: no heartbeat for %v", d.name, d.silent.Round(time.Millisecond)))
	}
}

// observe records a heartbeat heard from peer over an authenticated connection.
func (m *Membership) observe(peer string, hb Heartbeat) {
	now := m.cfg.Now()
	m.mu.Lock()
	st := m.states[peer]
	if st == nil {
		m.mu.Unlock()
		return // a transport peer that is not a member (or self)
	}
	st.lastHeard, st.last = now, hb
	cameUp := !st.up
	if cameUp {
		st.up = true
		m.notifyLocked()
	}
	m.mu.Unlock()
	if cameUp {
		m.log.Info(fmt.Sprintf("peer %s up", peer))
	}
}

// notifyLocked wakes WaitUp callers; m.mu must be held.
func (m *Membership) notifyLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}
