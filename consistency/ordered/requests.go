package ordered

import (
	"context"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/memcons/memcons/consistency"
)

// maxProposal bounds the encoded commands forwarded and appended as one
// group: a batch with more is proposed in several groups, one after
// another (a single larger command still goes alone).
const maxProposal = 4 << 20

// Do executes req: writes go through the log, reads through the read
// index (linearizable) or straight to the replica (sequential).
func (m *Mode) Do(ctx context.Context, req *consistency.Request) (consistency.Result, error) {
	var out [1]consistency.Outcome
	m.DoBatch(ctx, []consistency.Request{*req}, out[:])
	return out[0].Result, out[0].Err
}

// DoBatch executes reqs in order. Consecutive writes are proposed
// together: appended as consecutive log entries in one round (forwarded to
// the leader in one frame), then answered from this replica once it has
// applied them. Consecutive reads share one read index (linearizable),
// taken after the writes before them were applied here.
func (m *Mode) DoBatch(ctx context.Context, reqs []consistency.Request, outs []consistency.Outcome) {
	if m.raft.Load() == nil {
		for i := range outs {
			outs[i] = consistency.Outcome{Err: fmt.Errorf("%w: raft not started", consistency.ErrUnavailable)}
		}
		return
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeouts().RequestTimeout)
	defer cancel()
	now := m.cfg.Now().Unix()
	for i := 0; i < len(reqs); {
		if metaRead(&reqs[i]) {
			if res, done, err := m.metaRead(ctx, &reqs[i], now); done || err != nil {
				outs[i] = consistency.Outcome{Result: res, Err: err}
			} else {
				// The item is stale and its win not yet handed out: the
				// win is decided once for the cluster, by the log.
				m.writeBatch(ctx, reqs[i:i+1], outs[i:i+1], now)
			}
			i++
			continue
		}
		read := reqs[i].Op.IsRead()
		j := i + 1
		for j < len(reqs) && reqs[j].Op.IsRead() == read && !metaRead(&reqs[j]) {
			j++
		}
		if read {
			m.readBatch(ctx, reqs[i:j], outs[i:j], now)
		} else {
			m.writeBatch(ctx, reqs[i:j], outs[i:j], now)
		}
		i = j
	}
}

// metaRead reports whether req is an mg that is served as a read unless
// the item turns out stale (Mode.metaRead).
func metaRead(req *consistency.Request) bool {
	return req.Op == consistency.OpMetaGet && !req.Meta.Writes()
}

// writeBatch proposes a run of writes in groups of at most maxProposal
// encoded bytes and waits for this replica to apply each group.
func (m *Mode) writeBatch(ctx context.Context, reqs []consistency.Request, outs []consistency.Outcome, now int64) {
	var group []*command
	var idx []int // group[k] answers outs[idx[k]]
	size := 0
	flush := func() {
		if len(group) > 0 {
			res := m.propose(ctx, group)
			for k, o := range res {
				outs[idx[k]] = o
			}
		}
		group, idx, size = group[:0], idx[:0], 0
	}
	for i := range reqs {
		req := &reqs[i]
		switch req.Op {
		case consistency.OpGat, consistency.OpGats, consistency.OpFlushAll:
		default:
			if len(req.Keys) != 1 {
				outs[i] = consistency.Outcome{Err: fmt.Errorf("%s: want one key, got %d", req.Op, len(req.Keys))}
				continue
			}
		}
		c := &command{Kind: cmdRequest, Origin: m.incarnation, Seq: m.seq.Add(1), Now: now, Req: consistency.AbsoluteRequest(req, now)}
		n := len(req.Value) + 64
		for _, k := range req.Keys {
			n += len(k) + 2
		}
		if len(group) > 0 && size+n > maxProposal {
			flush()
		}
		group, idx, size = append(group, c), append(idx, i), size+n
	}
	flush()
}

// propose appends cmds to the log, in order, and waits until this peer's
// replica has applied them, returning the results the FSM computed here.
func (m *Mode) propose(ctx context.Context, cmds []*command) []consistency.Outcome {
	chans := make([]chan outcome, len(cmds))
	m.pmu.Lock()
	for i, c := range cmds {
		chans[i] = make(chan outcome, 1)
		m.pending[c.Seq] = chans[i]
	}
	m.pmu.Unlock()
	defer func() {
		m.pmu.Lock()
		for _, c := range cmds {
			delete(m.pending, c.Seq)
		}
		m.pmu.Unlock()
	}()
	outs := make([]consistency.Outcome, len(cmds))
	index, err := m.toLeader(ctx, fwdPropose, encodeProposal(cmds))
	if err != nil {
		for i, c := range cmds {
			outs[i].Err = fmt.Errorf("%s: %w", c.Req.Op, err)
		}
		return outs
	}
	for i, c := range cmds {
		select {
		case out := <-chans[i]:
			outs[i] = consistency.Outcome{Result: out.res, Err: out.err}
		case <-ctx.Done():
			applied, _ := m.fsm.appliedIndex()
			outs[i].Err = fmt.Errorf("%s: %w, %w: committed by index %d, replica applied only %d: %w",
				c.Req.Op, consistency.ErrUnavailable, consistency.ErrOutcomeUnknown, index, applied, ctx.Err())
		}
	}
	return outs
}

// deliver hands an applied outcome to the request of this run waiting for it.
func (m *Mode) deliver(origin, seq uint64, out outcome) {
	if origin != m.incarnation {
		return
	}
	m.pmu.Lock()
	ch := m.pending[seq]
	m.pmu.Unlock()
	if ch != nil {
		select {
		case ch <- out:
		default:
		}
	}
}

// errShuttingDown reports a raft future abandoned because the mode closes.
var errShuttingDown = fmt.Errorf("%w, %w", consistency.ErrUnavailable, consistency.ErrStopping)

// await waits for a raft future, or until ctx ends or the mode closes. raft
// answers every future except, rarely, one still queued in a buffered
// channel when it shuts down (verify, FSM batches); waiting for such a
// future must not hold up Close, so the wait runs on its own goroutine,
// which ends as soon as raft answers.
func (m *Mode) await(ctx context.Context, f raft.Future) error {
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return fmt.Errorf("outcome unknown: %w", ctx.Err())
	case <-m.ctx.Done():
		return fmt.Errorf("outcome unknown: %w", errShuttingDown)
	}
}
