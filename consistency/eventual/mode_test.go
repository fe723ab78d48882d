package eventual

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/kvcontroller"
	"github.com/memcons/memcons/peer"
)

const testInterval = 20 * time.Millisecond

// testNet joins in-process modes with net.Pipe connections, as the peer
// transport would with authenticated ones; a peer marked down refuses dials.
type testNet struct {
	mu       sync.Mutex
	modes    map[string]*Mode
	handlers map[string]func(net.Conn, string) // each peer's sync handler
	down     map[string]bool
	wg       sync.WaitGroup // handler goroutines
}

// channels returns peer from's view of the test network, as the peer port
// would give it.
func (n *testNet) channels(from string) peer.Channels { return testChannels{n: n, from: from} }

// testChannels is one peer's end of a testNet.
type testChannels struct {
	n    *testNet
	from string
}

func (c testChannels) Handle(ch peer.Channel, h func(conn net.Conn, from string)) {
	if ch != peer.ChannelSync {
		panic(fmt.Sprintf("eventual registered channel %d", ch))
	}
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	if c.n.handlers == nil {
		c.n.handlers = map[string]func(net.Conn, string){}
	}
	c.n.handlers[c.from] = h
}

func (c testChannels) Dial(_ context.Context, to string, ch peer.Channel) (net.Conn, error) {
	n := c.n
	n.mu.Lock()
	h, down := n.handlers[to], n.down[to] || n.down[c.from]
	n.mu.Unlock()
	if h == nil || down || ch != peer.ChannelSync {
		return nil, fmt.Errorf("peer %s unreachable", to)
	}
	a, b := net.Pipe()
	n.wg.Go(func() {
		h(b, c.from)
		_ = b.Close()
	})
	return a, nil
}

func (n *testNet) setDown(name string, down bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down[name] = down
}

// start runs a Mode named name among peers over store, keeping its sync
// state in dataDir, with the package's test sync interval.
func (n *testNet) start(t *testing.T, name string, peers []string, store kvcontroller.Store, dataDir string, log *slog.Logger) *Mode {
	t.Helper()
	m, err := New(store, Config{SyncInterval: testInterval}, Options{
		Self: name, Peers: peers, DataDir: dataDir, Trans: n.channels(name), Logger: log,
	})
	require.NoError(t, err)
	n.mu.Lock()
	n.modes[name] = m
	n.mu.Unlock()
	require.NoError(t, m.Start(context.Background()))
	return m
}

// startModes runs one Mode per name over a fresh MemStore.
func startModes(t *testing.T, cfg Config, names ...string) (*testNet, []*Mode) {
	t.Helper()
	n := &testNet{modes: map[string]*Mode{}, down: map[string]bool{}}
	var modes []*Mode
	for _, name := range names {
		m, err := New(kvcontroller.NewMemStore(kvcontroller.MemStoreOptions{}), cfg, Options{
			Self: name, Peers: names, DataDir: t.TempDir(), ItemSizeMax: 1 << 20, Trans: n.channels(name),
		})
		require.NoError(t, err)
		n.mu.Lock()
		n.modes[name] = m
		n.mu.Unlock()
		modes = append(modes, m)
	}
	t.Cleanup(func() {
		for _, m := range modes {
			assert.NoError(t, m.Close())
		}
		n.wg.Wait()
	})
	for _, m := range modes {
		require.NoError(t, m.Start(context.Background()))
	}
	return n, modes
}

func do(t *testing.T, m *Mode, op consistency.Op, key, value string) consistency.Result {
	t.Helper()
	res, err := m.Do(context.Background(), &consistency.Request{Op: op, Keys: []string{key}, Value: []byte(value), Delta: 1})
	require.NoError(t, err)
	return res
}

func storedItem(t *testing.T, m *Mode, key string) *kvcontroller.Item {
	t.Helper()
	it, err := m.read(context.Background(), key)
	require.NoError(t, err)
	return it
}

func TestMode_ApplyRemoteIsLastWriterWins(t *testing.T) {
	put := func(v uint64, value string) kvcontroller.Item {
		return kvcontroller.Item{Key: "k", Value: []byte(value), Version: v}
	}
	tests := []struct {
		name      string
		cur       *kvcontroller.Item
		flushMark uint64
		in        kvcontroller.Item
		applied   bool
		want      *kvcontroller.Item
	}{
		{"absent key takes the write", nil, 0, put(10, "a"), true, new(put(10, "a"))},
		{"newer write replaces", new(put(10, "a")), 0, put(11, "b"), true, new(put(11, "b"))},
		{"older write is ignored", new(put(10, "a")), 0, put(9, "b"), false, new(put(10, "a"))},
		{"equal version is ignored", new(put(10, "a")), 0, put(10, "b"), false, new(put(10, "a"))},
		{"tombstone beats an older write", new(tombstone("k", 20)), 0, put(19, "late"), false, new(tombstone("k", 20))},
		{"newer write beats a tombstone", new(tombstone("k", 20)), 0, put(21, "back"), true, new(put(21, "back"))},
		{"newer tombstone deletes", new(put(10, "a")), 0, tombstone("k", 12), true, new(tombstone("k", 12))},
		{"expired write is a tombstone", new(put(10, "a")), 0,
			kvcontroller.Item{Key: "k", Value: []byte("x"), Exptime: 1000, Version: 12}, true, new(tombstone("k", 12))},
		{"write older than a flush is refused", nil, 50, put(40, "old"), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, modes := startModes(t, Config{SyncInterval: time.Hour}, "solo")
			m := modes[0]
			m.flushMark.Store(tt.flushMark)
			if tt.cur != nil {
				require.NoError(t, m.store.Set(context.Background(), *tt.cur))
			}
			applied, err := m.applyRemote(context.Background(), tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.applied, applied)
			got := storedItem(t, m, "k")
			if tt.want == nil {
				assert.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			assert.Equal(t, tt.want.Version, got.Version)
			assert.Equal(t, tt.want.Tombstone, got.Tombstone)
			assert.Equal(t, string(tt.want.Value), string(got.Value))
			assert.Greater(t, m.clock.next(), tt.in.Version, "the clock moves past what it received")
		})
	}
}

func TestMode_LocalWritesUseFreshVersions(t *testing.T) {
	_, modes := startModes(t, Config{SyncInterval: time.Hour}, "a", "b")
	a := modes[0]
	// An item from a peer whose clock runs far ahead: a local write to the
	// key must still win.
	ahead := uint64(time.Now().Add(time.Hour).UnixMilli())<<16 | 1
	require.NoError(t, a.store.Set(context.Background(), kvcontroller.Item{Key: "k", Value: []byte("1"), Version: ahead}))
	assert.Equal(t, consistency.StatusNumber, do(t, a, consistency.OpIncr, "k", "").Status)
	it := storedItem(t, a, "k")
	assert.Greater(t, it.Version, ahead)
	assert.Equal(t, 0, VersionOrdinal(it.Version), "a is first in name order")
	assert.Equal(t, "2", string(it.Value))

	assert.Equal(t, consistency.StatusDeleted, do(t, a, consistency.OpDelete, "k", "").Status)
	gone := storedItem(t, a, "k")
	require.NotNil(t, gone)
	assert.True(t, gone.Tombstone, "delete leaves a tombstone")
	assert.Greater(t, gone.Version, it.Version)
	assert.Equal(t, consistency.StatusNotFound, do(t, a, consistency.OpDelete, "k", "").Status)
	assert.Equal(t, consistency.StatusStored, do(t, a, consistency.OpAdd, "k", "again").Status, "add over a tombstone")
}

func TestMode_PairConverges(t *testing.T) {
	_, modes := startModes(t, Config{SyncInterval: testInterval}, "a", "b")
	a, b := modes[0], modes[1]
	do(t, a, consistency.OpSet, "x", "1")
	do(t, b, consistency.OpSet, "y", "2")
	do(t, a, consistency.OpAppend, "x", "0")
	do(t, b, consistency.OpDelete, "y", "")
	require.Eventually(t, func() bool {
		x, y := storedItem(t, b, "x"), storedItem(t, a, "y")
		return x != nil && string(x.Value) == "10" && (y == nil || y.Tombstone)
	}, 5*time.Second, time.Millisecond)
	assert.Equal(t, storedItem(t, a, "x").Version, storedItem(t, b, "x").Version, "same unique on both peers")

	// Values near the item size limit travel one per frame.
	big := strings.Repeat("v", 1<<20)
	for i := range 5 {
		do(t, a, consistency.OpSet, fmt.Sprintf("big%d", i), big)
	}
	require.Eventually(t, func() bool {
		it := storedItem(t, b, "big4")
		return it != nil && len(it.Value) == len(big)
	}, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return a.Role() == "peer" && b.Role() == "peer" }, 5*time.Second, time.Millisecond)
}

// TestMode_LogAndTombstonesStayBounded runs a long write loop of sets and
// deletes over many keys, once with the other peer down (nothing can be
// collected: the limits bound the log and the tombstones) and once with it
// up (tombstones every peer has seen are collected).
func TestMode_LogAndTombstonesStayBounded(t *testing.T) {
	const limit = 50
	for _, peerUp := range []bool{false, true} {
		t.Run(fmt.Sprintf("peer up %v", peerUp), func(t *testing.T) {
			n, modes := startModes(t, Config{SyncInterval: testInterval, RecentLogSize: limit, PushQueue: 16}, "a", "b")
			a := modes[0]
			n.setDown("b", !peerUp)
			for i := range 3000 {
				key := fmt.Sprintf("k%d", i%400)
				do(t, a, consistency.OpSet, key, "v")
				do(t, a, consistency.OpDelete, key, "")
				require.LessOrEqual(t, a.log.len(), limit, "recent-write log")
				require.LessOrEqual(t, a.tombs.len(), limit, "tracked tombstones")
			}
			assert.Equal(t, limit, a.log.len())
			stored := func() int {
				count := 0
				require.NoError(t, a.store.Dump(context.Background(), func(it kvcontroller.Item) error {
					if it.Tombstone {
						count++
					}
					return nil
				}))
				return count
			}
			assert.LessOrEqual(t, stored(), limit, "tombstones in the replica")
			if peerUp {
				require.Eventually(t, func() bool { return a.tombs.len() == 0 && stored() == 0 },
					5*time.Second, testInterval, "tombstones b has synced past are collected")
			}
			var pending int
			for _, l := range a.links {
				l.mu.Lock()
				pending = len(l.queue)
				l.mu.Unlock()
			}
			assert.LessOrEqual(t, pending, 16, "push queue")
		})
	}
}

func TestMode_FlushAllIsVersioned(t *testing.T) {
	n, modes := startModes(t, Config{SyncInterval: testInterval}, "a", "b")
	a, b := modes[0], modes[1]
	do(t, a, consistency.OpSet, "old", "1")
	require.Eventually(t, func() bool { return storedItem(t, b, "old") != nil }, 5*time.Second, time.Millisecond)

	// b is cut off while a flushes; b's write after the flush is newer
	// than the flush and must survive it on both peers.
	n.setDown("a", true)
	n.setDown("b", true)
	res, err := a.Do(context.Background(), &consistency.Request{Op: consistency.OpFlushAll})
	require.NoError(t, err)
	assert.Equal(t, consistency.StatusOK, res.Status)
	assert.Nil(t, storedItem(t, a, "old"))
	do(t, b, consistency.OpSet, "new", "2")
	n.setDown("a", false)
	n.setDown("b", false)
	require.Eventually(t, func() bool {
		return storedItem(t, b, "old") == nil && storedItem(t, a, "new") != nil
	}, 5*time.Second, time.Millisecond, "the flush reaches b, b's newer write reaches a")
	assert.NotNil(t, storedItem(t, b, "new"))
}

func TestMode_RestartCatchesUpByDeltaOrFull(t *testing.T) {
	dir := t.TempDir()
	storeA := kvcontroller.NewMemStore(kvcontroller.MemStoreOptions{})
	storeB := kvcontroller.NewMemStore(kvcontroller.MemStoreOptions{})
	n := &testNet{modes: map[string]*Mode{}, down: map[string]bool{}}
	t.Cleanup(n.wg.Wait)
	start := func(name string, store kvcontroller.Store, dataDir string) *Mode {
		return n.start(t, name, []string{"a", "b"}, store, dataDir, nil)
	}
	a := start("a", storeA, dir)
	b := start("b", storeB, t.TempDir())
	t.Cleanup(func() { _ = b.Close() })
	for i := range 20 {
		do(t, b, consistency.OpSet, fmt.Sprintf("k%d", i), "v")
	}
	waitSynced := func(m *Mode) *link {
		var l *link
		require.Eventually(t, func() bool {
			l = m.links["b"]
			l.mu.Lock()
			defer l.mu.Unlock()
			return l.synced && storedItem(t, m, "k19") != nil
		}, 5*time.Second, time.Millisecond)
		return l
	}
	l := waitSynced(a)
	require.Eventually(t, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.cur.Seq >= b.log.last()
	}, 5*time.Second, time.Millisecond, "a has synced past all 20 writes")
	require.NoError(t, a.Close())

	// Same replica, same data dir: the saved cursor is still good in b's
	// epoch, so a asks for the writes after it only.
	do(t, b, consistency.OpSet, "after", "v")
	n.setDown("b", true)
	a = start("a", storeA, dir)
	require.Eventually(t, func() bool {
		l := a.links["b"]
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.attempts > 0
	}, 5*time.Second, time.Millisecond)
	assert.Equal(t, "catching up", a.Role(), "b is up but not reachable yet: a still serves, catching up")
	assert.Nil(t, storedItem(t, a, "after"))
	n.setDown("b", false)
	l = waitSynced(a)
	assert.Equal(t, "peer", a.Role())
	require.Eventually(t, func() bool { return storedItem(t, a, "after") != nil }, 5*time.Second, time.Millisecond)
	l.mu.Lock()
	assert.Less(t, l.syncItems, 20, "delta, not a full transfer")
	l.mu.Unlock()
	require.NoError(t, a.Close())

	// An empty replica: the marker is gone, so a asks for everything.
	empty := kvcontroller.NewMemStore(kvcontroller.MemStoreOptions{})
	a = start("a", empty, dir)
	t.Cleanup(func() { _ = a.Close() })
	waitSynced(a)
	for i := range 20 {
		require.NotNil(t, storedItem(t, a, fmt.Sprintf("k%d", i)), "full transfer brings k%d", i)
	}
	assert.Eventually(t, func() bool { return a.Role() == "peer" }, 5*time.Second, time.Millisecond)
	_, err := empty.Get(context.Background(), markerKey)
	assert.False(t, errors.Is(err, kvcontroller.ErrNotFound), "the replica is marked again")
}

// fullSyncs records the items count of every "full sync done" log line.
type fullSyncs struct {
	mu    sync.Mutex
	items []int64
}

func (f *fullSyncs) Enabled(context.Context, slog.Level) bool { return true }
func (f *fullSyncs) WithAttrs([]slog.Attr) slog.Handler       { return f }
func (f *fullSyncs) WithGroup(string) slog.Handler            { return f }
func (f *fullSyncs) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "full sync done" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "items" {
			f.mu.Lock()
			f.items = append(f.items, a.Value.Int64())
			f.mu.Unlock()
		}
		return true
	})
	return nil
}

func (f *fullSyncs) list() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.items)
}

func TestMode_FullTransferLeavesOutRequesterOwnWrites(t *testing.T) {
	storeA := kvcontroller.NewMemStore(kvcontroller.MemStoreOptions{})
	dirA := t.TempDir()
	n := &testNet{modes: map[string]*Mode{}, down: map[string]bool{}}
	t.Cleanup(n.wg.Wait)
	start := func(name string, store kvcontroller.Store, dataDir string, log *slog.Logger) *Mode {
		return n.start(t, name, []string{"a", "b"}, store, dataDir, log)
	}
	a := start("a", storeA, dirA, nil)
	var fulls fullSyncs // b's full syncs; a is its only peer
	b := start("b", kvcontroller.NewMemStore(kvcontroller.MemStoreOptions{}), t.TempDir(), slog.New(&fulls))
	t.Cleanup(func() { _ = b.Close() })
	const ownA, ownB = 5, 12
	for i := range ownA {
		do(t, a, consistency.OpSet, fmt.Sprintf("a%d", i), "v")
	}
	for i := range ownB {
		do(t, b, consistency.OpSet, fmt.Sprintf("b%d", i), "v")
	}
	// syncedPast reports whether m's link to other has applied other's
	// whole log.
	syncedPast := func(m *Mode, other *Mode) bool {
		l := m.links[other.opts.Self]
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.cur.Epoch == other.epoch && l.cur.Seq >= other.log.last()
	}
	require.Eventually(t, func() bool { return syncedPast(a, b) && syncedPast(b, a) }, 5*time.Second, time.Millisecond)
	require.NotNil(t, storedItem(t, a, fmt.Sprintf("b%d", ownB-1)))
	// b publishes a sync's cursor before it logs "full sync done": wait
	// for the log line of every full sync b has counted so far (its first,
	// from an empty replica, asked from zero and got everything).
	bFulls := func() int {
		l := b.links["a"]
		l.mu.Lock()
		defer l.mu.Unlock()
		return int(l.fullSyncs)
	}
	require.Eventually(t, func() bool { return len(fulls.list()) == bFulls() }, 5*time.Second, time.Millisecond)
	require.NoError(t, a.Close())
	before := len(fulls.list())

	// a restarts over its intact replica with a new log epoch: b's cursor
	// names the old one, so b gets a full transfer, which holds a's own
	// writes but none of b's.
	a = start("a", storeA, dirA, nil)
	t.Cleanup(func() { _ = a.Close() })
	require.Eventually(t, func() bool { return len(fulls.list()) > before }, 5*time.Second, time.Millisecond)
	assert.Equal(t, int64(ownA), fulls.list()[before], "full transfer to b: a's %d writes, none of b's %d", ownA, ownB)
}

func TestMode_SetOverIntactReplicaWins(t *testing.T) {
	store := kvcontroller.NewMemStore(kvcontroller.MemStoreOptions{})
	ctx := context.Background()
	ahead := uint64(time.Now().Add(time.Hour).UnixMilli())<<16 | 1
	require.NoError(t, store.Set(ctx, kvcontroller.Item{Key: markerKey, Value: []byte("old-replica")}))
	require.NoError(t, store.Set(ctx, kvcontroller.Item{Key: "k", Value: []byte("from the future"), Version: ahead}))
	m, err := New(store, Config{SyncInterval: testInterval}, Options{Self: "solo", Peers: []string{"solo"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	require.NoError(t, m.Start(ctx))

	// Before and after the startup scan, a plain set beats the stored item.
	do(t, m, consistency.OpSet, "k", "now")
	assert.Greater(t, storedItem(t, m, "k").Version, ahead)
	require.Eventually(t, m.clockAhead.Load, 5*time.Second, time.Millisecond)
	require.NoError(t, store.Set(ctx, kvcontroller.Item{Key: "k", Value: []byte("x"), Version: ahead + 1<<20}))
	m.clock.observe(ahead + 1<<20) // as applyRemote does for every item it stores
	do(t, m, consistency.OpSet, "k", "later")
	assert.Greater(t, storedItem(t, m, "k").Version, ahead+1<<20)
}
