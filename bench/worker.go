package bench

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"
)

// keyPrefix starts every benchmark key.
const keyPrefix = "memcons_bench_"

// redialPause is how long a connection waits after a failed dial, so that
// an unreachable peer does not turn into a busy loop of errors.
const redialPause = 50 * time.Millisecond

// worker drives one connection and keeps its own counters, merged at the end.
type worker struct {
	c   *conn
	rng *rand.Rand
	key []byte

	reads, writes       histogram // latencies of successful gets and sets
	hits, misses, sets  int64
	readErrs, writeErrs int64
	firstErr            error

	done, failed atomic.Int64 // operations and errors so far, for progress
}

func newWorker(c *conn, seed int64, id int) *worker {
	return &worker{c: c, rng: rand.New(rand.NewPCG(uint64(seed), uint64(id))), key: make([]byte, 0, 32)}
}

// appendKey appends the name of key number i.
func appendKey(b []byte, i int) []byte {
	return strconv.AppendInt(append(b, keyPrefix...), int64(i), 10)
}

// prefill stores keys first, first+step, ... below n.
func (w *worker) prefill(ctx context.Context, first, step, n int, value []byte) error {
	for i := first; i < n; i += step {
		w.key = appendKey(w.key[:0], i)
		if err := w.c.set(ctx, w.key, value); err != nil {
			return err
		}
	}
	return nil
}

// run does operations while claim allows. An operation that fails because
// ctx ended is the run being cut off, and is not counted.
func (w *worker) run(ctx context.Context, cfg Config, value []byte, claim func() bool) {
	for claim() {
		w.key = appendKey(w.key[:0], w.rng.IntN(cfg.Keys))
		isSet := w.rng.Float64() < cfg.SetRatio
		start := time.Now()
		var (
			hit bool
			err error
		)
		if isSet {
			err = w.c.set(ctx, w.key, value)
		} else {
			hit, err = w.c.get(ctx, w.key)
		}
		took := time.Since(start)
		if err != nil && ended(ctx) {
			return
		}
		w.done.Add(1)
		switch {
		case err != nil:
			w.failed.Add(1)
			w.countError(isSet, err)
			if errors.Is(err, errDial) {
				w.pause(ctx)
			}
		case isSet:
			w.sets++
			w.writes.record(took)
		case hit:
			w.hits++
			w.reads.record(took)
		default:
			w.misses++
			w.reads.record(took)
		}
	}
}

func (w *worker) countError(isSet bool, err error) {
	if isSet {
		w.writeErrs++
	} else {
		w.readErrs++
	}
	if w.firstErr == nil {
		w.firstErr = err
	}
}

// pause waits redialPause or until ctx ends.
func (w *worker) pause(ctx context.Context) {
	t := time.NewTimer(redialPause)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// ended reports whether ctx is done or its deadline has passed (a request
// cut off by the deadline may fail a moment before ctx itself is done).
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}
