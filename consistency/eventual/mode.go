// Package eventual is the eventual consistency mode: every write is applied
// to the local replica and acknowledged at once, pushed to the other peers
// in batches, and repaired by periodic anti-entropy sync; replicas converge
// to the write with the greatest version (HLC timestamp, then peer name).
package eventual

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/kvcontroller"
	"github.com/memcons/memcons/peer"
)

// syncChannel is the peer-port channel that carries pushes and syncs.
const syncChannel = peer.ChannelSync

// Mode is eventual mode on one peer. It is safe for concurrent use.
type Mode struct {
	cfg   Config
	live  atomic.Pointer[Tuning] // cfg's push and sync tuning, replaced by SetTuning
	opts  Options
	store kvcontroller.Store
	clock *versionClock
	locks *consistency.KeyLocks
	log   *recentLog
	tombs *tombSet
	epoch uint64 // names this process's recent-write log in cursors

	links    map[string]*link // one per other peer
	order    []string         // other peers' names, sorted
	ordinals map[string]int   // every peer's ordinal, the low bits of its versions

	// clockAhead is set once the clock has observed every version in the
	// replica (at once for an empty one, after a scan for an intact one):
	// from then on a plain set needs no read to issue a winning version.
	clockAhead atomic.Bool

	flushMu   sync.Mutex    // serialises flushes
	flushMark atomic.Uint64 // writes below this version were flushed

	stateMu   sync.Mutex // guards replicaID and writes of the state file
	replicaID string     // value of the marker item in this replica

	ctx    context.Context    // cancelled by Close
	cancel context.CancelFunc // cancels ctx
	wg     sync.WaitGroup     // link loops, maintenance, delayed flushes
	conns  peer.ConnSet       // sync connections in both directions

	flush consistency.DelayedFlush // pending delayed flush_all, if any

	startOnce sync.Once
	closeOnce sync.Once
}

var _ consistency.Mode = (*Mode)(nil)

// New returns an eventual Mode over store; Start begins push and sync.
func New(store kvcontroller.Store, cfg Config, opts Options) (*Mode, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ordinals, err := opts.validate()
	if err != nil {
		return nil, err
	}
	epoch, err := randomUint64()
	if err != nil {
		return nil, fmt.Errorf("choose epoch: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mode{
		cfg:      cfg,
		opts:     opts,
		store:    store,
		clock:    &versionClock{now: opts.Now, ordinal: ordinals[opts.Self]},
		locks:    consistency.NewKeyLocks(),
		log:      newRecentLog(cfg.RecentLogSize),
		tombs:    newTombSet(cfg.RecentLogSize),
		epoch:    epoch,
		links:    make(map[string]*link),
		ordinals: ordinals,
		ctx:      ctx,
		cancel:   cancel,
	}
	for _, p := range opts.Peers {
		if p != opts.Self {
			m.links[p] = newLink(p, m.opts.Now())
			m.order = append(m.order, p)
		}
	}
	m.live.Store(&Tuning{SyncInterval: cfg.SyncInterval, PushBatch: cfg.PushBatch, PushDelay: cfg.PushDelay})
	slices.Sort(m.order)
	if opts.Trans != nil {
		opts.Trans.Handle(syncChannel, m.serveConn)
	}
	return m, nil
}

// Kind returns consistency.Eventual.
func (m *Mode) Kind() consistency.Kind { return consistency.Eventual }

// Role returns "catching up" until this peer has completed a sync with every
// other peer that is up, then "peer".
func (m *Mode) Role() string {
	for _, name := range m.order {
		l := m.links[name]
		l.mu.Lock()
		done, tried, up := l.synced, l.attempts > 0, l.up
		l.mu.Unlock()
		if !done && (!tried || up) {
			return "catching up"
		}
	}
	return "peer"
}

// Progress returns when this peer last completed a sync with any peer (the
// last version it issued or saw, in a cluster of one).
func (m *Mode) Progress() string {
	if len(m.links) == 0 {
		return "version " + strconv.FormatUint(m.clock.current(), 10)
	}
	var last time.Time
	for _, l := range m.links {
		l.mu.Lock()
		if l.lastSync.After(last) {
			last = l.lastSync
		}
		l.mu.Unlock()
	}
	if last.IsZero() {
		return "never synced"
	}
	return "synced " + last.Format("15:04:05.000")
}

// Details reports, per other peer, the last sync time, the pending pushes,
// the pushes dropped on a full queue, and the items and bytes the last sync
// brought; each value reads "peer2=x peer3=y".
func (m *Mode) Details() []consistency.Detail {
	var lastSync, pending, dropped, items, bytes []string
	for _, name := range m.order {
		l := m.links[name]
		l.mu.Lock()
		t := "never"
		if !l.lastSync.IsZero() {
			t = l.lastSync.Format("15:04:05.000")
		}
		lastSync = append(lastSync, name+"="+t)
		pending = append(pending, fmt.Sprintf("%s=%d", name, len(l.queue)))
		dropped = append(dropped, fmt.Sprintf("%s=%d", name, l.dropped))
		items = append(items, fmt.Sprintf("%s=%d", name, l.syncItems))
		bytes = append(bytes, fmt.Sprintf("%s=%d", name, l.syncBytes))
		l.mu.Unlock()
	}
	return []consistency.Detail{
		{Key: "last_sync", Value: strings.Join(lastSync, " ")},
		{Key: "pending_push", Value: strings.Join(pending, " ")},
		{Key: "push_dropped", Value: strings.Join(dropped, " ")},
		{Key: "sync_items", Value: strings.Join(items, " ")},
		{Key: "sync_bytes", Value: strings.Join(bytes, " ")},
	}
}

// Close stops push, sync and delayed flushes, closes every sync connection
// and waits for the goroutines. It is safe to call twice.
func (m *Mode) Close() error {
	m.closeOnce.Do(func() {
		m.startOnce.Do(func() {}) // a later Start does nothing
		m.flush.Close()
		m.cancel()
		m.conns.CloseAll()
		m.wg.Wait()
	})
	return nil
}

// Do executes req on the local replica and queues the resulting write for
// the other peers.
func (m *Mode) Do(ctx context.Context, req *consistency.Request) (consistency.Result, error) {
	now := m.opts.Now().Unix()
	switch req.Op {
	case consistency.OpGet, consistency.OpGets:
		return consistency.ReadLiveMulti(ctx, m.store, req.Keys, now)
	case consistency.OpGat, consistency.OpGats:
		return m.getAndTouch(ctx, req, now)
	case consistency.OpFlushAll:
		return m.flushAll(ctx, req.Exptime, now)
	}
	if len(req.Keys) != 1 {
		return consistency.Result{}, fmt.Errorf("%s: want one key, got %d", req.Op, len(req.Keys))
	}
	abs := consistency.AbsoluteRequest(req, now)
	key := req.Keys[0]

	unlock := m.locks.Lock(key)
	var cur *kvcontroller.Item
	if abs.Op != consistency.OpSet || !m.clockAhead.Load() {
		var err error
		if cur, err = m.read(ctx, key); err != nil {
			unlock()
			return consistency.Result{}, err
		}
	}
	var live *kvcontroller.Item
	if cur != nil {
		// A new version must exceed what the replica holds, even an item
		// written before this process started.
		m.clock.observe(expiryStamp(*cur))
		if consistency.Live(*cur, now) {
			live = cur
		}
	}
	version := m.clock.next()
	eff, res, err := consistency.ApplyWrite(&abs, live, now, version, m.opts.ItemSizeMax)
	if err != nil || eff.Kind == consistency.EffectNone {
		unlock()
		return res, err
	}
	item, err := m.replicate(ctx, abs.Op, eff, key, version, unlock)
	if err != nil {
		return consistency.Result{}, err
	}
	if len(res.Items) == 1 && !item.Tombstone {
		// A meta command reports the item as replicated: a value write
		// carries its new unique here, an mg's touch or win the kept one.
		res.Items[0].Version = item.Version
	}
	return res, nil
}

// replicate stores eff's result with version (a tombstone for a delete),
// releases the key's lock with unlock, and queues the item for the other
// peers. A touch (op) stamps only the expiry with version: the item keeps
// its value's version, its CAS unique.
func (m *Mode) replicate(ctx context.Context, op consistency.Op, eff consistency.Effect, key string, version uint64, unlock func()) (kvcontroller.Item, error) {
	item := eff.Item
	// A touch, and an mg that touched or handed out a win on an item it
	// found (ApplyWrite kept the item's unique), change the expiry register
	// only: the value and its unique stay, as memcached keeps the CAS.
	if op == consistency.OpTouch || (op == consistency.OpMetaGet && item.Version != version) {
		item.ExpiryVersion = version
	} else {
		item.Version, item.ExpiryVersion = version, 0
	}
	if eff.Kind == consistency.EffectDelete {
		item = tombstone(key, version)
	}
	evicted, err := m.commitLocked(ctx, item)
	unlock()
	if err != nil {
		return kvcontroller.Item{}, err
	}
	m.push(pushEntry{item: item})
	m.dropTombs(evicted)
	return item, nil
}

func tombstone(key string, version uint64) kvcontroller.Item {
	return kvcontroller.Item{Key: key, Version: version, Tombstone: true}
}

// read returns key's item in the replica, tombstones included, or nil.
func (m *Mode) read(ctx context.Context, key string) (*kvcontroller.Item, error) {
	it, err := m.store.Get(ctx, key)
	switch {
	case errors.Is(err, kvcontroller.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read %q: %w", key, err)
	}
	return &it, nil
}

// commitLocked stores item, logs it and tracks tombstones; the caller holds
// the key's lock. It returns tombstones evicted to keep their number bounded.
func (m *Mode) commitLocked(ctx context.Context, item kvcontroller.Item) ([]tomb, error) {
	if err := consistency.StoreItem(ctx, m.store, item); err != nil {
		return nil, err
	}
	return m.storedLocked(ctx, item)
}

// storedLocked does the bookkeeping after item was stored: the log entry,
// tombstone tracking, and undoing a write that a concurrent flush covers.
func (m *Mode) storedLocked(ctx context.Context, item kvcontroller.Item) ([]tomb, error) {
	if item.Version < m.flushMark.Load() {
		// A flush newer than this write started meanwhile and may have
		// listed the replica before the write landed: undo it here, as every
		// other replica refuses it.
		if err := m.store.Delete(ctx, item.Key); err != nil && !errors.Is(err, kvcontroller.ErrNotFound) {
			return nil, fmt.Errorf("delete flushed %q: %w", item.Key, err)
		}
		return nil, nil
	}
	seq := m.log.add(item.Key)
	if item.Tombstone {
		return m.tombs.add(tomb{key: item.Key, version: item.Version, seq: seq}), nil
	}
	m.tombs.forget(item.Key)
	return nil, nil
}

// applyRemote stores a write received from another peer if it is newer than
// what the replica holds for its key; it reports whether it did.
func (m *Mode) applyRemote(ctx context.Context, it kvcontroller.Item) (bool, error) {
	n, err := m.applyRemoteBatch(ctx, []kvcontroller.Item{it})
	return n == 1, err
}

// applyChunk bounds how many keys one step of applyRemoteBatch locks.
const applyChunk = 64

// applyRemoteBatch stores every write received from another peer that is
// newer than what the replica holds for its key (and not older than the
// flush mark); it returns how many it stored. A chunk of keys is locked at
// once, so one read and concurrent writes serve the whole chunk.
func (m *Mode) applyRemoteBatch(ctx context.Context, items []kvcontroller.Item) (int, error) {
	mark := m.flushMark.Load()
	now := m.opts.Now().Unix()
	newest := make(map[string]kvcontroller.Item, len(items))
	var keys []string
	for _, it := range items {
		m.clock.observe(expiryStamp(it))
		if it.Key == markerKey || it.Version < mark {
			continue
		}
		if it.Tombstone || it.Exptime != 0 && it.Exptime <= now {
			// An expired write is as good as a delete with its versions.
			it = expiredTomb(it)
		}
		old, seen := newest[it.Key]
		if !seen {
			keys = append(keys, it.Key)
			newest[it.Key] = it
			continue
		}
		newest[it.Key], _ = Merge(old, it)
	}
	applied := 0
	for start := 0; start < len(keys); start += applyChunk {
		chunk := keys[start:min(start+applyChunk, len(keys))]
		n, err := m.applyChunk(ctx, chunk, newest)
		applied += n
		if err != nil {
			return applied, err
		}
	}
	return applied, nil
}

func (m *Mode) applyChunk(ctx context.Context, keys []string, newest map[string]kvcontroller.Item) (int, error) {
	unlock := m.locks.LockAll(keys)
	held, err := m.store.GetMulti(ctx, keys)
	if err != nil {
		unlock()
		return 0, fmt.Errorf("read %d keys: %w", len(keys), err)
	}
	var todo []kvcontroller.Item
	for _, k := range keys {
		cur, ok := held[k]
		if !ok {
			todo = append(todo, newest[k])
			continue
		}
		if merged, same := Merge(cur, newest[k]); !same {
			todo = append(todo, merged)
		}
	}
	errs := make([]error, len(todo))
	if len(todo) == 1 {
		errs[0] = m.store.Set(ctx, todo[0])
	} else {
		// Concurrent sets share the replica connection's flushes.
		var wg sync.WaitGroup
		for i, it := range todo {
			wg.Go(func() { errs[i] = m.store.Set(ctx, it) })
		}
		wg.Wait()
	}
	var evicted []tomb
	var errsOut []error
	applied := 0
	for i, it := range todo {
		if errs[i] != nil {
			errsOut = append(errsOut, fmt.Errorf("store %q: %w", it.Key, errs[i]))
			continue
		}
		ev, err := m.storedLocked(ctx, it)
		if err != nil {
			errsOut = append(errsOut, err)
			continue
		}
		evicted = append(evicted, ev...)
		applied++
	}
	unlock()
	m.dropTombs(evicted)
	return applied, errors.Join(errsOut...)
}

// dropTombs removes tombstones from the replica unless a newer write has
// replaced them meanwhile.
func (m *Mode) dropTombs(ts []tomb) {
	for _, t := range ts {
		if err := m.dropTomb(m.ctx, t); err != nil {
			m.opts.Logger.Warn("drop tombstone failed", "key", t.key, "err", err)
		}
	}
}

func (m *Mode) dropTomb(ctx context.Context, t tomb) error {
	unlock := m.locks.Lock(t.key)
	defer unlock()
	m.tombs.remove(t)
	cur, err := m.read(ctx, t.key)
	if err != nil || cur == nil || !cur.Tombstone || cur.Version != t.version {
		return err
	}
	if err := m.store.Delete(ctx, t.key); err != nil && !errors.Is(err, kvcontroller.ErrNotFound) {
		return fmt.Errorf("delete tombstone %q: %w", t.key, err)
	}
	return nil
}

// getAndTouch gives each live key among req.Keys the new expiry, stamped
// with a new version (the item keeps its value's version, its unique), and
// returns the touched items.
func (m *Mode) getAndTouch(ctx context.Context, req *consistency.Request, now int64) (consistency.Result, error) {
	exptime := consistency.AbsoluteExptime(req.Exptime, now)
	var items []consistency.Item
	for _, key := range req.Keys {
		touch := consistency.Request{Op: consistency.OpTouch, Keys: []string{key}, Exptime: exptime}
		unlock := m.locks.Lock(key)
		cur, err := m.read(ctx, key)
		if err != nil {
			unlock()
			return consistency.Result{}, err
		}
		if cur == nil || !consistency.Live(*cur, now) {
			unlock()
			continue
		}
		m.clock.observe(expiryStamp(*cur))
		version := m.clock.next()
		eff, _, err := consistency.ApplyWrite(&touch, cur, now, version, m.opts.ItemSizeMax)
		if err != nil {
			unlock()
			return consistency.Result{}, err
		}
		item, err := m.replicate(ctx, touch.Op, eff, key, version, unlock)
		if err != nil {
			return consistency.Result{}, err
		}
		if item.Tombstone {
			// An exptime in the past: memcached returns the item, then
			// it is gone.
			item = *cur
		}
		items = append(items, consistency.HitOf(item))
	}
	return consistency.Result{Items: items}, nil
}

// flushAll replicates a versioned flush now, or schedules one after delay
// seconds; a later flush_all replaces a pending one, as in memcached.
func (m *Mode) flushAll(ctx context.Context, delay, now int64) (consistency.Result, error) {
	at := consistency.AbsoluteExptime(delay, now)
	if at > now {
		if err := m.flush.Schedule(time.Duration(at-now)*time.Second, m.delayedFlush); err != nil {
			return consistency.Result{}, err
		}
		return consistency.Result{Status: consistency.StatusOK}, nil
	}
	m.flush.Cancel()
	if err := m.flushLocal(ctx); err != nil {
		return consistency.Result{}, err
	}
	return consistency.Result{Status: consistency.StatusOK}, nil
}

// delayedFlush issues a scheduled flush_all when it falls due.
func (m *Mode) delayedFlush() {
	if err := m.flushLocal(m.ctx); err != nil {
		m.opts.Logger.Error("delayed flush_all failed", "err", err)
	}
}

// flushLocal issues a flush with a fresh version, applies it here and
// pushes it to every peer.
func (m *Mode) flushLocal(ctx context.Context) error {
	v := m.clock.next()
	if err := m.applyFlush(ctx, v); err != nil {
		return err
	}
	m.push(pushEntry{flush: v})
	return nil
}

// applyFlush drops every item and tombstone older than version v, and from
// then on refuses remote writes older than v. Writes newer than v (issued
// after the flush anywhere) survive it on every replica alike.
func (m *Mode) applyFlush(ctx context.Context, v uint64) error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	if v <= m.flushMark.Load() {
		return nil
	}
	m.flushMark.Store(v)
	m.clock.observe(v)
	m.saveState()
	m.tombs.below(v)
	var victims []string
	err := m.store.Dump(ctx, func(it kvcontroller.Item) error {
		if it.Key != markerKey && it.Version < v {
			victims = append(victims, it.Key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("flush_all: list replica: %w", err)
	}
	for _, key := range victims {
		if err := m.deleteOlder(ctx, key, v); err != nil {
			return fmt.Errorf("flush_all: %w", err)
		}
	}
	return nil
}

// deleteOlder removes key if its item is older than v.
func (m *Mode) deleteOlder(ctx context.Context, key string, v uint64) error {
	unlock := m.locks.Lock(key)
	defer unlock()
	cur, err := m.read(ctx, key)
	if err != nil || cur == nil || cur.Version >= v {
		return err
	}
	if err := m.store.Delete(ctx, key); err != nil && !errors.Is(err, kvcontroller.ErrNotFound) {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	return nil
}

// push queues a write or a flush for every other peer.
func (m *Mode) push(e pushEntry) {
	for _, l := range m.links {
		l.enqueue(e, m.cfg.PushQueue)
	}
}
