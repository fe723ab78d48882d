package ordered

import (
	"context"
	"fmt"
	"sync"

	"github.com/memcons/memcons/consistency"
)

// verifier batches read index rounds: a leadership confirmation on the
// leader (verifyRound), a read index request to the leader on any peer
// (readIndexRound). Every read that arrives while a round runs joins the
// next round, so one round serves all reads waiting at its start.
type verifier struct {
	wg    *sync.WaitGroup // owner's; counts the running round loop
	round func() (uint64, error)

	mu      sync.Mutex // guards next, running, closed
	next    *verifyRound
	running bool
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
	if !v.running {
		v.running = true
		v.wg.Go(v.loop)
	}
	v.mu.Unlock()
	select {
	case <-r.done:
		return r.index, r.err
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: waiting for a read index: %w", consistency.ErrUnavailable, ctx.Err())
	}
}

// loop runs rounds while reads are waiting.
func (v *verifier) loop() {
	for {
		v.mu.Lock()
		r := v.next
		v.next = nil
		if r == nil {
			v.running = false
			v.mu.Unlock()
			return
		}
		v.mu.Unlock()
		r.index, r.err = v.round()
		close(r.done)
	}
}

// close refuses further rounds; the owner then waits on wg.
func (v *verifier) close() {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
}
