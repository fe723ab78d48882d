package peer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMembership_SetTiming(t *testing.T) {
	tests := []struct {
		name    string
		timing  Timing
		wantErr bool
		silence time.Duration // how long b is silent afterwards
		wantUp  bool
	}{
		{"a shorter timeout marks a peer down sooner", Timing{Interval: 20 * time.Millisecond, Timeout: 100 * time.Millisecond},
			false, 200 * time.Millisecond, false},
		{"a longer timeout keeps it up longer", Timing{Interval: testInterval, Timeout: 2 * time.Second},
			false, time.Second, true},
		{"a timeout not above the interval is refused", Timing{Interval: time.Second, Timeout: time.Second},
			true, 2 * testTimeout, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Unix(1000, 0)}
			m, _ := newIdleMembership(t, clock)
			err := m.SetTiming(tt.timing)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrInvalidConfig)
				assert.Equal(t, Timing{Interval: testInterval, Timeout: testTimeout}, *m.timing(), "refused: the old timing stays")
			} else {
				require.NoError(t, err)
			}
			m.observe("b", Heartbeat{Name: "b"})
			clock.Advance(tt.silence)
			for _, mem := range m.Members() {
				if mem.Name == "b" {
					assert.Equal(t, tt.wantUp, mem.Up)
				}
			}
		})
	}
}
