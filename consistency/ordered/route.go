package ordered

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"

	"github.com/memcons/memcons/consistency"
)

// toLeader runs a propose or read-index request on the leader, locally or
// over the forward channel. While no leader is known or reachable it
// retries for up to LeaderWait; a request that may have reached the leader
// is never sent twice. A forwarded read index is asked again at once when
// raft reports another leader, and after readAttemptLimit without an
// answer; a forwarded propose stops waiting when raft reports another
// leader and fails with its outcome unknown.
func (m *Mode) toLeader(ctx context.Context, kind byte, data []byte) (uint64, error) {
	deadline := time.Now().Add(m.timeouts().LeaderWait)
	var last error
	for {
		r := m.raft.Load()
		_, id := r.LeaderWithID()
		leader := string(id)
		var a fwdAnswer
		var err error
		switch {
		case leader == "":
			err = errors.New("no leader elected")
		case leader == m.cfg.Self:
			a = m.answer(ctx, kind, data)
		default:
			var limit time.Duration
			if kind == fwdReadIndex {
				limit = m.readAttemptLimit()
			}
			m.countForward(kind)
			a, err = m.fwd.call(ctx, r, leader, kind, data, limit)
			if err != nil && !errors.Is(err, errNotSent) && kind == fwdPropose {
				return 0, fmt.Errorf("forwarded to leader %s: %w, %w: %w", leader, consistency.ErrUnavailable, consistency.ErrOutcomeUnknown, err)
			}
		}
		switch {
		case err != nil:
			last = err
		case a.status == fwdOK:
			return a.index, nil
		case a.status == fwdNotLeader:
			last = fmt.Errorf("%s: %w", leader, errNotLeader)
		default:
			return 0, m.leaderFailed(kind, leader, a.msg)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, m.noLeader(leader, fmt.Errorf("none reachable within leader_wait %v: %w", m.timeouts().LeaderWait, last))
		}
		if _, id := r.LeaderWithID(); id != "" && string(id) != leader {
			continue // another leader already: ask it at once
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// leaderFailed is the error for a request the leader took and failed: a
// propose's outcome is unknown (raft may still commit it).
func (m *Mode) leaderFailed(kind byte, leader, msg string) error {
	err := fmt.Errorf("leader %s: %w: %s", leader, consistency.ErrUnavailable, msg)
	switch {
	case m.ctx.Err() != nil:
		return fmt.Errorf("%w: %w", consistency.ErrStopping, err)
	case kind == fwdPropose:
		return fmt.Errorf("%w: %w", consistency.ErrOutcomeUnknown, err)
	}
	return err
}

// noLeader is the error for a request that found no leader it could
// reach: it names the peers this peer does not hear and whether those it
// hears are a majority, when Config.Up tells.
func (m *Mode) noLeader(leader string, cause error) error {
	e := &consistency.NoLeaderError{Leader: leader, Cause: cause}
	if m.cfg.Up != nil {
		up := func(name string) bool { return name == m.cfg.Self || m.cfg.Up(name) }
		var quorum bool
		e.Unreachable, quorum = consistency.Unreachable(m.cfg.Peers, up)
		e.NoQuorum = !quorum
	}
	return e
}

// readAttemptLimit bounds one forwarded read index request. A healthy
// leader answers within a heartbeat round (and, new in its term, one
// commit); one that cannot confirm itself for an election timeout has lost
// its followers, steps down after its lease (half of that) and is being
// replaced, and an answer it sends may never arrive (a partition that
// drops packets leaves the connection open). Asking again dials afresh.
func (m *Mode) readAttemptLimit() time.Duration { return m.cfg.ElectionTimeout }

// answer runs a propose or read-index request on this peer as the leader,
// or a leader's confirmation request on this peer as a follower.
func (m *Mode) answer(ctx context.Context, kind byte, data []byte) fwdAnswer {
	r := m.raft.Load()
	if r != nil && kind == fwdConfirm {
		return answerConfirm(r, data)
	}
	if r == nil || r.State() != raft.Leader {
		return fwdAnswer{status: fwdNotLeader}
	}
	switch kind {
	case fwdPropose:
		entries, err := decodeProposal(data)
		if err != nil {
			return fwdAnswer{status: fwdFailed, msg: err.Error()}
		}
		m.counters.proposals.Add(uint64(len(entries)))
		return m.appendEntries(ctx, r, entries)
	case fwdReadIndex:
		idx, err := m.leaderReadIndex(ctx)
		if err != nil {
			if lostLeadership(err) {
				return fwdAnswer{status: fwdNotLeader}
			}
			return fwdAnswer{status: fwdFailed, msg: "read index: " + err.Error()}
		}
		return fwdAnswer{status: fwdOK, index: idx}
	}
	return fwdAnswer{status: fwdFailed, msg: fmt.Sprintf("unknown forwarded request kind %d", kind)}
}

// appendEntries appends entries to the log in order, as consecutive
// entries of one round (raft batches applies that arrive together), and
// waits until the leader applied them all. Only when raft refused every
// entry for not leading was nothing appended: then fwdNotLeader, and the
// proposal may go to the new leader; any other failure leaves the outcome
// unknown.
func (m *Mode) appendEntries(ctx context.Context, r *raft.Raft, entries [][]byte) fwdAnswer {
	futures := make([]raft.ApplyFuture, len(entries))
	for i, e := range entries {
		futures[i] = r.Apply(e, m.timeouts().RequestTimeout)
	}
	var refused int
	var failed error
	for _, f := range futures {
		switch err := m.await(ctx, f); {
		case err == nil:
		case errors.Is(err, raft.ErrNotLeader):
			refused++
		case failed == nil:
			failed = err
		}
	}
	switch {
	case refused == len(futures):
		return fwdAnswer{status: fwdNotLeader}
	case refused > 0 && failed == nil:
		failed = fmt.Errorf("%d of %d entries refused: %w", refused, len(futures), raft.ErrNotLeader)
	}
	if failed != nil {
		return fwdAnswer{status: fwdFailed, msg: "append to log: " + failed.Error()}
	}
	return fwdAnswer{status: fwdOK, index: futures[len(futures)-1].Index()}
}

// lostLeadership reports an error of raft's for a peer that does not lead
// (any more): nothing of the request's depends on it, so it may be asked
// of the new leader.
func lostLeadership(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost)
}

// handleForward serves the forward channel of one follower.
func (m *Mode) handleForward(conn net.Conn, from string) {
	if !m.srvConns.Add(conn) {
		return
	}
	defer m.srvConns.Remove(conn)
	serveForward(conn, func(kind byte, data []byte) fwdAnswer {
		ctx, cancel := context.WithTimeout(m.ctx, m.timeouts().RequestTimeout)
		defer cancel()
		if kind == fwdPropose {
			m.forwarded.Add(1)
			defer m.forwarded.Add(-1)
		}
		a := m.answer(ctx, kind, data)
		if a.status == fwdOK && kind == fwdReadIndex && (len(data) < 8 || binary.BigEndian.Uint64(data) < a.index) {
			m.nudge()
		}
		return a
	})
}

// committed runs as committed entries reach this peer's FSM: while it
// appends a follower's forwarded proposal, the follower must learn the
// commit to apply the entries and answer, so the nudge goes out now and
// the follower applies while this peer does.
func (m *Mode) committed() {
	if m.forwarded.Load() > 0 {
		m.nudge()
	}
}

// nudge makes the leader send the followers its commit index soon. A
// follower learns that an entry committed only from the next AppendEntries,
// which raft sends for new entries or after its commit timeout; a
// forwarded request waits for its follower to apply the entry, so the
// leader appends a tick entry, one at a time, whose AppendEntries carries
// the commit index at once. Under load the ticks coalesce.
func (m *Mode) nudge() {
	m.nmu.Lock()
	defer m.nmu.Unlock()
	if m.nudgeClosed {
		return
	}
	m.nudgeWanted = true
	if !m.nudging {
		m.nudging = true
		m.wg.Go(m.nudgeLoop)
	}
}

func (m *Mode) nudgeLoop() {
	for {
		m.nmu.Lock()
		if !m.nudgeWanted {
			m.nudging = false
			m.nmu.Unlock()
			return
		}
		m.nudgeWanted = false
		m.nmu.Unlock()
		r := m.raft.Load()
		c := command{Kind: cmdTick, Now: m.cfg.Now().Unix()}
		if err := m.await(m.ctx, r.Apply(c.encode(nil), m.timeouts().RequestTimeout)); err != nil {
			m.log.Debug("commit nudge failed", "err", err)
		}
	}
}
