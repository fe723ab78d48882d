package kvcontroller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// testClock is a settable clock for injecting into stores.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

// newTestClock starts at the current wall-clock second, so that exptimes
// derived from it are also sensible to a real memcached.
func newTestClock() *testClock {
	return &testClock{t: time.Now().Truncate(time.Second)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Unix() int64 { return c.Now().Unix() }

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newStoreFunc builds an empty store whose expiry follows now.
type newStoreFunc func(t *testing.T, now func() time.Time) Store

// testStore runs the contract every Store implementation must meet.
func testStore(t *testing.T, newStore newStoreFunc) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store, clock *testClock)
	}{
		{"GetSetOverwrite", testGetSetOverwrite},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"RoundTrip", testRoundTrip},
		{"ValuesNotAliased", testValuesNotAliased},
		{"GetMulti", testGetMulti},
		{"Expiry", testExpiry},
		{"FlushAll", testFlushAll},
		{"ControlCharacterKeys", testControlCharacterKeys},
		{"Dump", testDump},
		{"DumpStopsOnError", testDumpStopsOnError},
		{"DumpHonoursContext", testDumpHonoursContext},
		{"Stats", testStats},
		{"GroupStats", testGroupStats},
		{"ConcurrentUse", testConcurrentUse},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newTestClock()
			s := newStore(t, clock.Now)
			t.Cleanup(func() { _ = s.Close() })
			tt.fn(t, s, clock)
		})
	}
}

func testGetSetOverwrite(t *testing.T, s Store, _ *testClock) {
	ctx := context.Background()
	first := Item{Key: "k", Value: []byte("one"), Flags: 7, Version: 1}
	require.NoError(t, s.Set(ctx, first))
	got, err := s.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, first, got)

	second := Item{Key: "k", Value: []byte("second value"), Flags: 9, Version: 2}
	require.NoError(t, s.Set(ctx, second))
	got, err = s.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, second, got)
}

func testNotFound(t *testing.T, s Store, _ *testClock) {
	ctx := context.Background()
	_, err := s.Get(ctx, "missing")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorIs(t, s.Delete(ctx, "missing"), ErrNotFound)
}

func testDelete(t *testing.T, s Store, _ *testClock) {
	ctx := context.Background()
	require.NoError(t, s.Set(ctx, Item{Key: "gone", Value: []byte("v")}))
	require.NoError(t, s.Set(ctx, Item{Key: "kept", Value: []byte("v")}))
	require.NoError(t, s.Delete(ctx, "gone"))

	_, err := s.Get(ctx, "gone")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorIs(t, s.Delete(ctx, "gone"), ErrNotFound, "second delete")
	_, err = s.Get(ctx, "kept")
	assert.NoError(t, err, "other key untouched")
}

func testRoundTrip(t *testing.T, s Store, clock *testClock) {
	ctx := context.Background()
	megabyte := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	megabyte[100], megabyte[101] = '\r', '\n'
	tests := []struct {
		name string
		item Item
	}{
		{"plain", Item{Key: "plain", Value: []byte("hello")}},
		{"empty value", Item{Key: "empty", Value: []byte{}}},
		{"max flags", Item{Key: "flags", Value: []byte("x"), Flags: math.MaxUint32}},
		{"max version", Item{Key: "version", Value: []byte("x"), Version: math.MaxUint64}},
		{"cas chosen with E", Item{Key: "cas", Value: []byte("x"), Version: 3, Cas: math.MaxUint64, HasCas: true, Stale: true}},
		{"cas of zero chosen with E", Item{Key: "cas0", Value: []byte{}, Version: 3, HasCas: true}},
		{"tombstone", Item{Key: "tomb", Value: []byte{}, Version: 42, Tombstone: true}},
		{"tombstone with value", Item{Key: "tomb2", Value: []byte("old"), Tombstone: true}},
		{"future exptime", Item{Key: "exp", Value: []byte("x"), Exptime: clock.Unix() + 3600}},
		{"exptime beyond 2038", Item{Key: "exp2038", Value: []byte("x"), Exptime: 1 << 40}},
		{"binary with CRLF", Item{Key: "bin", Value: []byte("a\r\nEND\r\n\x00\xff\r\n")}},
		{"value ends with CRLF", Item{Key: "crlf", Value: []byte("\r\n")}},
		{"1 MiB value", Item{Key: "big", Value: megabyte}},
		{"key with punctuation", Item{Key: "a/b%c+d:e?f=g&h", Value: []byte("p")}},
		{"key of 250 bytes", Item{Key: strings.Repeat("k", 250), Value: []byte("long")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, s.Set(ctx, tt.item))
			got, err := s.Get(ctx, tt.item.Key)
			require.NoError(t, err)
			assert.Equal(t, tt.item, got)
		})
	}
}

func testValuesNotAliased(t *testing.T, s Store, _ *testClock) {
	ctx := context.Background()
	buf := []byte("original")
	require.NoError(t, s.Set(ctx, Item{Key: "k", Value: buf}))
	copy(buf, "CHANGED!")

	got, err := s.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "original", string(got.Value), "caller's buffer changed after Set")
	copy(got.Value, "MUTATED!")

	again, err := s.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "original", string(again.Value), "returned value changed")
}

func testGetMulti(t *testing.T, s Store, clock *testClock) {
	ctx := context.Background()
	items := []Item{
		{Key: "a", Value: []byte("1"), Flags: 1, Version: 10},
		{Key: "b", Value: []byte("2"), Flags: 2, Version: 11},
		{Key: "t", Value: []byte{}, Version: 12, Tombstone: true},
		{Key: "soon", Value: []byte("3"), Exptime: clock.Unix() + 10},
	}
	for _, it := range items {
		require.NoError(t, s.Set(ctx, it))
	}
	clock.Advance(10 * time.Second) // "soon" expires

	got, err := s.GetMulti(ctx, []string{"a", "missing", "t", "b", "soon", "also-missing"})
	require.NoError(t, err)
	assert.Equal(t, map[string]Item{"a": items[0], "b": items[1], "t": items[2]}, got)

	got, err = s.GetMulti(ctx, []string{"x", "y"})
	require.NoError(t, err)
	assert.Empty(t, got, "only misses")

	got, err = s.GetMulti(ctx, nil)
	require.NoError(t, err)
	assert.Empty(t, got, "no keys")
}

func testExpiry(t *testing.T, s Store, clock *testClock) {
	ctx := context.Background()
	start := clock.Now()
	now := start.Unix()
	tests := []struct {
		name    string
		exptime int64
		advance time.Duration
		live    bool
	}{
		{"never", 0, 365 * 24 * time.Hour, true},
		{"in the past", now - 100, 0, false},
		{"now", now, 0, false},
		{"negative", -1, 0, false},
		{"small absolute", 1000, 0, false},
		{"one second before", now + 10, 9 * time.Second, true},
		{"at the second", now + 10, 10 * time.Second, false},
		{"after", now + 10, time.Hour, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Set(start) // every case starts at the same moment
			key := fmt.Sprintf("exp-%d", i)
			require.NoError(t, s.Set(ctx, Item{Key: key, Value: []byte("v"), Exptime: tt.exptime}))
			clock.Advance(tt.advance)
			_, err := s.Get(ctx, key)
			if tt.live {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrNotFound)
			}
		})
	}
}

func testFlushAll(t *testing.T, s Store, _ *testClock) {
	ctx := context.Background()
	for i := range 20 {
		require.NoError(t, s.Set(ctx, Item{Key: fmt.Sprintf("k%d", i), Value: []byte("v")}))
	}
	require.NoError(t, s.FlushAll(ctx))
	for i := range 20 {
		_, err := s.Get(ctx, fmt.Sprintf("k%d", i))
		assert.ErrorIs(t, err, ErrNotFound, "k%d", i)
	}
	var n int
	require.NoError(t, s.Dump(ctx, func(Item) error { n++; return nil }))
	assert.Zero(t, n, "items dumped after FlushAll")

	// An item written right after the flush, in the same second, survives.
	require.NoError(t, s.Set(ctx, Item{Key: "after", Value: []byte("v")}))
	_, err := s.Get(ctx, "after")
	assert.NoError(t, err)
}

// dumpKeys are keys for Dump tests, including characters that memcached's
// metadump URL-encodes.
func dumpKeys(n int) []string {
	special := []string{
		"a/b", "100%", "x+y", "q?a=b&c=d", "semi;colon", "ключ", "日本語", "~tilde",
		"quote\"s", "hash#tag", "comma,s", "<angle>", strings.Repeat("%", 250),
		strings.Repeat("z", 250), "ctl\x10\x01key", "tab\tkey", "del\x7fkey", "esc\xffkey\xb0",
	}
	keys := append([]string(nil), special...)
	for i := len(keys); i < n; i++ {
		keys = append(keys, fmt.Sprintf("key:%04d/%x", i, i*7919))
	}
	return keys
}

func testDump(t *testing.T, s Store, clock *testClock) {
	ctx := context.Background()
	want := make(map[string]Item)
	for i, k := range dumpKeys(400) {
		it := Item{Key: k, Value: []byte(fmt.Sprintf("value %d\r\n", i)), Flags: uint32(i), Version: uint64(1000 + i)}
		switch i % 10 {
		case 1:
			it.Tombstone = true
		case 2:
			it.Exptime = clock.Unix() + 5 // expires below
		case 3:
			it.Exptime = clock.Unix() + 3600
		}
		require.NoError(t, s.Set(ctx, it))
		switch {
		case i%10 == 4:
			require.NoError(t, s.Delete(ctx, k))
		case i%10 != 2:
			want[k] = it
		}
	}
	clock.Advance(5 * time.Second)

	got := make(map[string]Item)
	err := s.Dump(ctx, func(it Item) error {
		_, dup := got[it.Key]
		assert.False(t, dup, "key %q dumped twice", it.Key)
		got[it.Key] = it
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func testDumpStopsOnError(t *testing.T, s Store, _ *testClock) {
	ctx := context.Background()
	for i := range 250 {
		require.NoError(t, s.Set(ctx, Item{Key: fmt.Sprintf("k%d", i), Value: []byte("v")}))
	}
	stop := errors.New("stop here")
	var calls int
	err := s.Dump(ctx, func(Item) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 3, calls, "fn called after it failed")
}

func testDumpHonoursContext(t *testing.T, s Store, _ *testClock) {
	for i := range 250 {
		require.NoError(t, s.Set(context.Background(), Item{Key: fmt.Sprintf("k%d", i), Value: []byte("v")}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls int
	err := s.Dump(ctx, func(Item) error {
		calls++
		cancel()
		return nil
	})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, calls, 250, "dump went on after cancel")
}

func testStats(t *testing.T, s Store, _ *testClock) {
	ctx := context.Background()
	before, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Zero(t, before.Items, "empty store")
	assert.NotZero(t, before.LimitBytes)

	const n = 50
	for i := range n {
		require.NoError(t, s.Set(ctx, Item{Key: fmt.Sprintf("k%d", i), Value: bytes.Repeat([]byte("v"), 100)}))
	}
	st, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(n), st.Items)
	assert.Equal(t, before.TotalItems+n, st.TotalItems, "total_items counts stores")
	assert.GreaterOrEqual(t, st.Bytes, uint64(n*100), "bytes count the values")
	assert.LessOrEqual(t, st.Bytes, st.LimitBytes)
	assert.Zero(t, st.Evictions)

	require.NoError(t, s.Delete(ctx, "k0"))
	st, err = s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(n-1), st.Items, "after a delete")
}

// testGroupStats checks `stats items` and `stats slabs` have memcached's
// shape: per-class lines "items:<class>:<name>" and "<class>:<name>" with
// numeric values, the class counts summing to the items held, and the
// slabs group's two totals last.
func testGroupStats(t *testing.T, s Store, _ *testClock) {
	ctx := context.Background()
	items, err := s.GroupStats(ctx, StatItems)
	require.NoError(t, err)
	assert.Empty(t, items, "an empty store has no item classes")

	const n = 20
	for i := range n {
		require.NoError(t, s.Set(ctx, Item{Key: fmt.Sprintf("k%d", i), Value: bytes.Repeat([]byte("v"), 10+i*100)}))
	}
	items, err = s.GroupStats(ctx, StatItems)
	require.NoError(t, err)
	var number uint64
	for _, l := range items {
		f := strings.Split(l.Name, ":")
		require.Len(t, f, 3, "line %q", l.Name)
		assert.Equal(t, "items", f[0])
		assert.Regexp(t, `^\d+$`, f[1], l.Name)
		assert.Regexp(t, `^\d+$`, l.Value, l.Name)
		if f[2] == "number" {
			var v uint64
			_, err := fmt.Sscan(l.Value, &v)
			require.NoError(t, err)
			number += v
		}
	}
	assert.Equal(t, uint64(n), number, "class item counts sum to the items held")

	slabs, err := s.GroupStats(ctx, StatSlabs)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(slabs), 3)
	assert.Equal(t, "active_slabs", slabs[len(slabs)-2].Name)
	assert.Equal(t, "total_malloced", slabs[len(slabs)-1].Name)
	assert.NotEqual(t, "0", slabs[len(slabs)-2].Value, "some class is active")
	for _, l := range slabs[:len(slabs)-2] {
		assert.Regexp(t, `^\d+:[a-z_]+$`, l.Name)
		assert.Regexp(t, `^\d+$`, l.Value, l.Name)
	}
}

func testConcurrentUse(t *testing.T, s Store, _ *testClock) {
	ctx := context.Background()
	var g errgroup.Group
	for w := range 4 {
		g.Go(func() error {
			for i := range 200 {
				key := fmt.Sprintf("k%d", i%20)
				want := Item{Key: key, Value: []byte(fmt.Sprintf("w%d-%d", w, i)), Version: uint64(i)}
				if err := s.Set(ctx, want); err != nil {
					return err
				}
				if _, err := s.Get(ctx, key); err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
				if _, err := s.GetMulti(ctx, []string{key, "other"}); err != nil {
					return err
				}
				if i%50 == 0 {
					if err := s.Delete(ctx, key); err != nil && !errors.Is(err, ErrNotFound) {
						return err
					}
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	require.NoError(t, s.Set(ctx, Item{Key: "final", Value: []byte("ok")}))
	got, err := s.Get(ctx, "final")
	require.NoError(t, err)
	assert.Equal(t, "ok", string(got.Value))
}

func testClose(t *testing.T, s Store, _ *testClock) {
	ctx := context.Background()
	require.NoError(t, s.Set(ctx, Item{Key: "k", Value: []byte("v")}))
	require.NoError(t, s.Ping(ctx))
	require.NoError(t, s.Close())
	assert.NoError(t, s.Close(), "second Close")

	_, err := s.Get(ctx, "k")
	assert.ErrorIs(t, err, ErrBackend, "Get after Close")
	assert.ErrorIs(t, s.Set(ctx, Item{Key: "k"}), ErrBackend, "Set after Close")
	assert.ErrorIs(t, s.Ping(ctx), ErrBackend, "Ping after Close")
}

// memcached's text protocol stores keys with control characters (memcaslap
// sends them), so every store must too.
func testControlCharacterKeys(t *testing.T, s Store, _ *testClock) {
	ctx := context.Background()
	keys := []string{"\x10\x10\xb0abc", "a\tb", "x\x7fy", "\xff", "\xffA", "plain"}
	for i, k := range keys {
		require.NoError(t, s.Set(ctx, Item{Key: k, Value: []byte{byte('0' + i)}, Version: 1}), "set %q", k)
	}
	for i, k := range keys {
		it, err := s.Get(ctx, k)
		require.NoError(t, err, "get %q", k)
		assert.Equal(t, k, it.Key)
		assert.Equal(t, []byte{byte('0' + i)}, it.Value, "key %q", k)
	}
	got, err := s.GetMulti(ctx, keys)
	require.NoError(t, err)
	assert.Len(t, got, len(keys))
	for _, k := range keys {
		assert.Contains(t, got, k)
	}
	require.NoError(t, s.Delete(ctx, keys[0]))
	_, err = s.Get(ctx, keys[0])
	assert.ErrorIs(t, err, ErrNotFound)
}
