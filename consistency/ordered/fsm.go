package ordered

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"golang.org/x/sync/errgroup"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/instrument"
	"github.com/memcons/memcons/kvcontroller"
)

// applyRetries is how often the FSM tries a failing store call before it
// gives up on that entry (and logs that the replica may now differ).
const applyRetries = 3

// applyWriters bounds the replica writes one batch of entries makes at
// once: a connection's pipeline of sets arrives as one batch, and the
// replica client pipelines concurrent writes on its connections.
const applyWriters = 64

// outcome is the result of applying one client write.
type outcome struct {
	res consistency.Result
	err error
}

// AppliedEntry is one log entry as the FSM applied it, for Config.OnApply.
type AppliedEntry struct {
	Index uint64
	Op    consistency.Op
	Keys  []string
}

// fsm applies committed log entries to the local replica, in log order.
// raft calls ApplyBatch, Snapshot and Restore from one goroutine; the
// fields under mu are also read by request goroutines.
type fsm struct {
	store       kvcontroller.Store
	itemSizeMax int
	log         *slog.Logger
	ctx         context.Context // cancelled when the mode closes
	storeWait   time.Duration   // bound on one store call
	spoolDir    string          // where Snapshot dumps the replica; "" = os.TempDir()
	// deliver hands the outcome of a write proposed by this mode to its
	// waiting request; origin and seq identify it.
	deliver func(origin, seq uint64, out outcome)
	onApply func(AppliedEntry)
	inst    Instruments // apply and snapshot latencies
	// committed, when set, is called as each batch of committed entries
	// arrives, before any is applied.
	committed func()

	// restoring is write-locked while Restore empties and reloads the
	// replica; local reads hold it for reading so none sees a half-loaded
	// replica.
	restoring sync.RWMutex

	mu           sync.Mutex    // guards the fields below
	applied      uint64        // last log index applied to the replica
	changed      chan struct{} // closed and replaced whenever applied grows
	pendingFlush int64         // unix time of a delayed flush_all, 0 if none
}

var (
	_ raft.FSM         = (*fsm)(nil)
	_ raft.BatchingFSM = (*fsm)(nil)
)

// init prepares an fsm whose configuration fields are set.
func (f *fsm) init() *fsm {
	f.changed = make(chan struct{})
	return f
}

// Apply applies one entry; raft uses ApplyBatch instead.
func (f *fsm) Apply(l *raft.Log) interface{} { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies committed entries in order and then publishes the
// last index as applied. Runs of single-key writes are applied together
// (see applyRun); the rest one by one. Outcomes of this peer's own writes go
// straight to their waiting requests.
func (f *fsm) ApplyBatch(logs []*raft.Log) []interface{} {
	defer instrument.Since(f.inst.Apply, time.Now())
	if f.committed != nil {
		f.committed()
	}
	out := make([]interface{}, len(logs))
	var run []runEntry
	for _, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		c, err := decodeCommand(l.Data)
		if err != nil {
			f.log.Error("skipping undecodable log entry", "index", l.Index, "err", err)
			continue
		}
		if f.batchable(&c) {
			run = append(run, runEntry{index: l.Index, cmd: c})
			continue
		}
		run = f.applyRun(run)
		res, err := f.applyCommand(l.Index, &c)
		f.finish(l.Index, &c, outcome{res: res, err: err})
	}
	f.applyRun(run)
	if len(logs) > 0 {
		f.setApplied(logs[len(logs)-1].Index)
	}
	return out
}

// runEntry is one decoded log entry waiting in a run.
type runEntry struct {
	index uint64
	cmd   command
}

// finish hands an applied entry's outcome to its waiting request and to
// the OnApply hook.
func (f *fsm) finish(index uint64, c *command, out outcome) {
	if c.Kind != cmdRequest {
		return
	}
	if c.Origin != 0 {
		f.deliver(c.Origin, c.Seq, out)
	}
	if f.onApply != nil {
		f.onApply(AppliedEntry{Index: index, Op: c.Req.Op, Keys: c.Req.Keys})
	}
}

// batchable reports whether c is a single-key write that applyRun can
// apply together with its neighbours: not flush_all or gat, and not the
// entry at which a delayed flush_all falls due.
func (f *fsm) batchable(c *command) bool {
	if c.Kind != cmdRequest || len(c.Req.Keys) != 1 {
		return false
	}
	switch c.Req.Op {
	case consistency.OpFlushAll, consistency.OpGat, consistency.OpGats, consistency.OpGet, consistency.OpGets:
		return false
	}
	at := f.nextFlush()
	return at == 0 || c.Now < at
}

// applyRun applies a run of single-key writes with one replica read for
// all their keys and one write per key touched, instead of a read and a
// write per entry: each entry is computed in log order against the run's
// in-memory view of its key, and only each key's final state is written
// (concurrently). Outcomes are delivered once the replica holds them. It
// returns run emptied for reuse.
func (f *fsm) applyRun(run []runEntry) []runEntry {
	if len(run) == 0 {
		return run
	}
	// What the replica holds for every key the run reads, live or not.
	view := map[string]*kvcontroller.Item{}
	var reads []string
	for i := range run {
		key := run[i].cmd.Req.Keys[0]
		if _, seen := view[key]; !seen && run[i].cmd.Req.Op != consistency.OpSet {
			reads = append(reads, key)
		}
		view[key] = nil
	}
	if len(reads) > 0 {
		var found map[string]kvcontroller.Item
		err := f.retry("read", func(ctx context.Context) error {
			var err error
			found, err = f.store.GetMulti(ctx, reads)
			return err
		})
		if err != nil {
			for i := range run {
				f.finish(run[i].index, &run[i].cmd, outcome{err: fmt.Errorf("read %d keys: %w", len(reads), err)})
			}
			return run[:0]
		}
		for k, it := range found {
			view[k] = &it
		}
	}

	outs := make([]outcome, len(run))
	final := map[string]consistency.Effect{}
	var order []string // keys in final, in first-written order
	for i := range run {
		c := &run[i].cmd
		key := c.Req.Keys[0]
		var cur *kvcontroller.Item
		if it := view[key]; it != nil && consistency.Live(*it, c.Now) {
			cur = it
		}
		eff, res, err := consistency.ApplyWrite(&c.Req, cur, c.Now, run[i].index, f.itemSizeMax)
		outs[i] = outcome{res: res, err: err}
		if err != nil || eff.Kind == consistency.EffectNone {
			continue
		}
		if _, ok := final[key]; !ok {
			order = append(order, key)
		}
		final[key] = eff
		if eff.Kind == consistency.EffectPut {
			it := eff.Item
			view[key] = &it
		} else {
			view[key] = nil
		}
	}

	failed := make([]error, len(order))
	var g errgroup.Group
	g.SetLimit(applyWriters)
	for n, key := range order {
		g.Go(func() error {
			failed[n] = f.commit(final[key])
			return nil
		})
	}
	_ = g.Wait()
	errs := map[string]error{}
	for n, key := range order {
		if failed[n] != nil {
			errs[key] = failed[n]
		}
	}
	for i := range run {
		if err := errs[run[i].cmd.Req.Keys[0]]; err != nil && outs[i].err == nil {
			outs[i] = outcome{err: err}
		}
		f.finish(run[i].index, &run[i].cmd, outs[i])
	}
	return run[:0]
}

func (f *fsm) setApplied(index uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = index
	close(f.changed)
	f.changed = make(chan struct{})
}

// appliedIndex returns the last applied index and a channel closed when it
// next grows.
func (f *fsm) appliedIndex() (uint64, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied, f.changed
}

// waitApplied blocks until index is applied or ctx ends.
func (f *fsm) waitApplied(ctx context.Context, index uint64) error {
	for {
		applied, changed := f.appliedIndex()
		if applied >= index {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%w: replica applied index %d, waiting for %d: %w",
				consistency.ErrUnavailable, applied, index, ctx.Err())
		}
	}
}

// flushDue reports whether a delayed flush_all is due at now but not yet
// applied: every item in the replica then predates it and is invisible.
func (f *fsm) flushDue(now int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pendingFlush != 0 && now >= f.pendingFlush
}

// nextFlush returns the pending delayed flush_all time, 0 if none.
func (f *fsm) nextFlush() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pendingFlush
}

func (f *fsm) setPendingFlush(at int64) {
	f.mu.Lock()
	f.pendingFlush = at
	f.mu.Unlock()
}

// applyCommand applies one entry at log index to the replica.
func (f *fsm) applyCommand(index uint64, c *command) (consistency.Result, error) {
	now := c.Now
	if at := f.nextFlush(); at != 0 && now >= at {
		if err := f.retry("delayed flush_all", func(ctx context.Context) error { return f.store.FlushAll(ctx) }); err != nil {
			f.log.Error("delayed flush_all failed; replica may differ", "index", index, "err", err)
		}
		f.setPendingFlush(0)
	}
	if c.Kind != cmdRequest {
		return consistency.Result{}, nil
	}
	req := &c.Req
	switch req.Op {
	case consistency.OpFlushAll:
		if req.Exptime > now {
			f.setPendingFlush(req.Exptime)
			return consistency.Result{Status: consistency.StatusOK}, nil
		}
		f.setPendingFlush(0)
		if err := f.retry("flush_all", func(ctx context.Context) error { return f.store.FlushAll(ctx) }); err != nil {
			return consistency.Result{}, err
		}
		return consistency.Result{Status: consistency.StatusOK}, nil
	case consistency.OpGat, consistency.OpGats:
		var items []consistency.Item
		for _, key := range req.Keys {
			it, err := f.touch(key, req.Exptime, now)
			if err != nil {
				return consistency.Result{}, err
			}
			if it != nil {
				items = append(items, consistency.HitOf(*it))
			}
		}
		return consistency.Result{Items: items}, nil
	}
	if len(req.Keys) != 1 {
		return consistency.Result{}, fmt.Errorf("%s: want one key, got %d", req.Op, len(req.Keys))
	}
	var cur *kvcontroller.Item
	if req.Op != consistency.OpSet {
		var err error
		if cur, err = f.live(req.Keys[0], now); err != nil {
			return consistency.Result{}, err
		}
	}
	eff, res, err := consistency.ApplyWrite(req, cur, now, index, f.itemSizeMax)
	if err != nil {
		return consistency.Result{}, err
	}
	if err := f.commit(eff); err != nil {
		return consistency.Result{}, err
	}
	return res, nil
}

// touch gives key's live item the new expiry and returns it, or nil.
func (f *fsm) touch(key string, exptime, now int64) (*kvcontroller.Item, error) {
	cur, err := f.live(key, now)
	if err != nil || cur == nil {
		return nil, err
	}
	touch := consistency.Request{Op: consistency.OpTouch, Keys: []string{key}, Exptime: exptime}
	eff, _, err := consistency.ApplyWrite(&touch, cur, now, cur.Version, f.itemSizeMax)
	if err != nil {
		return nil, err
	}
	if err := f.commit(eff); err != nil {
		return nil, err
	}
	cur.Exptime = exptime
	return cur, nil
}

func (f *fsm) live(key string, now int64) (*kvcontroller.Item, error) {
	var cur *kvcontroller.Item
	err := f.retry("read", func(ctx context.Context) error {
		var err error
		cur, err = consistency.ReadLive(ctx, f.store, key, now)
		return err
	})
	return cur, err
}

func (f *fsm) commit(eff consistency.Effect) error {
	return f.retry("write", func(ctx context.Context) error { return consistency.CommitEffect(ctx, f.store, eff) })
}

// retry runs a store call up to applyRetries times, each bounded by
// storeWait; an entry must not be skipped for a passing hiccup.
func (f *fsm) retry(what string, call func(ctx context.Context) error) error {
	var err error
	for attempt := range applyRetries {
		ctx, cancel := context.WithTimeout(f.ctx, f.storeWait)
		err = call(ctx)
		cancel()
		if err == nil || errors.Is(err, consistency.ErrTooLarge) || f.ctx.Err() != nil {
			return err
		}
		f.log.Warn("replica call failed while applying the log", "call", what, "attempt", attempt+1, "err", err)
		select {
		case <-f.ctx.Done():
		case <-time.After(time.Duration(attempt+1) * 50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s after %d attempts: %w", what, applyRetries, err)
}
