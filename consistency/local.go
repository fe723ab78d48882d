package consistency

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/memcons/memcons/kvcontroller"
)

// LocalConfig configures a Local mode.
type LocalConfig struct {
	Kind        Kind             // the cluster's mode, reported by Kind()
	ItemSizeMax int              // largest value an append may produce; 0 = no bound
	Now         func() time.Time // clock; nil = time.Now
	Logger      *slog.Logger     // nil = discard
}

// Local executes requests against this peer's replica alone, with
// memcached's semantics. With one peer the three modes coincide, so Local
// serves a single-peer cluster in every mode; it is also the apply step the
// replicated modes build on.
type Local struct {
	cfg   LocalConfig
	store kvcontroller.Store
	clock *Clock
	locks *keyLocks

	flush DelayedFlush // pending delayed flush_all, if any
}

var _ Mode = (*Local)(nil)

// NewLocal returns a Local mode over store.
func NewLocal(store kvcontroller.Store, cfg LocalConfig) *Local {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Local{cfg: cfg, store: store, clock: NewClock(cfg.Now), locks: newKeyLocks()}
}

// Kind returns the cluster's mode.
func (l *Local) Kind() Kind { return l.cfg.Kind }

// Role returns "standalone": this peer answers from its own replica.
func (l *Local) Role() string { return "standalone" }

// Progress returns the last version this peer issued.
func (l *Local) Progress() string { return "version " + strconv.FormatUint(l.clock.Last(), 10) }

// Close cancels a pending delayed flush_all and waits for a running one.
func (l *Local) Close() error {
	l.flush.Close()
	return nil
}

// Do executes req on the local replica.
func (l *Local) Do(ctx context.Context, req *Request) (Result, error) {
	now := l.cfg.Now().Unix()
	switch req.Op {
	case OpGet, OpGets:
		return l.get(ctx, req.Keys, now)
	case OpGat, OpGats:
		return l.getAndTouch(ctx, req, now)
	case OpFlushAll:
		return l.flushAll(ctx, req.Exptime, now)
	}
	if len(req.Keys) != 1 {
		return Result{}, fmt.Errorf("%s: want one key, got %d", req.Op, len(req.Keys))
	}
	abs := *req
	abs.Exptime = AbsoluteExptime(req.Exptime, now)
	// Every write holds its key's lock, so a set cannot land between another
	// command's read and write of the same key.
	unlock := l.locks.lock(req.Keys[0])
	defer unlock()
	if abs.Op == OpSet {
		// A plain set does not depend on the current item: no read needed.
		return l.write(ctx, &abs, nil, now)
	}
	cur, err := l.live(ctx, req.Keys[0], now)
	if err != nil {
		return Result{}, err
	}
	return l.write(ctx, &abs, cur, now)
}

// live returns key's live item, or nil.
func (l *Local) live(ctx context.Context, key string, now int64) (*kvcontroller.Item, error) {
	return ReadLive(ctx, l.store, key, now)
}

// write applies req to cur and stores the effect.
func (l *Local) write(ctx context.Context, req *Request, cur *kvcontroller.Item, now int64) (Result, error) {
	eff, res, err := ApplyWrite(req, cur, now, l.clock.Now(), l.cfg.ItemSizeMax)
	if err != nil {
		return Result{}, err
	}
	if err := l.commit(ctx, eff); err != nil {
		return Result{}, err
	}
	return res, nil
}

// commit carries out an effect on the store.
func (l *Local) commit(ctx context.Context, eff Effect) error {
	return CommitEffect(ctx, l.store, eff)
}

// get returns the live items among keys, in request order.
func (l *Local) get(ctx context.Context, keys []string, now int64) (Result, error) {
	return ReadLiveMulti(ctx, l.store, keys, now)
}

// getAndTouch returns the live items among req.Keys after giving each the
// new expiry.
func (l *Local) getAndTouch(ctx context.Context, req *Request, now int64) (Result, error) {
	exptime := AbsoluteExptime(req.Exptime, now)
	var items []kvcontroller.Item
	for _, key := range req.Keys {
		it, err := l.touchOne(ctx, key, exptime, now)
		if err != nil {
			return Result{}, err
		}
		if it != nil {
			items = append(items, *it)
		}
	}
	return Result{Items: items}, nil
}

func (l *Local) touchOne(ctx context.Context, key string, exptime, now int64) (*kvcontroller.Item, error) {
	unlock := l.locks.lock(key)
	defer unlock()
	cur, err := l.live(ctx, key, now)
	if err != nil || cur == nil {
		return nil, err
	}
	touch := Request{Op: OpTouch, Keys: []string{key}, Exptime: exptime}
	eff, _, err := ApplyWrite(&touch, cur, now, cur.Version, l.cfg.ItemSizeMax)
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
func (l *Local) flushAll(ctx context.Context, delay, now int64) (Result, error) {
	at := AbsoluteExptime(delay, now)
	if at > now {
		if err := l.flush.Schedule(time.Duration(at-now)*time.Second, l.delayedFlush); err != nil {
			return Result{}, err
		}
		return Result{Status: StatusOK}, nil
	}
	l.flush.Cancel()
	if err := l.store.FlushAll(ctx); err != nil {
		return Result{}, fmt.Errorf("flush_all: %w", err)
	}
	return Result{Status: StatusOK}, nil
}

// delayedFlush empties the replica when a scheduled flush_all falls due.
func (l *Local) delayedFlush() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.store.FlushAll(ctx); err != nil {
		l.cfg.Logger.Error("delayed flush_all failed", "err", err)
	}
}
