package bench

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBucketOf_RangeHoldsValue(t *testing.T) {
	tests := []struct {
		name string
		v    uint64
	}{
		{"zero", 0},
		{"one", 1},
		{"last exact", subCount - 1},
		{"first log bucket", subCount},
		{"just above", subCount + 1},
		{"end of first power", 2*subCount - 1},
		{"second power", 2 * subCount},
		{"odd in second power", 2*subCount + 1},
		{"one microsecond", 1000},
		{"one millisecond", 1_000_000},
		{"odd nanoseconds", 123_456_789},
		{"large", 1<<40 + 12345},
		{"largest", math.MaxUint64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := bucketOf(tt.v)
			require.GreaterOrEqual(t, i, 0)
			require.Less(t, i, numBuckets)
			lo, hi := bucketRange(i)
			assert.LessOrEqual(t, lo, tt.v)
			assert.GreaterOrEqual(t, hi, tt.v)
			assert.LessOrEqual(t, hi-lo+1, max(lo/subCount, 1), "bucket width is at most 1/%d of its value", subCount)
		})
	}
}

func TestBucketRange_Contiguous(t *testing.T) {
	var next uint64
	for i := range numBuckets {
		lo, hi := bucketRange(i)
		require.Equal(t, next, lo, "bucket %d starts where %d ended", i, i-1)
		require.LessOrEqual(t, lo, hi)
		require.Equal(t, i, bucketOf(lo), "low end of bucket %d", i)
		require.Equal(t, i, bucketOf(hi), "high end of bucket %d", i)
		next = hi + 1
	}
	assert.Equal(t, uint64(0), next, "the last bucket ends at the largest uint64")
}

func TestHistogram_Quantile(t *testing.T) {
	us := time.Microsecond
	uniform := func() []time.Duration {
		var d []time.Duration
		for i := 1; i <= 1000; i++ {
			d = append(d, time.Duration(i)*us)
		}
		return d
	}
	bimodal := func() []time.Duration {
		var d []time.Duration
		for range 990 {
			d = append(d, 100*us)
		}
		for range 10 {
			d = append(d, 50*time.Millisecond)
		}
		return d
	}
	tests := []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{name: "empty", values: nil, q: 0.5, want: 0},
		{name: "single p50", values: []time.Duration{1234 * us}, q: 0.5, want: 1234 * us},
		{name: "single p999", values: []time.Duration{1234 * us}, q: 0.999, want: 1234 * us},
		{name: "single p0", values: []time.Duration{1234 * us}, q: 0, want: 1234 * us},
		{name: "uniform p50", values: uniform(), q: 0.5, want: 500 * us},
		{name: "uniform p99", values: uniform(), q: 0.99, want: 990 * us},
		{name: "uniform p999", values: uniform(), q: 0.999, want: 999 * us},
		{name: "uniform p100 is the max", values: uniform(), q: 1, want: 1000 * us},
		{name: "uniform p0 is the min", values: uniform(), q: 0, want: 1 * us},
		{name: "bimodal p50", values: bimodal(), q: 0.5, want: 100 * us},
		{name: "bimodal p99", values: bimodal(), q: 0.99, want: 100 * us},
		{name: "bimodal p999", values: bimodal(), q: 0.999, want: 50 * time.Millisecond},
		{name: "small exact values", values: []time.Duration{3, 5, 7, 9}, q: 0.5, want: 5},
		{name: "negative counts as zero", values: []time.Duration{-5, 10}, q: 0.5, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			for _, v := range tt.values {
				h.record(v)
			}
			got := h.quantile(tt.q)
			assert.InDelta(t, float64(tt.want), float64(got), float64(tt.want)/subCount, "got %v", got)
		})
	}
}

func TestHistogram_MergeEqualsRecordingAll(t *testing.T) {
	var all, a, b histogram
	for i := 1; i <= 5000; i++ {
		d := time.Duration(i*i) * time.Nanosecond
		all.record(d)
		if i%3 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	var merged histogram
	merged.merge(&a)
	merged.merge(&histogram{}) // an empty one changes nothing
	merged.merge(&b)
	assert.Equal(t, all, merged)
	assert.Equal(t, all.quantile(0.99), merged.quantile(0.99))
}

func TestHistogram_MeanMinMax(t *testing.T) {
	var h histogram
	assert.Zero(t, h.mean())
	for _, d := range []time.Duration{10, 20, 60} {
		h.record(d)
	}
	assert.Equal(t, time.Duration(30), h.mean())
	assert.Equal(t, uint64(10), h.min)
	assert.Equal(t, uint64(60), h.max)
	l := summarize(&h)
	assert.Equal(t, int64(3), l.Count)
	assert.True(t, l.Min <= l.P50 && l.P50 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max, "%+v", l)
}
