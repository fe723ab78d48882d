package ordered

import (
	"context"
	"fmt"
	"sync"

	"github.com/memcons/memcons/consistency"
)

// maxRounds bounds the read index rounds of one verifier in flight at
// once.
const maxRounds = 3

// verifier batches read index rounds: a leadership confirmation on the
// leader (verifyRound), a read index request to the leader on any peer
// (readIndexRound). The reads waiting when a round starts share it; a read
// that arrives while rounds run starts one of its own at once unless
// maxRounds already run, so a round overlaps the ones before it (and the
// log replication they wait on) instead of queueing behind them.
type verifier struct {
	wg    *sync.WaitGroup // owner's; counts the running rounds
	round func() (uint64, error)

	mu      sync.Mutex // guards next, running, closed
	next    *verifyRound
	running int
	closed  bool
}

// verifyRound is one confirmation and the reads that wait for it.
type verifyRound struct {
	done  chan struct{}
	index uint64
	err   error
}

// readIndex joins the next round and returns its confirmed commit index.
func (v *verifier) readIndex(ctx context.Context) (uint64, error) {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return 0, fmt.Errorf("%w: mode closed", consistency.ErrUnavailable)
	}
	if v.next == nil {
		v.next = &verifyRound{done: make(chan struct{})}
	}
	r := v.next
	if v.running < maxRounds {
		v.running++
		v.next = nil
		v.wg.Go(func() { v.run(r) })
	}
	v.mu.Unlock()
	select {
	case <-r.done:
		return r.index, r.err
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: waiting for a read index: %w", consistency.ErrUnavailable, ctx.Err())
	}
}

// run runs round r, then the round that gathered meanwhile, if any, until
// none waits.
func (v *verifier) run(r *verifyRound) {
	for r != nil {
		r.index, r.err = v.round()
		close(r.done)
		v.mu.Lock()
		r, v.next = v.next, nil
		if r == nil {
			v.running--
		}
		v.mu.Unlock()
	}
}

// close refuses further rounds; the owner then waits on wg.
func (v *verifier) close() {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
}
