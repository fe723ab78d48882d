package bench

import (
	"math"
	"math/bits"
	"time"
)

// The histogram keeps exact counts below 2^subBits nanoseconds and, above,
// splits every power of two into 2^subBits equal buckets, so a reported
// percentile is within 1/2^subBits (about 3%) of the true value while the
// memory stays fixed (numBuckets counters) however many values are recorded.
const (
	subBits    = 5
	subCount   = 1 << subBits
	numBuckets = (64-subBits)*subCount + subCount
)

// histogram counts latencies in log-linear buckets. It is not safe for
// concurrent use; each connection keeps its own and they are merged.
type histogram struct {
	counts   [numBuckets]uint64
	total    uint64
	min, max uint64 // exact extremes, nanoseconds
	sum      float64
}

// bucketOf returns the bucket index of v.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	exp := bits.Len64(v) - 1 // v is in [2^exp, 2^(exp+1))
	shift := exp - subBits
	sub := (v >> shift) & (subCount - 1)
	return (shift+1)*subCount + int(sub)
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	shift := i/subCount - 1
	sub := uint64(i % subCount)
	lo = (subCount + sub) << shift
	return lo, lo + (uint64(1)<<shift - 1)
}

// record adds one latency; negative durations count as zero.
func (h *histogram) record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.total++
	h.sum += float64(v)
}

// merge adds every value of o to h.
func (h *histogram) merge(o *histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.total += o.total
	h.sum += o.sum
}

// quantile returns the latency below or at which a fraction q (0..1) of
// the values lie: the middle of the bucket holding the value of that rank,
// kept within the exact minimum and maximum. It is 0 when h is empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			mid := lo + (hi-lo)/2
			return time.Duration(min(max(mid, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// mean returns the average latency, 0 when h is empty.
func (h *histogram) mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}
