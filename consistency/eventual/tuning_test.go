package eventual

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMode_SetTuning(t *testing.T) {
	tests := []struct {
		name    string
		tuning  Tuning
		wantErr bool
	}{
		{"longer interval, bigger batch", Tuning{SyncInterval: 2 * time.Second, PushBatch: 512, PushDelay: 20 * time.Millisecond}, false},
		{"push delay over the sync interval", Tuning{SyncInterval: 10 * time.Millisecond, PushBatch: 128, PushDelay: 50 * time.Millisecond}, true},
		{"zero batch", Tuning{SyncInterval: time.Second, PushBatch: 0, PushDelay: time.Millisecond}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, modes := startModes(t, Config{SyncInterval: testInterval}, "a", "b")
			before := *modes[0].tuning()
			err := modes[0].SetTuning(tt.tuning)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrInvalidConfig)
				assert.Equal(t, before, *modes[0].tuning(), "a refused tuning keeps the old one")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.tuning, *modes[0].tuning())
			assert.Equal(t, max(10*tt.tuning.SyncInterval, 5*time.Second), modes[0].syncTimeout(), "the sync timeout follows the interval")
		})
	}
}

func TestMode_RetuneResetsTicker(t *testing.T) {
	_, modes := startModes(t, Config{SyncInterval: time.Hour, PushDelay: time.Millisecond}, "a", "b")
	m := modes[0]
	period := time.Hour
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	require.NoError(t, m.SetTuning(Tuning{SyncInterval: 5 * time.Millisecond, PushBatch: 1, PushDelay: time.Millisecond}))
	m.retune(ticker, &period)
	assert.Equal(t, 5*time.Millisecond, period)
	select {
	case <-ticker.C:
	case <-time.After(10 * time.Second):
		t.Fatal("the ticker did not take the new interval")
	}
}
