package peer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// maxHeartbeatFrame bounds one encoded heartbeat.
const maxHeartbeatFrame = 64 << 10

// Heartbeat is what a peer tells the others about itself on every beat; it
// is what `show` prints.
type Heartbeat struct {
	Name     string       `json:"name"`
	Mode     string       `json:"mode"`
	Role     string       `json:"role"`     // e.g. leader, follower, candidate; "" in eventual mode
	Progress string       `json:"progress"` // applied index or last sync time
	Backend  string       `json:"backend"`  // replica health
	Requests RequestStats `json:"requests"`
	Details  []Detail     `json:"details,omitempty"` // mode-specific facts for show
	Sent     time.Time    `json:"sent"`
}

// Detail is one named, mode-specific fact in a heartbeat (leader, term,
// last sync, ...).
type Detail struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

// RequestStats counts a peer's client requests.
type RequestStats struct {
	InFlight  uint64 `json:"in_flight"`
	Queued    uint64 `json:"queued"`
	Completed uint64 `json:"completed"`
	Errors    uint64 `json:"errors"`
}

// localHeartbeat is this peer's heartbeat as of now.
func (m *Membership) localHeartbeat() Heartbeat {
	var hb Heartbeat
	if m.cfg.Local != nil {
		hb = m.cfg.Local()
	}
	hb.Name = m.cfg.Self
	if hb.Mode == "" {
		hb.Mode = m.t.cfg.Mode
	}
	hb.Sent = m.cfg.Now()
	return hb
}

// sendLoop keeps one heartbeat connection to peer, redialling with backoff
// whenever it breaks, until Close.
func (m *Membership) sendLoop(peer string) {
	var (
		backoff time.Duration
		lastErr string // the previous dial error, logged once rather than every retry
	)
	for {
		if backoff > 0 && !m.sleep(jitter(backoff)) {
			return
		}
		ctx, cancel := context.WithTimeout(m.ctx, m.timing().Timeout)
		conn, err := m.t.Dial(ctx, peer, ChannelHeartbeat)
		cancel()
		if err != nil {
			if m.ctx.Err() != nil {
				return
			}
			if msg := err.Error(); msg != lastErr {
				lastErr = msg
				m.log.Warn("heartbeat dial failed; retrying", "peer", peer, "err", err)
			}
			// Capped well below Timeout: how soon a peer is marked up
			// again after a partition heals is what this cap costs.
			backoff = min(max(2*backoff, m.timing().Interval), max(m.timing().Interval, m.timing().Timeout/4))
			continue
		}
		lastErr = ""
		err = m.sendOn(conn)
		if m.ctx.Err() != nil {
			return
		}
		m.log.Debug("heartbeat connection lost", "peer", peer, "err", err)
		// Wait a beat before redialling so a peer that accepts and then
		// drops us cannot make this loop spin.
		backoff = m.timing().Interval
	}
}

// sendOn writes a heartbeat every Interval until a write fails or Close.
func (m *Membership) sendOn(conn net.Conn) error {
	if !m.conns.Add(conn) {
		_ = conn.Close()
		return ErrClosed
	}
	defer func() { _ = conn.Close() }()
	defer m.conns.Remove(conn)
	period := m.timing().Interval
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for {
		payload, err := json.Marshal(m.localHeartbeat())
		if err != nil {
			return fmt.Errorf("encode heartbeat: %w", err)
		}
		// A peer that stops reading must not block us past Timeout.
		if err := conn.SetWriteDeadline(time.Now().Add(m.timing().Timeout)); err != nil {
			return fmt.Errorf("set write deadline: %w", err)
		}
		if err := writeFrame(conn, payload, maxHeartbeatFrame); err != nil {
			return err
		}
		select {
		case <-m.ctx.Done():
			return ErrClosed
		case <-ticker.C:
			retune(ticker, &period, m.timing().Interval)
		}
	}
}

// sleep waits d and reports true, or reports false if Close came first.
func (m *Membership) sleep(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-m.ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// jitter spreads d by up to +20% so peers do not redial in lockstep.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d + rand.N(d/5+1)
}

// serveHeartbeats is the ChannelHeartbeat handler: it records every
// heartbeat read from an authenticated connection from peer from.
func (m *Membership) serveHeartbeats(conn net.Conn, from string) {
	if !m.conns.Add(conn) {
		return // closed; the transport closes conn
	}
	defer m.conns.Remove(conn)
	m.replaceIncoming(from, conn)
	defer m.dropIncoming(from, conn)

	// A sender beats every Interval; one silent for much longer than
	// Timeout is gone (or paused), so free the connection; it redials.
	// Marking it down does not wait for this: check does, after Timeout.
	idle := 4 * m.timing().Timeout
	for {
		if err := conn.SetReadDeadline(time.Now().Add(idle)); err != nil {
			return
		}
		payload, err := readFrame(conn, maxHeartbeatFrame)
		if err != nil {
			if m.ctx.Err() == nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				m.log.Debug("heartbeat connection ended", "peer", from, "err", err)
			}
			return
		}
		var hb Heartbeat
		if err := json.Unmarshal(payload, &hb); err != nil {
			m.log.Warn("bad heartbeat", "peer", from, "err", err)
			return
		}
		if hb.Name != from {
			m.log.Warn("heartbeat name does not match authenticated peer", "peer", from, "name", hb.Name)
			return
		}
		m.observe(from, hb)
	}
}

// replaceIncoming makes conn the heartbeat connection from peer, closing an
// older one (its sender has given up on it and redialled).
func (m *Membership) replaceIncoming(peer string, conn net.Conn) {
	m.mu.Lock()
	old := m.incoming[peer]
	m.incoming[peer] = conn
	m.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
}

func (m *Membership) dropIncoming(peer string, conn net.Conn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.incoming[peer] == conn {
		delete(m.incoming, peer)
	}
}
