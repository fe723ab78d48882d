package kvcontroller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/memcons/memcons/internal/memcachedtest"
	"github.com/memcons/memcons/kvcontroller/mcclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// startMemcached runs a memcached that accepts items of 1 MiB plus envelope.
func startMemcached(t testing.TB) string {
	t.Helper()
	return memcachedtest.Start(t, "-I", "2m")
}

func newTestMemcachedStore(t testing.TB, opts MemcachedOptions) *MemcachedStore {
	t.Helper()
	s, err := NewMemcachedStore(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestMemcachedStore_Contract(t *testing.T) {
	testStore(t, func(t *testing.T, now func() time.Time) Store {
		return newTestMemcachedStore(t, MemcachedOptions{Addr: startMemcached(t), Now: now})
	})
}

func TestNewMemcachedStore_InvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		opts MemcachedOptions
	}{
		{"no address", MemcachedOptions{}},
		{"negative timeout", MemcachedOptions{Addr: "127.0.0.1:11211", Timeout: -time.Second}},
		{"negative pipeline conns", MemcachedOptions{Addr: "127.0.0.1:11211", PipelineConns: -1}},
		{"address without a port", MemcachedOptions{Addr: "no-port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewMemcachedStore(tt.opts)
			assert.ErrorIs(t, err, ErrInvalidOptions)
		})
	}
}

func TestMemcachedExpiration(t *testing.T) {
	tests := []struct {
		name    string
		exptime int64
		want    int32
	}{
		{"never", 0, 0},
		{"negative", -5, -1},
		{"one", 1, -1},
		{"30 days, read as relative by memcached", maxRelativeExptime, -1},
		{"just past 30 days", maxRelativeExptime + 1, maxRelativeExptime + 1},
		{"ordinary", 1_800_000_000, 1_800_000_000},
		{"max int32", math.MaxInt32, math.MaxInt32},
		{"beyond int32", math.MaxInt32 + 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, memcachedExpiration(tt.exptime))
		})
	}
}

// TestMemcachedStore_MemcachedExpires checks that memcached itself drops
// items at their Exptime, not only this store's read-side check.
func TestMemcachedStore_MemcachedExpires(t *testing.T) {
	ctx := context.Background()
	addr := startMemcached(t)
	s := newTestMemcachedStore(t, MemcachedOptions{Addr: addr})
	raw := memcache.New(addr)
	t.Cleanup(func() { _ = raw.Close() })

	now := time.Now().Unix()
	require.NoError(t, s.Set(ctx, Item{Key: "past", Value: []byte("v"), Exptime: now - 10}))
	_, err := raw.Get("past")
	assert.ErrorIs(t, err, memcache.ErrCacheMiss, "past exptime stored as already expired")

	require.NoError(t, s.Set(ctx, Item{Key: "soon", Value: []byte("v"), Exptime: now + 2}))
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := raw.Get("soon")
		if errors.Is(err, memcache.ErrCacheMiss) {
			break
		}
		require.NoError(t, err)
		require.True(t, time.Now().Before(deadline), "memcached kept the item long after its exptime")
		time.Sleep(50 * time.Millisecond)
	}
	assert.GreaterOrEqual(t, time.Now().Unix(), now+2, "memcached expired the item early")
	_, err = s.Get(ctx, "soon")
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestMemcachedStore_TooLarge(t *testing.T) {
	ctx := context.Background()
	s := newTestMemcachedStore(t, MemcachedOptions{Addr: startMemcached(t)})
	require.NoError(t, s.Set(ctx, Item{Key: "k", Value: []byte("old")}))

	err := s.Set(ctx, Item{Key: "k", Value: make([]byte, 3<<20)})
	require.ErrorIs(t, err, ErrTooLarge)
	_, err = s.Get(ctx, "k")
	assert.ErrorIs(t, err, ErrNotFound, "memcached drops the old item on a too-large set")
	assert.NoError(t, s.Set(ctx, Item{Key: "k", Value: []byte("new")}), "store usable afterwards")
}

func TestMemcachedStore_CorruptValue(t *testing.T) {
	ctx := context.Background()
	addr := startMemcached(t)
	s := newTestMemcachedStore(t, MemcachedOptions{Addr: addr})
	raw := memcache.New(addr)
	t.Cleanup(func() { _ = raw.Close() })
	require.NoError(t, raw.Set(&memcache.Item{Key: "foreign", Value: []byte("not an envelope")}))

	_, err := s.Get(ctx, "foreign")
	assert.ErrorIs(t, err, ErrBackend)
	assert.ErrorIs(t, err, ErrCorrupt)
	_, err = s.GetMulti(ctx, []string{"foreign"})
	assert.ErrorIs(t, err, ErrCorrupt)
	err = s.Dump(ctx, func(Item) error { return nil })
	assert.ErrorIs(t, err, ErrCorrupt)
}

func TestMemcachedStore_BackendDown(t *testing.T) {
	ctx := context.Background()
	s := newTestMemcachedStore(t, MemcachedOptions{Addr: memcachedtest.FreeAddr(t), Timeout: 2 * time.Second})
	ops := map[string]func() error{
		"Get":      func() error { _, err := s.Get(ctx, "k"); return err },
		"GetMulti": func() error { _, err := s.GetMulti(ctx, []string{"k"}); return err },
		"Set":      func() error { return s.Set(ctx, Item{Key: "k"}) },
		"Delete":   func() error { return s.Delete(ctx, "k") },
		"FlushAll": func() error { return s.FlushAll(ctx) },
		"Dump":     func() error { return s.Dump(ctx, func(Item) error { return nil }) },
		"Stats":    func() error { _, err := s.Stats(ctx); return err },
		"Ping":     func() error { return s.Ping(ctx) },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			err := op()
			require.ErrorIs(t, err, ErrBackend)
			assert.NotContains(t, err.Error(), "\n", "error must fit a SERVER_ERROR line")
			assert.Contains(t, err.Error(), "refused")
		})
	}
}

func TestMemcachedStore_TimeoutHonoured(t *testing.T) {
	ctx := context.Background()
	const timeout = 200 * time.Millisecond
	s := newTestMemcachedStore(t, MemcachedOptions{Addr: memcachedtest.StartSilent(t).Addr(), Timeout: timeout})
	ops := map[string]func() error{
		"Get":   func() error { _, err := s.Get(ctx, "k"); return err },
		"Set":   func() error { return s.Set(ctx, Item{Key: "k"}) },
		"Dump":  func() error { return s.Dump(ctx, func(Item) error { return nil }) },
		"Stats": func() error { _, err := s.Stats(ctx); return err },
		"Ping":  func() error { return s.Ping(ctx) },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := op()
			elapsed := time.Since(start)
			require.ErrorIs(t, err, ErrBackend)
			assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
			assert.GreaterOrEqual(t, elapsed, timeout)
			assert.Less(t, elapsed, 10*time.Second, "timeout not honoured")
		})
	}
}

func TestMemcachedStore_CancelledContext(t *testing.T) {
	s := newTestMemcachedStore(t, MemcachedOptions{Addr: memcachedtest.StartSilent(t).Addr(), Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Get(ctx, "k")
	assert.ErrorIs(t, err, context.Canceled)

	// A raw command in progress is cut short by cancellation.
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Stats(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 30*time.Second, "stats waited for the store timeout")
}

func TestMemcachedStore_ConcurrentDumps(t *testing.T) {
	ctx := context.Background()
	s := newTestMemcachedStore(t, MemcachedOptions{Addr: startMemcached(t)})
	const n = 3000
	for i := range n {
		require.NoError(t, s.Set(ctx, Item{Key: fmt.Sprintf("key-%d", i), Value: []byte("v")}))
	}
	// Simultaneous metadumps make memcached answer BUSY to all but one.
	var g errgroup.Group
	for range 4 {
		g.Go(func() error {
			var count int
			if err := s.Dump(ctx, func(Item) error { count++; return nil }); err != nil {
				return err
			}
			if count != n {
				return fmt.Errorf("dumped %d items, want %d", count, n)
			}
			return nil
		})
	}
	assert.NoError(t, g.Wait())
}

// TestMemcachedStore_DumpUnderReadLoad guards against memcached's LRU
// crawler, which skips items that other connections hold while it passes.
func TestMemcachedStore_DumpUnderReadLoad(t *testing.T) {
	ctx := context.Background()
	s := newTestMemcachedStore(t, MemcachedOptions{Addr: startMemcached(t)})
	const n = 10000
	for i := range n {
		require.NoError(t, s.Set(ctx, Item{Key: fmt.Sprintf("key-%d", i), Value: []byte("v")}))
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var load errgroup.Group
	for r := range 3 {
		load.Go(func() error {
			for i := r; loadCtx.Err() == nil; i += 7 {
				key := "key-0" // a hot key, read by every reader in turn
				if i%2 == 0 {
					key = fmt.Sprintf("key-%d", i%n)
				}
				if _, err := s.Get(ctx, key); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for round := range 5 {
		var count int
		hot := false
		require.NoError(t, s.Dump(ctx, func(it Item) error {
			count++
			hot = hot || it.Key == "key-0"
			return nil
		}))
		assert.Equal(t, n, count, "round %d", round)
		assert.True(t, hot, "round %d: hot key missing", round)
	}
	stopLoad()
	require.NoError(t, load.Wait())
}

// TestMemcachedStore_ReplicaBytes reads what the store wrote with
// gomemcache, an independent client: the envelope under the replica key,
// memcached flags 0.
func TestMemcachedStore_ReplicaBytes(t *testing.T) {
	ctx := context.Background()
	addr := startMemcached(t)
	s := newTestMemcachedStore(t, MemcachedOptions{Addr: addr})
	oracle := memcache.New(addr)
	t.Cleanup(func() { _ = oracle.Close() })

	tests := []struct {
		name       string
		item       Item
		replicaKey string
	}{
		{"plain", Item{Key: "user:1", Value: []byte("v\r\nEND\r\n"), Flags: 7, Version: 9}, "user:1"},
		{"escaped", Item{Key: "a b\x01", Value: []byte{}, Tombstone: true, Version: 2}, "a\xffa" + "b\xffB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, s.Set(ctx, tt.item))
			got, err := oracle.Get(tt.replicaKey)
			require.NoError(t, err)
			assert.Zero(t, got.Flags, "memcached flags")
			it, err := DecodeEnvelope(tt.item.Key, got.Value)
			require.NoError(t, err)
			assert.Equal(t, tt.item, it)

			found, err := oracle.GetMulti([]string{tt.replicaKey, "absent"})
			require.NoError(t, err)
			assert.Equal(t, got.Value, found[tt.replicaKey].Value)
			require.NoError(t, s.Delete(ctx, tt.item.Key))
			_, err = oracle.Get(tt.replicaKey)
			assert.ErrorIs(t, err, memcache.ErrCacheMiss)
		})
	}
}

func TestParseStats(t *testing.T) {
	tests := []struct {
		name    string
		raw     map[string]string
		want    Stats
		wantErr bool
	}{
		{
			name: "fields",
			raw: map[string]string{"pid": "1", "curr_items": "3", "bytes": "200", "limit_maxbytes": "67108864",
				"evictions": "7", "version": "1.6.18"},
			want: Stats{Items: 3, Bytes: 200, LimitBytes: 64 << 20, Evictions: 7},
		},
		{name: "missing fields stay zero", raw: map[string]string{"curr_items": "1"}, want: Stats{Items: 1}},
		{name: "bad number", raw: map[string]string{"curr_items": "x"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStats(tt.raw)
			if tt.wantErr {
				assert.ErrorIs(t, err, ErrBackend)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestMapErr pins the one translation from mcclient's errors to the
// Store's, by errors.Is alone.
func TestMapErr(t *testing.T) {
	refused := fmt.Errorf("memcached get: dial tcp: %w", syscall.ECONNREFUSED)
	tests := []struct {
		name   string
		in     error
		is     []error
		isNot  []error
		exact  error // the result itself, when set
		noWrap bool  // nil in, nil out
	}{
		{name: "nil", in: nil, noWrap: true},
		{name: "miss", in: mcclient.ErrCacheMiss, exact: ErrNotFound},
		{name: "too large", in: fmt.Errorf("%w: SERVER_ERROR object too large for cache", mcclient.ErrTooLarge),
			is: []error{ErrTooLarge}, isNot: []error{ErrBackend}},
		{name: "server error", in: fmt.Errorf("%w: out of memory storing object", mcclient.ErrServer),
			is: []error{ErrBackend, mcclient.ErrServer}, isNot: []error{ErrTooLarge}},
		{name: "protocol", in: fmt.Errorf("memcached get: read: %w: unexpected reply", mcclient.ErrProtocol),
			is: []error{ErrBackend, mcclient.ErrProtocol}},
		{name: "malformed key", in: mcclient.ErrMalformedKey, is: []error{ErrBackend}},
		{name: "busy crawler", in: mcclient.ErrBusy, is: []error{ErrBackend}},
		{name: "closed", in: mcclient.ErrClosed, is: []error{ErrBackend}},
		{name: "network", in: refused, is: []error{ErrBackend, syscall.ECONNREFUSED}},
		{name: "timeout", in: fmt.Errorf("memcached get: %w", os.ErrDeadlineExceeded), is: []error{ErrBackend, os.ErrDeadlineExceeded}},
		{name: "cancelled", in: fmt.Errorf("memcached get: %w", context.Canceled), is: []error{context.Canceled}, isNot: []error{ErrBackend}},
		{name: "caller's deadline", in: fmt.Errorf("memcached get: %w", context.DeadlineExceeded),
			is: []error{context.DeadlineExceeded}, isNot: []error{ErrBackend}},
		{name: "eof", in: fmt.Errorf("memcached get: read: %w", io.EOF), is: []error{ErrBackend, io.EOF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapErr(tt.in)
			switch {
			case tt.noWrap:
				assert.NoError(t, got)
				return
			case tt.exact != nil:
				assert.Equal(t, tt.exact, got)
				return
			}
			for _, target := range tt.is {
				assert.ErrorIs(t, got, target)
			}
			for _, target := range tt.isNot {
				assert.NotErrorIs(t, got, target)
			}
			assert.NotContains(t, got.Error(), "\n")
		})
	}
}
