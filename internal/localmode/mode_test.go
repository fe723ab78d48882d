package localmode

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/memcachedtest"
	"github.com/memcons/memcons/kvcontroller"
)

// fakeClock is a settable clock for expiry tests.
type fakeClock struct{ unix atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(c.unix.Load(), 0) }
func (c *fakeClock) advance(d time.Duration) { c.unix.Add(int64(d / time.Second)) }

// stores runs fn against the embedded store and a real memcached.
func stores(t *testing.T, fn func(t *testing.T, st kvcontroller.Store, clock *fakeClock)) {
	t.Run("memory", func(t *testing.T) {
		clock := &fakeClock{}
		clock.unix.Store(time.Now().Unix())
		fn(t, kvcontroller.NewMemStore(kvcontroller.MemStoreOptions{Now: clock.now}), clock)
	})
	t.Run("memcached", func(t *testing.T) {
		addr := memcachedtest.Start(t, "-I", "2m")
		clock := &fakeClock{}
		clock.unix.Store(time.Now().Unix())
		st, err := kvcontroller.NewMemcachedStore(kvcontroller.MemcachedOptions{Addr: addr, Now: clock.now})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		fn(t, st, clock)
	})
}

func newTestLocal(t *testing.T, st kvcontroller.Store, clock *fakeClock) *Mode {
	l := New(st, Config{Kind: consistency.Eventual, ItemSizeMax: 1 << 20, Now: clock.now})
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func do(t *testing.T, m consistency.Mode, req consistency.Request) consistency.Result {
	t.Helper()
	res, err := m.Do(context.Background(), &req)
	require.NoError(t, err, "%s %v", req.Op, req.Keys)
	return res
}

func TestLocal_ConcurrentIncrementsAllCount(t *testing.T) {
	stores(t, func(t *testing.T, st kvcontroller.Store, clock *fakeClock) {
		l := newTestLocal(t, st, clock)
		do(t, l, consistency.Request{Op: consistency.OpSet, Keys: []string{"n"}, Value: []byte("0")})
		const workers, each = 8, 100
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					if _, err := l.Do(context.Background(), &consistency.Request{Op: consistency.OpIncr, Keys: []string{"n"}, Delta: 1}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		res := do(t, l, consistency.Request{Op: consistency.OpGet, Keys: []string{"n"}})
		require.Len(t, res.Items, 1)
		assert.Equal(t, fmt.Sprint(workers*each), string(res.Items[0].Value))
	})
}

func TestLocal_CasUsesTheVersionGetsReturned(t *testing.T) {
	stores(t, func(t *testing.T, st kvcontroller.Store, clock *fakeClock) {
		l := newTestLocal(t, st, clock)
		do(t, l, consistency.Request{Op: consistency.OpSet, Keys: []string{"k"}, Value: []byte("a")})
		got := do(t, l, consistency.Request{Op: consistency.OpGets, Keys: []string{"k"}})
		require.Len(t, got.Items, 1)
		unique := got.Items[0].Version
		require.NotZero(t, unique)

		assert.Equal(t, consistency.StatusStored, do(t, l, consistency.Request{Op: consistency.OpCas, Keys: []string{"k"}, Value: []byte("b"), Cas: unique}).Status)
		assert.Equal(t, consistency.StatusExists, do(t, l, consistency.Request{Op: consistency.OpCas, Keys: []string{"k"}, Value: []byte("c"), Cas: unique}).Status)
		after := do(t, l, consistency.Request{Op: consistency.OpGets, Keys: []string{"k"}})
		require.Len(t, after.Items, 1)
		assert.Equal(t, "b", string(after.Items[0].Value))
		assert.Greater(t, after.Items[0].Version, unique)
	})
}

func TestLocal_ExpiryFollowsTheClock(t *testing.T) {
	stores(t, func(t *testing.T, st kvcontroller.Store, clock *fakeClock) {
		l := newTestLocal(t, st, clock)
		do(t, l, consistency.Request{Op: consistency.OpSet, Keys: []string{"short"}, Value: []byte("x"), Exptime: 10})
		do(t, l, consistency.Request{Op: consistency.OpSet, Keys: []string{"long"}, Value: []byte("y"), Exptime: 100})
		do(t, l, consistency.Request{Op: consistency.OpSet, Keys: []string{"gone"}, Value: []byte("z"), Exptime: -1})
		assert.Len(t, do(t, l, consistency.Request{Op: consistency.OpGet, Keys: []string{"short", "long", "gone"}}).Items, 2)

		clock.advance(11 * time.Second)
		res := do(t, l, consistency.Request{Op: consistency.OpGet, Keys: []string{"short", "long"}})
		require.Len(t, res.Items, 1)
		assert.Equal(t, "long", res.Items[0].Key)
		assert.Equal(t, consistency.StatusNotFound, do(t, l, consistency.Request{Op: consistency.OpTouch, Keys: []string{"short"}, Exptime: 100}).Status)

		gat := do(t, l, consistency.Request{Op: consistency.OpGat, Keys: []string{"long", "short"}, Exptime: 1000})
		require.Len(t, gat.Items, 1)
		clock.advance(200 * time.Second)
		assert.Len(t, do(t, l, consistency.Request{Op: consistency.OpGet, Keys: []string{"long"}}).Items, 1, "gat extended the expiry")
	})
}

func TestLocal_FlushAll(t *testing.T) {
	stores(t, func(t *testing.T, st kvcontroller.Store, clock *fakeClock) {
		l := newTestLocal(t, st, clock)
		do(t, l, consistency.Request{Op: consistency.OpSet, Keys: []string{"a"}, Value: []byte("1")})
		assert.Equal(t, consistency.StatusOK, do(t, l, consistency.Request{Op: consistency.OpFlushAll}).Status)
		assert.Empty(t, do(t, l, consistency.Request{Op: consistency.OpGet, Keys: []string{"a"}}).Items)

		// A delayed flush happens later, on a real timer; poll with a deadline.
		l2 := New(st, Config{Kind: consistency.Eventual})
		t.Cleanup(func() { _ = l2.Close() })
		do(t, l2, consistency.Request{Op: consistency.OpSet, Keys: []string{"b"}, Value: []byte("2")})
		assert.Equal(t, consistency.StatusOK, do(t, l2, consistency.Request{Op: consistency.OpFlushAll, Exptime: 1}).Status)
		assert.Len(t, do(t, l2, consistency.Request{Op: consistency.OpGet, Keys: []string{"b"}}).Items, 1, "still there before the delay")
		assert.Eventually(t, func() bool {
			return len(do(t, l2, consistency.Request{Op: consistency.OpGet, Keys: []string{"b"}}).Items) == 0
		}, 10*time.Second, 20*time.Millisecond)
	})
}

func TestLocal_CloseCancelsPendingFlush(t *testing.T) {
	st := kvcontroller.NewMemStore(kvcontroller.MemStoreOptions{})
	l := New(st, Config{Kind: consistency.Sequential})
	do(t, l, consistency.Request{Op: consistency.OpFlushAll, Exptime: 3600})
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "Close twice is safe")
	_, err := l.Do(context.Background(), &consistency.Request{Op: consistency.OpFlushAll, Exptime: 10})
	assert.ErrorIs(t, err, consistency.ErrUnavailable)
}
