package localmode

import (
	"sync"
	"time"
)

// logicalBits is how many low bits of an HLC timestamp count events within
// one millisecond; the high bits are wall-clock milliseconds.
const logicalBits = 16

// HLCNext returns the timestamp for a local event that follows last, given
// the wall clock in unix milliseconds. It is a pure function.
func HLCNext(last uint64, wallMs int64) uint64 {
	candidate := uint64(wallMs) << logicalBits
	if candidate > last {
		return candidate
	}
	return last + 1
}

// HLCMerge returns the timestamp for receiving remote after last, given the
// wall clock in unix milliseconds: greater than both last and remote.
func HLCMerge(last, remote uint64, wallMs int64) uint64 {
	next := HLCNext(last, wallMs)
	if remote >= next {
		return remote + 1
	}
	return next
}

// HLCWall returns the wall-clock part of an HLC timestamp.
func HLCWall(ts uint64) time.Time {
	return time.UnixMilli(int64(ts >> logicalBits))
}

// Clock is a hybrid logical clock: timestamps that follow the wall clock,
// never repeat and never go backwards. It is safe for concurrent use.
type Clock struct {
	now func() time.Time

	mu   sync.Mutex // guards last
	last uint64
}

// NewClock returns a Clock reading time from now (time.Now when nil).
func NewClock(now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now}
}

// Now returns a fresh timestamp for a local event.
func (c *Clock) Now() uint64 {
	wall := c.now().UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = HLCNext(c.last, wall)
	return c.last
}

// Observe advances the clock past a timestamp received from another peer.
func (c *Clock) Observe(remote uint64) uint64 {
	wall := c.now().UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = HLCMerge(c.last, remote, wall)
	return c.last
}

// Last returns the most recent timestamp issued or observed.
func (c *Clock) Last() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}
