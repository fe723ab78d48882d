package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// Run fills the key space, then runs the get/set mix on cfg.Conns
// connections for cfg.Ops operations or cfg.Duration, and reports. When ctx
// is cancelled during the measured phase, Run returns what it measured so
// far together with the context's error.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Report{}, err
	}
	value := makeValue(cfg.ValueSize, cfg.Seed)
	workers := make([]*worker, cfg.Conns)
	for i := range workers {
		c := newConn(ctx, cfg.Addrs[i%len(cfg.Addrs)], cfg.Timeout)
		workers[i] = newWorker(c, cfg.Seed, i)
	}
	defer func() {
		for _, w := range workers {
			_ = w.c.Close()
		}
	}()

	rep := Report{Config: cfg}
	start := time.Now()
	if err := prefill(ctx, cfg, workers, value); err != nil {
		return Report{}, err
	}
	rep.Prefill = time.Since(start)

	var (
		phase  context.Context
		cancel context.CancelFunc
	)
	if cfg.Ops > 0 {
		phase, cancel = context.WithCancel(ctx)
	} else {
		phase, cancel = context.WithTimeout(ctx, cfg.Duration)
	}
	defer cancel()
	claim := func() bool { return phase.Err() == nil }
	if cfg.Ops > 0 {
		var left atomic.Int64
		left.Store(int64(cfg.Ops))
		claim = func() bool { return phase.Err() == nil && left.Add(-1) >= 0 }
	}

	start = time.Now()
	prog := startProgress(cfg.Progress, workers, start)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.run(phase, cfg, value, claim) })
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	prog.end()
	rep.add(workers)
	return rep, ctx.Err()
}

// prefill stores every key once, spread over the connections.
func prefill(ctx context.Context, cfg Config, workers []*worker, value []byte) error {
	g, gctx := errgroup.WithContext(ctx)
	for i, w := range workers {
		g.Go(func() error { return w.prefill(gctx, i, len(workers), cfg.Keys, value) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("%w: %w", ErrPrefill, err)
	}
	return nil
}

// makeValue returns size printable bytes chosen by seed.
func makeValue(size int, seed int64) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	rng := rand.New(rand.NewPCG(uint64(seed), 0x76616c7565))
	v := make([]byte, size)
	for i := range v {
		v[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return v
}
