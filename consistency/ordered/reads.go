package ordered

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/kvcontroller"
)

// readBatch serves a run of reads: linearizable reads first wait for the
// replica to apply one read index taken for them all, sequential reads go
// to the replica at once.
func (m *Mode) readBatch(ctx context.Context, reqs []consistency.Request, outs []consistency.Outcome, now int64) {
	if m.cfg.Kind == consistency.Linearizable {
		idx, err := m.readIndex(ctx)
		if err != nil {
			err = fmt.Errorf("read index: %w", err)
		} else {
			err = m.fsm.waitApplied(ctx, idx)
		}
		if err != nil {
			for i := range outs {
				outs[i] = consistency.Outcome{Err: err}
			}
			return
		}
	}
	m.fsm.restoring.RLock()
	defer m.fsm.restoring.RUnlock()
	for i := range reqs {
		if m.fsm.flushDue(now) {
			outs[i] = consistency.Outcome{}
			continue
		}
		outs[i].Result, outs[i].Err = consistency.ReadLiveMulti(ctx, m.store, reqs[i].Keys, now)
	}
}

// read serves one read request as a batch of one.
func (m *Mode) read(ctx context.Context, req *consistency.Request, now int64) (consistency.Result, error) {
	var out [1]consistency.Outcome
	m.readBatch(ctx, []consistency.Request{*req}, out[:], now)
	return out[0].Result, out[0].Err
}

// metaRead serves an mg that neither touches, vivifies nor may win a
// recache as a read (read index in linearizable mode, local in
// sequential), through the same apply step the log uses. done is false
// when the apply step would change the item (a stale item's first fetch
// wins): the caller then proposes the mg to the log.
func (m *Mode) metaRead(ctx context.Context, req *consistency.Request, now int64) (res consistency.Result, done bool, err error) {
	get := consistency.Request{Op: consistency.OpGet, Keys: req.Keys}
	found, err := m.read(ctx, &get, now)
	if err != nil {
		return consistency.Result{}, true, err
	}
	var cur *kvcontroller.Item
	if len(found.Items) == 1 {
		stored := found.Items[0].Stored()
		cur = &stored
	}
	eff, res, err := consistency.ApplyWrite(req, cur, now, 0, m.cfg.ItemSizeMax)
	if err != nil {
		return consistency.Result{}, true, err
	}
	return res, eff.Kind == consistency.EffectNone, nil
}

// readIndex returns a log index that covers every write acknowledged
// before the call, confirmed by a leader after the call began. The leader
// confirms it itself, in rounds shared by the reads waiting at one moment
// (m.verify); another peer asks the leader, also in shared rounds
// (m.reads). A peer just elected must not queue its reads behind a round
// it started as a follower, which may still be waiting for the old
// leader, so the leader never uses m.reads.
func (m *Mode) readIndex(ctx context.Context) (uint64, error) {
	if r := m.raft.Load(); r.State() == raft.Leader {
		idx, err := m.leaderReadIndex(ctx)
		if err == nil {
			return idx, nil
		}
		switch {
		case errors.Is(err, consistency.ErrUnavailable):
			return 0, err
		case !lostLeadership(err):
			return 0, fmt.Errorf("%w: %w", consistency.ErrUnavailable, err)
		}
		// Deposed meanwhile: ask the new leader.
	}
	return m.reads.readIndex(ctx)
}

// readIndexRound asks the leader (this peer or, over the forward channel,
// another) for a read index on behalf of the reads batched into one round.
func (m *Mode) readIndexRound() (uint64, error) {
	ctx, cancel := context.WithTimeout(m.ctx, m.timeouts().RequestTimeout)
	defer cancel()
	m.counters.followerRounds.Add(1)
	applied, _ := m.fsm.appliedIndex()
	return m.toLeader(ctx, fwdReadIndex, binary.BigEndian.AppendUint64(nil, applied))
}

// leaderReadIndex returns a commit index that covers every write
// acknowledged before the call, once this peer confirmed it still leads.
// A new leader first commits a barrier in its term, so its commit index
// covers the entries of earlier terms.
func (m *Mode) leaderReadIndex(ctx context.Context) (uint64, error) {
	r := m.raft.Load()
	if term := r.CurrentTerm(); m.termReady.Load() != term {
		_, err, _ := m.barriers.Do("barrier", func() (any, error) {
			term := r.CurrentTerm()
			if m.termReady.Load() == term {
				return nil, nil
			}
			if err := m.await(m.ctx, r.Barrier(m.timeouts().RequestTimeout)); err != nil {
				return nil, fmt.Errorf("barrier in term %d: %w", term, err)
			}
			m.termReady.Store(term)
			return nil, nil
		})
		if err != nil {
			return 0, err
		}
	}
	return m.verify.readIndex(ctx)
}

// verifyRound is one leadership confirmation shared by the reads waiting
// when it starts: the commit index is taken first, in a term this peer
// leads and has committed a barrier in, then a majority confirms the term
// (confirmTerm). request_timeout bounds the round, so that no round holds
// up the next for longer.
func (m *Mode) verifyRound() (uint64, error) {
	ctx, cancel := context.WithTimeout(m.ctx, m.timeouts().RequestTimeout)
	defer cancel()
	m.counters.leaderRounds.Add(1)
	r := m.raft.Load()
	term := r.CurrentTerm()
	idx := r.CommitIndex()
	if !leads(r, term) || m.termReady.Load() != term {
		return 0, fmt.Errorf("verify leadership in term %d: %w", term, raft.ErrLeadershipLost)
	}
	if err := m.confirmTerm(ctx, r, term); err != nil {
		return 0, fmt.Errorf("verify leadership: %w", err)
	}
	return m.lastStateIndex(idx), nil
}

// lastStateIndex returns the index of the last entry at or before idx that
// the FSM applies (a command or configuration): raft's no-op and barrier
// entries never reach the FSM, so a replica's applied index stops at the
// entry before them.
func (m *Mode) lastStateIndex(idx uint64) uint64 {
	for i := idx; i > 0; i-- {
		var l raft.Log
		if err := m.logs.GetLog(i, &l); err != nil {
			return i // compacted into a snapshot, which the FSM did apply
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return i
		}
	}
	return 0
}
