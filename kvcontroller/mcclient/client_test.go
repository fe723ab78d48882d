package mcclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/memcons/memcons/internal/memcachedtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

func newTestClient(t testing.TB, opts Options) *Client {
	t.Helper()
	c, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNew_InvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"no address", Options{}},
		{"address without a port", Options{Addr: "localhost"}},
		{"negative timeout", Options{Addr: "127.0.0.1:11211", Timeout: -time.Second}},
		{"negative conns", Options{Addr: "127.0.0.1:11211", Conns: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			assert.ErrorIs(t, err, ErrInvalidOptions)
		})
	}
}

func TestClient_DataCommands(t *testing.T) {
	ctx := context.Background()
	c := newTestClient(t, Options{Addr: memcachedtest.Start(t)})

	_, err := c.Get(ctx, "k")
	require.ErrorIs(t, err, ErrCacheMiss)
	require.ErrorIs(t, c.Delete(ctx, "k"), ErrCacheMiss)

	value := []byte("v\r\nEND\r\n") // a value that looks like a reply
	require.NoError(t, c.Set(ctx, "k", value, 0))
	got, err := c.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, value, got)
	require.NoError(t, c.Set(ctx, "empty", []byte{}, 0))
	require.NoError(t, c.Set(ctx, "expired", []byte("x"), -1))

	found, err := c.GetMulti(ctx, []string{"k", "empty", "expired", "absent"})
	require.NoError(t, err)
	assert.Equal(t, map[string][]byte{"k": value, "empty": {}}, found)
	found, err = c.GetMulti(ctx, nil)
	require.NoError(t, err)
	assert.Empty(t, found)

	require.NoError(t, c.Delete(ctx, "k"))
	_, err = c.Get(ctx, "k")
	assert.ErrorIs(t, err, ErrCacheMiss)
}

func TestClient_AdminCommands(t *testing.T) {
	ctx := context.Background()
	c := newTestClient(t, Options{Addr: memcachedtest.Start(t)})

	v, err := c.Version(ctx)
	require.NoError(t, err)
	assert.Regexp(t, `^\d+\.\d+`, v)

	keys := []string{"plain", "a/b%c+d", "ключ", "\xff#"}
	for _, k := range keys {
		require.NoError(t, c.Set(ctx, k, []byte("v"), 0))
	}
	st, err := c.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, "4", st["curr_items"])
	assert.Equal(t, v, st["version"])

	listed, err := c.Metadump(ctx)
	require.NoError(t, err)
	slices.Sort(listed)
	slices.Sort(keys)
	assert.Equal(t, keys, listed, "keys decoded")

	require.NoError(t, c.FlushAll(ctx))
	_, err = c.Get(ctx, "plain")
	assert.ErrorIs(t, err, ErrCacheMiss)
	listed, err = c.Metadump(ctx)
	require.NoError(t, err)
	assert.Empty(t, listed)
}

// TestClient_MixedOps runs concurrent callers over the pipelined
// connections, each checking every reply about its own keys against its
// own model, so that a reply paired with the wrong call is caught.
func TestClient_MixedOps(t *testing.T) {
	for _, conns := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d connections", conns), func(t *testing.T) {
			ctx := context.Background()
			c := newTestClient(t, Options{Addr: memcachedtest.Start(t), Conns: conns, Timeout: 10 * time.Second})
			var g errgroup.Group
			for w := range 16 {
				g.Go(func() error {
					rng := rand.New(rand.NewPCG(uint64(w), 9))
					model := map[string][]byte{}
					key := func() string { return fmt.Sprintf("w%d-k%d", w, rng.IntN(8)) }
					for op := range 400 {
						k := key()
						switch p := rng.IntN(100); {
						case p < 40:
							v := []byte(fmt.Sprintf("w%d-op%d", w, op))
							if err := c.Set(ctx, k, v, 0); err != nil {
								return err
							}
							model[k] = v
						case p < 70:
							got, err := c.Get(ctx, k)
							if want, ok := model[k]; ok && (err != nil || !bytes.Equal(got, want)) ||
								!ok && !errors.Is(err, ErrCacheMiss) {
								return fmt.Errorf("get %s: want %q, got %q, %v", k, model[k], got, err)
							}
						case p < 85:
							err := c.Delete(ctx, k)
							if _, ok := model[k]; ok && err != nil || !ok && !errors.Is(err, ErrCacheMiss) {
								return fmt.Errorf("delete %s (stored %v): %v", k, ok, err)
							}
							delete(model, k)
						default:
							ks := []string{k, key(), key()}
							found, err := c.GetMulti(ctx, ks)
							if err != nil {
								return err
							}
							for _, k := range ks {
								if got, want := found[k], model[k]; !bytes.Equal(got, want) {
									return fmt.Errorf("multi-get %s: want %q, got %q", k, want, got)
								}
							}
						}
					}
					return nil
				})
			}
			require.NoError(t, g.Wait())
		})
	}
}

// TestClient_AbandonedCallsDoNotLeak mixes callers that give up at once
// (their calls are abandoned while queued or in flight, and their replies
// still arrive) with callers that check every reply: pooled calls must never
// carry one caller's reply to another.
func TestClient_AbandonedCallsDoNotLeak(t *testing.T) {
	ctx := context.Background()
	c := newTestClient(t, Options{Addr: memcachedtest.Start(t), Conns: 2, Timeout: 10 * time.Second})
	var g errgroup.Group
	for w := range 16 {
		g.Go(func() error {
			rng := rand.New(rand.NewPCG(uint64(w), 13))
			for op := range 300 {
				k := fmt.Sprintf("w%d-k%d", w, rng.IntN(4))
				if rng.IntN(3) == 0 {
					quick, cancel := context.WithTimeout(ctx, time.Duration(rng.IntN(50))*time.Microsecond)
					_, _ = c.Get(quick, k) // most give up; which ones does not matter
					cancel()
					continue
				}
				v := []byte(fmt.Sprintf("w%d-op%d", w, op))
				if err := c.Set(ctx, k, v, 0); err != nil {
					return err
				}
				got, err := c.Get(ctx, k)
				if err != nil || !bytes.Equal(got, v) {
					return fmt.Errorf("get %s: want %q, got %q, %v", k, v, got, err)
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
}

// TestClient_TooLarge checks that memcached's refusal of an item's size is
// ErrTooLarge and leaves the connection in step.
func TestClient_TooLarge(t *testing.T) {
	ctx := context.Background()
	proxy := memcachedtest.StartPausingProxy(t, memcachedtest.Start(t))
	c := newTestClient(t, Options{Addr: proxy.Addr()})
	require.NoError(t, c.Set(ctx, "k", []byte("old"), 0))

	err := c.Set(ctx, "k", make([]byte, 2<<20), 0)
	require.ErrorIs(t, err, ErrTooLarge)
	assert.NotErrorIs(t, err, ErrServer)
	_, err = c.Get(ctx, "k")
	assert.ErrorIs(t, err, ErrCacheMiss, "memcached drops the old item on a too-large set")
	require.NoError(t, c.Set(ctx, "k", []byte("new"), 0))
	assert.Equal(t, 1, proxy.Accepted(), "the connection stays in step")
}

// TestClient_Refusals runs the client against a server that refuses in
// scripted ways: a SERVER_ERROR to a set keeps the connection, a reply
// that does not answer the request closes it, and the next call dials anew.
func TestClient_Refusals(t *testing.T) {
	ctx := context.Background()
	srv := memcachedtest.StartScripted(t, memcachedtest.Script{Reply: func(line, data string) string {
		switch {
		case data == "oom":
			return "SERVER_ERROR out of memory storing object\r\n"
		case line == "get confused":
			return "ERROR\r\n"
		case line == "get tired":
			return "SERVER_ERROR out of memory writing get response\r\n"
		case strings.HasPrefix(line, "get "):
			return "END\r\n"
		case strings.HasPrefix(line, "delete "):
			return "NOT_FOUND\r\n"
		}
		return ""
	}})
	c := newTestClient(t, Options{Addr: srv.Addr(), Conns: 1})

	err := c.Set(ctx, "k", []byte("oom"), 0)
	require.ErrorIs(t, err, ErrServer)
	assert.NotErrorIs(t, err, ErrTooLarge)
	assert.Contains(t, err.Error(), "out of memory storing object")
	require.ErrorIs(t, c.Delete(ctx, "k"), ErrCacheMiss)
	assert.Equal(t, 1, srv.Conns(), "a SERVER_ERROR to a set keeps the connection")

	_, err = c.Get(ctx, "confused")
	require.ErrorIs(t, err, ErrProtocol)
	assert.Contains(t, err.Error(), `"ERROR"`)
	_, err = c.Get(ctx, "k")
	require.ErrorIs(t, err, ErrCacheMiss)
	assert.Equal(t, 2, srv.Conns(), "a protocol error closes the connection")

	_, err = c.Get(ctx, "tired")
	require.ErrorIs(t, err, ErrServer)
	_, err = c.Get(ctx, "k")
	require.ErrorIs(t, err, ErrCacheMiss)
	assert.Equal(t, 3, srv.Conns(), "a SERVER_ERROR to a get closes the connection")
}

func TestClient_MalformedKey(t *testing.T) {
	ctx := context.Background()
	srv := memcachedtest.StartSilent(t)
	c := newTestClient(t, Options{Addr: srv.Addr(), Timeout: time.Minute})
	for _, key := range []string{"", strings.Repeat("k", MaxKeyLen+1), "a b", "a\r\nget x", "a\x00"} {
		_, err := c.Get(ctx, key)
		assert.ErrorIs(t, err, ErrMalformedKey, "get %q", key)
		assert.ErrorIs(t, c.Set(ctx, key, []byte("v"), 0), ErrMalformedKey, "set %q", key)
		assert.ErrorIs(t, c.Delete(ctx, key), ErrMalformedKey, "delete %q", key)
		_, err = c.GetMulti(ctx, []string{"ok", key})
		assert.ErrorIs(t, err, ErrMalformedKey, "multi-get %q", key)
	}
	assert.Zero(t, srv.Lines(), "nothing sent")
}

func TestClient_BackendDown(t *testing.T) {
	ctx := context.Background()
	c := newTestClient(t, Options{Addr: memcachedtest.FreeAddr(t), Timeout: 2 * time.Second})
	ops := map[string]func() error{
		"Get":      func() error { _, err := c.Get(ctx, "k"); return err },
		"GetMulti": func() error { _, err := c.GetMulti(ctx, []string{"k"}); return err },
		"Set":      func() error { return c.Set(ctx, "k", nil, 0) },
		"Delete":   func() error { return c.Delete(ctx, "k") },
		"FlushAll": func() error { return c.FlushAll(ctx) },
		"Version":  func() error { _, err := c.Version(ctx); return err },
		"Stats":    func() error { _, err := c.Stats(ctx); return err },
		"Metadump": func() error { _, err := c.Metadump(ctx); return err },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			err := op()
			require.ErrorIs(t, err, syscall.ECONNREFUSED)
			assert.True(t, strings.HasPrefix(err.Error(), "memcached "), "%q", err)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

// TestClient_TimeoutHonoured checks every call against a server that never
// answers.
func TestClient_TimeoutHonoured(t *testing.T) {
	ctx := context.Background()
	const timeout = 200 * time.Millisecond
	c := newTestClient(t, Options{Addr: memcachedtest.StartSilent(t).Addr(), Timeout: timeout})
	ops := map[string]func() error{
		"Get":      func() error { _, err := c.Get(ctx, "k"); return err },
		"Set":      func() error { return c.Set(ctx, "k", nil, 0) },
		"FlushAll": func() error { return c.FlushAll(ctx) },
		"Version":  func() error { _, err := c.Version(ctx); return err },
		"Stats":    func() error { _, err := c.Stats(ctx); return err },
		"Metadump": func() error { _, err := c.Metadump(ctx); return err },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := op()
			elapsed := time.Since(start)
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			assert.GreaterOrEqual(t, elapsed, timeout)
			assert.Less(t, elapsed, 10*time.Second, "timeout not honoured")
		})
	}
}

func TestClient_ConcurrentTimeouts(t *testing.T) {
	ctx := context.Background()
	const timeout = 200 * time.Millisecond
	c := newTestClient(t, Options{Addr: memcachedtest.StartSilent(t).Addr(), Timeout: timeout})
	var g errgroup.Group
	for i := range 20 {
		g.Go(func() error {
			start := time.Now()
			err := c.Set(ctx, fmt.Sprintf("k%d", i), []byte("v"), 0)
			elapsed := time.Since(start)
			switch {
			case !errors.Is(err, os.ErrDeadlineExceeded):
				return fmt.Errorf("set k%d: %v", i, err)
			case elapsed < timeout || elapsed > 10*time.Second:
				return fmt.Errorf("set k%d gave up after %v, timeout %v", i, elapsed, timeout)
			}
			return nil
		})
	}
	assert.NoError(t, g.Wait())
}

func TestClient_Context(t *testing.T) {
	t.Run("cancelled before the call", func(t *testing.T) {
		srv := memcachedtest.StartSilent(t)
		c := newTestClient(t, Options{Addr: srv.Addr(), Timeout: time.Minute})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Get(ctx, "k")
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, c.Set(ctx, "k", nil, 0), context.Canceled)
		assert.ErrorIs(t, c.Delete(ctx, "k"), context.Canceled)
		_, err = c.GetMulti(ctx, []string{"a", "b"})
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, c.FlushAll(ctx), context.Canceled)
		assert.Zero(t, srv.Lines(), "nothing sent")
	})
	t.Run("done while waiting", func(t *testing.T) {
		c := newTestClient(t, Options{Addr: memcachedtest.StartSilent(t).Addr(), Timeout: time.Minute})
		ops := map[string]func(ctx context.Context) error{
			"Get":      func(ctx context.Context) error { _, err := c.Get(ctx, "k"); return err },
			"Stats":    func(ctx context.Context) error { _, err := c.Stats(ctx); return err },
			"Metadump": func(ctx context.Context) error { _, err := c.Metadump(ctx); return err },
		}
		for name, op := range ops {
			t.Run(name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				start := time.Now()
				assert.ErrorIs(t, op(ctx), context.DeadlineExceeded)
				assert.Less(t, time.Since(start), 20*time.Second, "waited for the client timeout")
			})
		}
	})
}

// TestClient_TimeoutKeepsConnection checks that callers that give up leave
// the connection in step: their replies, arriving later, are consumed and
// not handed to anyone else.
func TestClient_TimeoutKeepsConnection(t *testing.T) {
	ctx := context.Background()
	addr := memcachedtest.Start(t)
	direct := newTestClient(t, Options{Addr: addr})
	for i := range 10 {
		require.NoError(t, direct.Set(ctx, fmt.Sprintf("k%d", i), []byte(fmt.Sprintf("old %d", i)), 0))
	}
	proxy := memcachedtest.StartPausingProxy(t, addr)
	const timeout = 300 * time.Millisecond
	c := newTestClient(t, Options{Addr: proxy.Addr(), Timeout: timeout, Conns: 1})

	proxy.Pause()
	var g errgroup.Group
	for i := range 10 {
		g.Go(func() error {
			start := time.Now()
			_, err := c.Get(ctx, fmt.Sprintf("k%d", i))
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("get k%d while paused: %v", i, err)
			}
			if elapsed := time.Since(start); elapsed < timeout || elapsed > 10*time.Second {
				return fmt.Errorf("get k%d gave up after %v, timeout %v", i, elapsed, timeout)
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	proxy.Resume()

	for i := range 10 {
		key, want := fmt.Sprintf("k%d", i), []byte(fmt.Sprintf("new %d", i))
		require.NoError(t, c.Set(ctx, key, want, 0))
		got, err := c.Get(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	assert.Equal(t, 1, proxy.Accepted(), "abandoned calls must not cost the connection")
}

// TestClient_StalledConnection checks that a connection owing a reply for
// much longer than Timeout is replaced.
func TestClient_StalledConnection(t *testing.T) {
	ctx := context.Background()
	proxy := memcachedtest.StartPausingProxy(t, memcachedtest.Start(t))
	const timeout = 100 * time.Millisecond
	c := newTestClient(t, Options{Addr: proxy.Addr(), Timeout: timeout, Conns: 1})

	proxy.Pause()
	_, err := c.Get(ctx, "k")
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	waitFor(t, 100*stallFactor*timeout, "the stalled connection to close", func() bool { return proxy.Closed() == 1 })
	proxy.Resume()

	require.NoError(t, c.Set(ctx, "k", []byte("v"), 0))
	got, err := c.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "v", string(got))
	assert.Equal(t, 2, proxy.Accepted(), "a new connection")
}

func TestClient_CloseWithCallsInFlight(t *testing.T) {
	ctx := context.Background()
	srv := memcachedtest.StartSilent(t)
	c, err := New(Options{Addr: srv.Addr(), Timeout: time.Minute})
	require.NoError(t, err)

	const callers = 20
	errs := make(chan error, callers+1)
	for i := range callers {
		go func() {
			if i%2 == 0 {
				_, err := c.Get(ctx, fmt.Sprintf("k%d", i))
				errs <- err
				return
			}
			errs <- c.Set(ctx, fmt.Sprintf("k%d", i), []byte("v"), 0)
		}()
	}
	go func() { _, err := c.Stats(ctx); errs <- err }()
	// Each get sends one line, each set two, stats one.
	waitFor(t, 20*time.Second, "every request to reach the server", func() bool { return srv.Lines() == callers/2*3+1 })

	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	for range callers + 1 {
		select {
		case err := <-errs:
			assert.ErrorIs(t, err, ErrClosed)
		case <-time.After(20 * time.Second):
			t.Fatal("a call in flight did not return after Close")
		}
	}
	select {
	case err := <-closed:
		assert.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return")
	}
	assert.NoError(t, c.Close(), "second Close")
	_, err = c.Get(ctx, "k")
	assert.ErrorIs(t, err, ErrClosed, "Get after Close")
	_, err = c.Version(ctx)
	assert.ErrorIs(t, err, ErrClosed, "Version after Close")
}
