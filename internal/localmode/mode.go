// Package localmode is a one-peer consistency.Mode over a store, for tests
// of the controller and the apply step: with one peer the three modes
// coincide. No peer runs it.
package localmode

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/kvcontroller"
)

// Config configures a Mode.
type Config struct {
	Kind        consistency.Kind // the cluster's mode, reported by Kind()
	ItemSizeMax int              // largest value an append may produce; 0 = no bound
	Now         func() time.Time // clock; nil = time.Now
	Logger      *slog.Logger     // nil = discard
}

// Mode executes requests against one replica alone, with memcached's
// semantics, through the same apply step (consistency.ApplyWrite) the
// replicated modes use.
type Mode struct {
	cfg   Config
	store kvcontroller.Store
	clock *Clock
	locks *consistency.KeyLocks

	flush consistency.DelayedFlush // pending delayed flush_all, if any
}

var _ consistency.Mode = (*Mode)(nil)

// New returns a Mode over store.
func New(store kvcontroller.Store, cfg Config) *Mode {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Mode{cfg: cfg, store: store, clock: NewClock(cfg.Now), locks: consistency.NewKeyLocks()}
}

// consistency.Kind returns the cluster's mode.
func (l *Mode) Kind() consistency.Kind { return l.cfg.Kind }

// Role returns "standalone": this peer answers from its own replica.
func (l *Mode) Role() string { return "standalone" }

// Progress returns the last version this peer issued.
func (l *Mode) Progress() string { return "version " + strconv.FormatUint(l.clock.Last(), 10) }

// Details reports nothing beyond Role and Progress.
func (l *Mode) Details() []consistency.Detail { return nil }

// Start does nothing: one peer has nobody to join.
func (l *Mode) Start(context.Context) error { return nil }

// Close cancels a pending delayed flush_all and waits for a running one.
func (l *Mode) Close() error {
	l.flush.Close()
	return nil
}

// DoBatch executes reqs in order through Do.
func (l *Mode) DoBatch(ctx context.Context, reqs []consistency.Request, outs []consistency.Outcome) {
	consistency.DoEach(ctx, l.Do, reqs, outs)
}

// Do executes req on the local replica.
func (l *Mode) Do(ctx context.Context, req *consistency.Request) (consistency.Result, error) {
	now := l.cfg.Now().Unix()
	switch req.Op {
	case consistency.OpGet, consistency.OpGets:
		return l.get(ctx, req.Keys, now)
	case consistency.OpGat, consistency.OpGats:
		return l.getAndTouch(ctx, req, now)
	case consistency.OpFlushAll:
		return l.flushAll(ctx, req.Exptime, now)
	}
	if len(req.Keys) != 1 {
		return consistency.Result{}, fmt.Errorf("%s: want one key, got %d", req.Op, len(req.Keys))
	}
	abs := consistency.AbsoluteRequest(req, now)
	// Every write holds its key's lock, so a set cannot land between another
	// command's read and write of the same key.
	unlock := l.locks.Lock(req.Keys[0])
	defer unlock()
	if abs.Op == consistency.OpSet {
		// A plain set does not depend on the current item: no read needed.
		return l.write(ctx, &abs, nil, now)
	}
	cur, err := l.live(ctx, req.Keys[0], now)
	if err != nil {
		return consistency.Result{}, err
	}
	return l.write(ctx, &abs, cur, now)
}

// live returns key's live item, or nil.
func (l *Mode) live(ctx context.Context, key string, now int64) (*kvcontroller.Item, error) {
	return consistency.ReadLive(ctx, l.store, key, now)
}

// write applies req to cur and stores the effect.
func (l *Mode) write(ctx context.Context, req *consistency.Request, cur *kvcontroller.Item, now int64) (consistency.Result, error) {
	eff, res, err := consistency.ApplyWrite(req, cur, now, l.clock.Now(), l.cfg.ItemSizeMax)
	if err != nil {
		return consistency.Result{}, err
	}
	if err := l.commit(ctx, eff); err != nil {
		return consistency.Result{}, err
	}
	return res, nil
}

// commit carries out an effect on the store.
func (l *Mode) commit(ctx context.Context, eff consistency.Effect) error {
	return consistency.CommitEffect(ctx, l.store, eff)
}

// get returns the live items among keys, in request order.
func (l *Mode) get(ctx context.Context, keys []string, now int64) (consistency.Result, error) {
	return consistency.ReadLiveMulti(ctx, l.store, keys, now)
}

// getAndTouch returns the live items among req.Keys after giving each the
// new expiry.
func (l *Mode) getAndTouch(ctx context.Context, req *consistency.Request, now int64) (consistency.Result, error) {
	exptime := consistency.AbsoluteExptime(req.Exptime, now)
	var items []consistency.Item
	for _, key := range req.Keys {
		it, err := l.touchOne(ctx, key, exptime, now)
		if err != nil {
			return consistency.Result{}, err
		}
		if it != nil {
			items = append(items, consistency.HitOf(*it))
		}
	}
	return consistency.Result{Items: items}, nil
}

func (l *Mode) touchOne(ctx context.Context, key string, exptime, now int64) (*kvcontroller.Item, error) {
	unlock := l.locks.Lock(key)
	defer unlock()
	cur, err := l.live(ctx, key, now)
	if err != nil || cur == nil {
		return nil, err
	}
	touch := consistency.Request{Op: consistency.OpTouch, Keys: []string{key}, Exptime: exptime}
	eff, _, err := consistency.ApplyWrite(&touch, cur, now, cur.Version, l.cfg.ItemSizeMax)
	if err != nil {
		return nil, err
	}
	if err := l.commit(ctx, eff); err != nil {
		return nil, err
	}
	cur.Exptime = exptime
	return cur, nil
}

// flushAll empties the replica now, or schedules it after delay seconds; a
// later flush_all replaces a pending one, as in memcached.
func (l *Mode) flushAll(ctx context.Context, delay, now int64) (consistency.Result, error) {
	at := consistency.AbsoluteExptime(delay, now)
	if at > now {
		if err := l.flush.Schedule(time.Duration(at-now)*time.Second, l.delayedFlush); err != nil {
			return consistency.Result{}, err
		}
		return consistency.Result{Status: consistency.StatusOK}, nil
	}
	l.flush.Cancel()
	if err := l.store.FlushAll(ctx); err != nil {
		return consistency.Result{}, fmt.Errorf("flush_all: %w", err)
	}
	return consistency.Result{Status: consistency.StatusOK}, nil
}

// delayedFlush empties the replica when a scheduled flush_all falls due.
func (l *Mode) delayedFlush() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.store.FlushAll(ctx); err != nil {
		l.cfg.Logger.Error("delayed flush_all failed", "err", err)
	}
}
