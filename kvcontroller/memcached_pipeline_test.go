package kvcontroller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memcons/memcons/internal/memcachedtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

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

// pipeWorkload is one goroutine of TestMemcachedStore_PipelineMixedOps: it
// owns its keys (and checks every read of them against its own model), and
// writes shared keys that other goroutines write too.
type pipeWorkload struct {
	id      int
	own     []string
	model   map[string]Item // own keys; absent = not stored
	shared  []string
	written map[string]bool // values this goroutine wrote to shared keys
}

func (w *pipeWorkload) run(ctx context.Context, s Store, ops int) error {
	rng := rand.New(rand.NewPCG(uint64(w.id), 7))
	for op := range ops {
		key := w.own[rng.IntN(len(w.own))]
		switch p := rng.IntN(100); {
		case p < 35:
			it := Item{Key: key, Value: []byte(fmt.Sprintf("w%d-op%d", w.id, op)), Flags: uint32(op), Version: uint64(op)}
			if err := s.Set(ctx, it); err != nil {
				return fmt.Errorf("worker %d set %q: %w", w.id, key, err)
			}
			w.model[key] = it
		case p < 60:
			got, err := s.Get(ctx, key)
			if err := w.check(key, got, err); err != nil {
				return err
			}
		case p < 70:
			err := s.Delete(ctx, key)
			_, had := w.model[key]
			if had && err != nil || !had && !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("worker %d delete %q (stored %v): %v", w.id, key, had, err)
			}
			delete(w.model, key)
		case p < 80:
			keys := []string{key, w.own[rng.IntN(len(w.own))], w.shared[rng.IntN(len(w.shared))]}
			found, err := s.GetMulti(ctx, keys)
			if err != nil {
				return fmt.Errorf("worker %d get %q: %w", w.id, keys, err)
			}
			for _, k := range keys[:2] {
				got, ok := found[k]
				err := error(nil)
				if !ok {
					err = ErrNotFound
				}
				if err := w.check(k, got, err); err != nil {
					return fmt.Errorf("multi-get: %w", err)
				}
			}
		default:
			k := w.shared[rng.IntN(len(w.shared))]
			v := fmt.Sprintf("w%d-op%d", w.id, op)
			if err := s.Set(ctx, Item{Key: k, Value: []byte(v)}); err != nil {
				return fmt.Errorf("worker %d set %q: %w", w.id, k, err)
			}
			w.written[v] = true
		}
	}
	return nil
}

// check compares a read of an own key with the model.
func (w *pipeWorkload) check(key string, got Item, err error) error {
	want, ok := w.model[key]
	switch {
	case !ok && errors.Is(err, ErrNotFound):
		return nil
	case !ok:
		return fmt.Errorf("worker %d get %q: want not found, got %+v, %v", w.id, key, got, err)
	case err != nil:
		return fmt.Errorf("worker %d get %q: want %q, got %v", w.id, key, want.Value, err)
	case got.Key != want.Key || !bytes.Equal(got.Value, want.Value) || got.Version != want.Version || got.Flags != want.Flags:
		return fmt.Errorf("worker %d get %q: want %+v, got %+v", w.id, key, want, got)
	}
	return nil
}

func TestMemcachedStore_PipelineMixedOps(t *testing.T) {
	tests := []struct {
		name  string
		conns int
	}{
		{"one connection", 1},
		{"default", 0},
		{"four connections", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := newTestMemcachedStore(t, MemcachedOptions{Addr: startMemcached(t), PipelineConns: tt.conns, Timeout: 10 * time.Second})
			shared := []string{"shared-0", "shared 1", "shared\t2", "shared-3", "shared\xff4"}
			workers := make([]*pipeWorkload, 16)
			for i := range workers {
				w := &pipeWorkload{id: i, model: map[string]Item{}, shared: shared, written: map[string]bool{}}
				for k := range 8 {
					w.own = append(w.own, fmt.Sprintf("own-%d-%d", i, k), fmt.Sprintf("own\x01%d %d", i, k))
				}
				workers[i] = w
			}
			var g errgroup.Group
			for _, w := range workers {
				g.Go(func() error { return w.run(ctx, s, 400) })
			}
			require.NoError(t, g.Wait())

			// Final state: every own key as its owner last left it, through
			// Get and GetMulti; every shared key holds a value someone wrote.
			var all []string
			for _, w := range workers {
				for _, k := range w.own {
					got, err := s.Get(ctx, k)
					assert.NoError(t, w.check(k, got, err))
				}
				all = append(all, w.own...)
			}
			found, err := s.GetMulti(ctx, append(all, shared...))
			require.NoError(t, err)
			for _, w := range workers {
				for _, k := range w.own {
					got, ok := found[k]
					err := error(nil)
					if !ok {
						err = ErrNotFound
					}
					assert.NoError(t, w.check(k, got, err), "multi-get")
				}
			}
			for _, k := range shared {
				got, err := s.Get(ctx, k)
				if errors.Is(err, ErrNotFound) {
					assert.NotContains(t, found, k)
					continue
				}
				require.NoError(t, err)
				assert.Equal(t, got, found[k], "Get and GetMulti agree on %q", k)
				var writer bool
				for _, w := range workers {
					writer = writer || w.written[string(got.Value)]
				}
				assert.True(t, writer, "shared key %q holds %q, which nobody wrote", k, got.Value)
			}
		})
	}
}

// TestMemcachedStore_PipelineBackendRestart kills memcached under load:
// callers get ErrBackend without hanging, and once memcached is back on the
// same port the store serves again.
func TestMemcachedStore_PipelineBackendRestart(t *testing.T) {
	ctx := context.Background()
	addr, stop := memcachedtest.StartStoppable(t, "-I", "2m")
	s := newTestMemcachedStore(t, MemcachedOptions{Addr: addr, Timeout: 5 * time.Second})

	const workers = 8
	var (
		phase      atomic.Int32 // 0 up, 1 stopped, 2 restarted
		ok         [3]atomic.Int64
		backendErr [workers]atomic.Int64 // ErrBackend seen after the stop
		recovered  [workers]atomic.Int64 // successes after the restart
		done       = make(chan struct{})
		g          errgroup.Group
	)
	for w := range workers {
		g.Go(func() error {
			for i := 0; ; i++ {
				select {
				case <-done:
					return nil
				default:
				}
				before := phase.Load()
				key := fmt.Sprintf("w%d-%d", w, i%50)
				var err error
				if i%3 == 0 {
					err = s.Set(ctx, Item{Key: key, Value: []byte("v")})
				} else {
					_, err = s.Get(ctx, key)
				}
				after := phase.Load()
				switch {
				case err == nil || errors.Is(err, ErrNotFound):
					ok[before].Add(1)
					if before == 2 {
						recovered[w].Add(1)
					}
				case errors.Is(err, ErrBackend):
					if after == 0 {
						return fmt.Errorf("worker %d before the stop: %w", w, err)
					}
					// A dead memcached fails calls at once; only a call left
					// behind by the failing connection would wait this long.
					if errors.Is(err, os.ErrDeadlineExceeded) {
						return fmt.Errorf("worker %d waited for its timeout: %w", w, err)
					}
					backendErr[w].Add(1)
				default:
					return fmt.Errorf("worker %d: error not wrapping ErrBackend: %w", w, err)
				}
			}
		})
	}
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			close(done)
			_ = g.Wait()
		}
	})

	waitFor(t, 20*time.Second, "load against a live memcached", func() bool { return ok[0].Load() >= 500 })
	phase.Store(1)
	stop()
	waitFor(t, 20*time.Second, "every worker to see ErrBackend", func() bool {
		for w := range workers {
			if backendErr[w].Load() < 3 {
				return false
			}
		}
		return true
	})

	phase.Store(2)
	memcachedtest.StartOn(t, addr, "-I", "2m")
	waitFor(t, 20*time.Second, "every worker to succeed again", func() bool {
		for w := range workers {
			if recovered[w].Load() < 10 {
				return false
			}
		}
		return true
	})
	close(done)
	require.NoError(t, g.Wait())

	require.NoError(t, s.Set(ctx, Item{Key: "after", Value: []byte("restart"), Version: 3}))
	got, err := s.Get(ctx, "after")
	require.NoError(t, err)
	assert.Equal(t, Item{Key: "after", Value: []byte("restart"), Version: 3}, got)
}

func TestMemcachedStore_PipelineContext(t *testing.T) {
	t.Run("cancelled before the call", func(t *testing.T) {
		srv := memcachedtest.StartSilent(t)
		s := newTestMemcachedStore(t, MemcachedOptions{Addr: srv.Addr(), Timeout: time.Minute})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := s.Get(ctx, "k")
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, s.Set(ctx, Item{Key: "k"}), context.Canceled)
		assert.ErrorIs(t, s.Delete(ctx, "k"), context.Canceled)
		_, err = s.GetMulti(ctx, []string{"a", "b"})
		assert.ErrorIs(t, err, context.Canceled)
		assert.Zero(t, srv.Lines(), "nothing sent")
	})
	t.Run("done while waiting", func(t *testing.T) {
		srv := memcachedtest.StartSilent(t)
		s := newTestMemcachedStore(t, MemcachedOptions{Addr: srv.Addr(), Timeout: time.Minute})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := s.Get(ctx, "k")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotErrorIs(t, err, ErrBackend, "a caller's own deadline is not a backend failure")
		assert.Less(t, time.Since(start), 20*time.Second, "waited for the store timeout")
	})
}

// TestMemcachedStore_CloseWithCallsInFlight checks that Close fails the
// calls waiting on a memcached that does not answer with ErrBackend.
func TestMemcachedStore_CloseWithCallsInFlight(t *testing.T) {
	ctx := context.Background()
	srv := memcachedtest.StartSilent(t)
	s, err := NewMemcachedStore(MemcachedOptions{Addr: srv.Addr(), Timeout: time.Minute})
	require.NoError(t, err)

	const callers = 10
	errs := make(chan error, callers)
	for i := range callers {
		go func() {
			if i%2 == 0 {
				_, err := s.Get(ctx, fmt.Sprintf("k%d", i))
				errs <- err
				return
			}
			errs <- s.Set(ctx, Item{Key: fmt.Sprintf("k%d", i), Value: []byte("v")})
		}()
	}
	// Each get sends one line, each set two.
	waitFor(t, 20*time.Second, "every request to reach the server", func() bool { return srv.Lines() == callers/2*3 })
	require.NoError(t, s.Close())
	for range callers {
		select {
		case err := <-errs:
			assert.ErrorIs(t, err, ErrBackend)
		case <-time.After(20 * time.Second):
			t.Fatal("a call in flight did not return after Close")
		}
	}
	_, err = s.Get(ctx, "k")
	assert.ErrorIs(t, err, ErrBackend, "Get after Close")
}

func TestMemcachedStore_PipelineMalformedKey(t *testing.T) {
	ctx := context.Background()
	s := newTestMemcachedStore(t, MemcachedOptions{Addr: startMemcached(t)})
	long := strings.Repeat("k", 251)
	_, err := s.Get(ctx, long)
	assert.ErrorIs(t, err, ErrBackend)
	assert.ErrorIs(t, s.Set(ctx, Item{Key: long}), ErrBackend)
	assert.ErrorIs(t, s.Delete(ctx, long), ErrBackend)
	_, err = s.GetMulti(ctx, []string{"ok", long})
	assert.ErrorIs(t, err, ErrBackend)
	_, err = s.Get(ctx, "")
	assert.ErrorIs(t, err, ErrBackend)

	require.NoError(t, s.Set(ctx, Item{Key: "ok", Value: []byte("v")}), "store usable afterwards")
	got, err := s.Get(ctx, "ok")
	require.NoError(t, err)
	assert.Equal(t, "v", string(got.Value))
}
