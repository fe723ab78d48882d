package localmode

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHLC_MonotonicAndMerging(t *testing.T) {
	tests := []struct {
		name   string
		last   uint64
		remote uint64
		wallMs int64
		want   uint64
	}{
		{"wall ahead", 5 << logicalBits, 0, 6, 6 << logicalBits},
		{"wall behind counts logically", 9 << logicalBits, 0, 6, 9<<logicalBits + 1},
		{"remote ahead", 5 << logicalBits, 8<<logicalBits + 3, 6, 8<<logicalBits + 4},
		{"remote behind", 5 << logicalBits, 1, 6, 6 << logicalBits},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, HLCMerge(tt.last, tt.remote, tt.wallMs))
		})
	}
	c := NewClock(nil)
	prev := c.Now()
	for range 10000 {
		next := c.Now()
		require.Greater(t, next, prev)
		prev = next
	}
	assert.Greater(t, c.Observe(math.MaxUint64>>1), uint64(math.MaxUint64>>1))
}
