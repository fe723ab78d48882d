package kvcontroller

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/memcons/memcons/internal/memcachedtest"
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
		{"negative idle conns", MemcachedOptions{Addr: "127.0.0.1:11211", MaxIdleConns: -1}},
		{"negative pipeline conns", MemcachedOptions{Addr: "127.0.0.1:11211", PipelineConns: -1}},
		{"unresolvable address", MemcachedOptions{Addr: "no-port"}},
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

// silentServer accepts connections and never answers; it stops at cleanup.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

func TestMemcachedStore_TimeoutHonoured(t *testing.T) {
	ctx := context.Background()
	const timeout = 200 * time.Millisecond
	s := newTestMemcachedStore(t, MemcachedOptions{Addr: silentServer(t), Timeout: timeout})
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
	s := newTestMemcachedStore(t, MemcachedOptions{Addr: silentServer(t), Timeout: time.Minute})
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

func TestReadMetadump(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
		errIs   error // checked when set
	}{
		{name: "empty", in: "END\r\n"},
		{
			name: "keys",
			in:   "key=a%2Fb%25c%2Bd exp=-1 la=1 cas=1 fetch=no cls=1 size=73\nkey=plain exp=5 la=1 cas=2 fetch=yes cls=1 size=61\nEND\r\n",
			want: []string{"a/b%c+d", "plain"},
		},
		{name: "key only", in: "key=x\nEND\r\n", want: []string{"x"}},
		{name: "plus stays plus", in: "key=a+b\nEND\r\n", want: []string{"a+b"}},
		{name: "busy", in: "BUSY currently processing crawler request\r\n", wantErr: true, errIs: errCrawlerBusy},
		{name: "error line", in: "ERROR locked try again later\r\n", wantErr: true},
		{name: "bad escape", in: "key=%zz exp=-1\nEND\r\n", wantErr: true},
		{name: "empty key", in: "key= exp=-1\nEND\r\n", wantErr: true},
		{name: "truncated", in: "key=a exp=-1\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readMetadump(bufio.NewReader(strings.NewReader(tt.in)))
			if !tt.wantErr {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
				return
			}
			require.Error(t, err)
			if tt.errIs != nil {
				assert.ErrorIs(t, err, tt.errIs)
			} else {
				assert.NotErrorIs(t, err, errCrawlerBusy)
			}
		})
	}
}

func TestReadStats(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Stats
		wantErr bool
	}{
		{
			"fields",
			"STAT pid 1\r\nSTAT curr_items 3\r\nSTAT bytes 200\r\nSTAT limit_maxbytes 67108864\r\nSTAT evictions 7\r\nSTAT version 1.6.18\r\nEND\r\n",
			Stats{Items: 3, Bytes: 200, LimitBytes: 64 << 20, Evictions: 7}, false,
		},
		{"bad number", "STAT curr_items x\r\nEND\r\n", Stats{}, true},
		{"error line", "ERROR\r\n", Stats{}, true},
		{"truncated", "STAT curr_items 1\r\n", Stats{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readStats(bufio.NewReader(strings.NewReader(tt.in)))
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzParseMetadumpKey(f *testing.F) {
	f.Add([]byte("key=a%2Fb exp=-1 la=1\n"))
	f.Add([]byte("key=%\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, line []byte) {
		k, err := parseMetadumpKey(line)
		if err == nil && k == "" {
			t.Fatalf("empty key without error from %q", line)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), []byte("\n")) {
			t.Fatalf("multi-line error %q", err)
		}
	})
}
