package ordered

import (
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/memcons/memcons/internal/instrument"
)

// Instruments are where the mode records its latencies; nil fields leave
// one unmeasured.
type Instruments struct {
	// Apply observes the seconds the FSM takes to apply one batch of
	// committed entries to the replica.
	Apply instrument.Observer
	// Snapshot observes the seconds one snapshot takes, dump and persist.
	Snapshot instrument.Observer
}

// counters count the mode's own events for metrics.
type counters struct {
	proposals      atomic.Uint64 // entries this peer appended to the log as leader
	fwdProposals   atomic.Uint64 // writes this peer forwarded to the leader
	fwdReads       atomic.Uint64 // read index requests forwarded to the leader
	leaderRounds   atomic.Uint64 // leadership confirmations run as leader
	followerRounds atomic.Uint64 // read index rounds asked of the leader
	leaderChanges  atomic.Uint64 // changes of the leader this peer observed
}

// Stats is a snapshot of the mode's raft state for metrics.
type Stats struct {
	State             string // leader, follower, candidate, shutdown; "starting" before Start
	Leader            string // "" when none is known
	Term              uint64
	CommitIndex       uint64
	AppliedIndex      uint64 // applied to this replica
	LastLogIndex      uint64
	LastSnapshotIndex uint64

	LeaderChanges      uint64
	Proposals          uint64
	ForwardedProposals uint64
	ForwardedReads     uint64
	LeaderReadRounds   uint64
	FollowerReadRounds uint64
}

// Stats returns a snapshot of the raft state and the mode's counters.
func (m *Mode) Stats() Stats {
	c := &m.counters
	st := Stats{
		State:              "starting",
		LeaderChanges:      c.leaderChanges.Load(),
		Proposals:          c.proposals.Load(),
		ForwardedProposals: c.fwdProposals.Load(),
		ForwardedReads:     c.fwdReads.Load(),
		LeaderReadRounds:   c.leaderRounds.Load(),
		FollowerReadRounds: c.followerRounds.Load(),
	}
	st.AppliedIndex, _ = m.fsm.appliedIndex()
	r := m.raft.Load()
	if r == nil {
		return st
	}
	_, leader := r.LeaderWithID()
	st.State = strings.ToLower(r.State().String())
	st.Leader = string(leader)
	st.Term = r.CurrentTerm()
	st.CommitIndex = r.CommitIndex()
	st.LastLogIndex = r.LastIndex()
	st.LastSnapshotIndex, _ = strconv.ParseUint(r.Stats()["last_snapshot_index"], 10, 64)
	return st
}

// countLeaderChanges counts every change of the leader raft reports until
// the mode closes, the first leader this peer learns of included. Observations are never waited for: a burst beyond the
// buffer is counted as one change.
func (m *Mode) countLeaderChanges(r *raft.Raft) {
	ch := make(chan raft.Observation, 64)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(obs)
	defer r.DeregisterObserver(obs)
	var last raft.ServerID
	for {
		select {
		case <-m.ctx.Done():
			return
		case o := <-ch:
			if id := o.Data.(raft.LeaderObservation).LeaderID; id != last {
				last = id
				if id != "" {
					m.counters.leaderChanges.Add(1)
				}
			}
		}
	}
}

// countForward counts one request forwarded to the leader.
func (m *Mode) countForward(kind byte) {
	if kind == fwdPropose {
		m.counters.fwdProposals.Add(1)
	} else {
		m.counters.fwdReads.Add(1)
	}
}
