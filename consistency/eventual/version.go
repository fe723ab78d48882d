package eventual

import (
	"sync"
	"time"
)

// OrdinalBits is how many low bits of a version hold the writing peer's
// ordinal (its index in the sorted list of peer names). Comparing two
// versions as integers therefore compares (HLC timestamp, peer name), and
// two peers can never issue the same version.
const OrdinalBits = 8

// MaxPeers is the most peers versions can tell apart.
const MaxPeers = 1 << OrdinalBits

// wallShift is where the wall-clock milliseconds start in a version, as in
// consistency's HLC: 48 bits of milliseconds above 16 low bits, here 8 bits
// of logical counter and 8 bits of ordinal.
const wallShift = 16

const ordinalMask = MaxPeers - 1

// NextVersion returns the version for a local write by the peer with
// ordinal, given the greatest version seen so far and the wall clock in unix
// milliseconds: greater than last, carrying ordinal in its low bits. It is a
// pure function.
func NextVersion(last uint64, wallMs int64, ordinal int) uint64 {
	v := uint64(wallMs)<<wallShift | uint64(ordinal)
	if v > last {
		return v
	}
	return ((last>>OrdinalBits)+1)<<OrdinalBits | uint64(ordinal)
}

// VersionOrdinal returns the ordinal of the peer that issued v.
func VersionOrdinal(v uint64) int { return int(v & ordinalMask) }

// VersionTime returns the wall-clock part of v.
func VersionTime(v uint64) time.Time { return time.UnixMilli(int64(v >> wallShift)) }

// versionClock issues versions for one peer and keeps them above every
// version it has observed. It is safe for concurrent use.
type versionClock struct {
	now     func() time.Time
	ordinal int

	mu   sync.Mutex // guards last
	last uint64
}

// next returns a fresh version greater than every version seen.
func (c *versionClock) next() uint64 {
	wall := c.now().UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = NextVersion(c.last, wall, c.ordinal)
	return c.last
}

// observe records v so later versions exceed it.
func (c *versionClock) observe(v uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = max(c.last, v)
}

// current returns the greatest version seen or issued.
func (c *versionClock) current() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}
