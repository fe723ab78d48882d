package consistency

import (
	"fmt"
	"sync"
	"time"
)

// DelayedFlush holds at most one scheduled `flush_all <delay>`: scheduling
// or cancelling replaces the pending one, as in memcached. The zero value
// is ready to use.
type DelayedFlush struct {
	mu      sync.Mutex  // guards timer, gen and closed
	timer   *time.Timer // the pending flush, if any
	gen     uint64      // bumped whenever the pending flush is replaced
	closed  bool
	running sync.WaitGroup // flushes whose timer fired
}

// Cancel drops the pending flush, if any.
func (d *DelayedFlush) Cancel() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
}

// Schedule runs flush after delay instead of any pending flush; once Close
// has run it refuses with ErrUnavailable.
func (d *DelayedFlush) Schedule(delay time.Duration, flush func()) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
	if d.closed {
		return fmt.Errorf("flush_all: %w: mode closed", ErrUnavailable)
	}
	gen := d.gen
	d.timer = time.AfterFunc(delay, func() { d.fire(gen, flush) })
	return nil
}

// Close cancels the pending flush and waits for one already running.
func (d *DelayedFlush) Close() {
	d.mu.Lock()
	d.closed = true
	d.stopLocked()
	d.mu.Unlock()
	d.running.Wait()
}

func (d *DelayedFlush) stopLocked() {
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.gen++
}

// fire runs flush unless it was replaced or d closed meanwhile.
func (d *DelayedFlush) fire(gen uint64, flush func()) {
	d.mu.Lock()
	if d.closed || gen != d.gen {
		d.mu.Unlock()
		return
	}
	d.timer = nil
	d.running.Add(1)
	d.mu.Unlock()
	defer d.running.Done()
	flush()
}
