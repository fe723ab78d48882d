package ordered

import (
	"context"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/memcons/memcons/consistency"
)

// Do executes req: writes go through the log, reads through the read
// index (linearizable) or straight to the replica (sequential).
func (m *Mode) Do(ctx context.Context, req *consistency.Request) (consistency.Result, error) {
	if m.raft.Load() == nil {
		return consistency.Result{}, fmt.Errorf("%w: raft not started", consistency.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	now := m.cfg.Now().Unix()
	if req.Op.IsRead() {
		return m.read(ctx, req, now)
	}
	switch req.Op {
	case consistency.OpGat, consistency.OpGats, consistency.OpFlushAll:
	default:
		if len(req.Keys) != 1 {
			return consistency.Result{}, fmt.Errorf("%s: want one key, got %d", req.Op, len(req.Keys))
		}
	}
	c := command{Kind: cmdRequest, Origin: m.incarnation, Seq: m.seq.Add(1), Now: now, Req: *req}
	c.Req.Exptime = consistency.AbsoluteExptime(req.Exptime, now)
	return m.propose(ctx, &c)
}

// propose appends c to the log and waits until this peer's replica has
// applied it, returning the result the FSM computed here.
func (m *Mode) propose(ctx context.Context, c *command) (consistency.Result, error) {
	ch := make(chan outcome, 1)
	m.pmu.Lock()
	m.pending[c.Seq] = ch
	m.pmu.Unlock()
	defer func() {
		m.pmu.Lock()
		delete(m.pending, c.Seq)
		m.pmu.Unlock()
	}()
	index, err := m.toLeader(ctx, fwdPropose, c.encode(nil))
	if err != nil {
		return consistency.Result{}, fmt.Errorf("%s: %w", c.Req.Op, err)
	}
	select {
	case out := <-ch:
		return out.res, out.err
	case <-ctx.Done():
		applied, _ := m.fsm.appliedIndex()
		return consistency.Result{}, fmt.Errorf("%s: %w, %w: committed at index %d, replica applied only %d: %w",
			c.Req.Op, consistency.ErrUnavailable, consistency.ErrOutcomeUnknown, index, applied, ctx.Err())
	}
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
