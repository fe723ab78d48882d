package ordered

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMode_SetTimeouts(t *testing.T) {
	base := Config{}.WithDefaults()
	tests := []struct {
		name    string
		t       Timeouts
		wantErr bool
	}{
		{"longer both", Timeouts{LeaderWait: 4 * time.Second, RequestTimeout: 8 * time.Second}, false},
		{"request timeout under leader wait", Timeouts{LeaderWait: 4 * time.Second, RequestTimeout: time.Second}, true},
		{"zero leader wait", Timeouts{LeaderWait: 0, RequestTimeout: time.Second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Mode{cfg: base}
			m.live.Store(&Timeouts{LeaderWait: base.LeaderWait, RequestTimeout: base.RequestTimeout})
			before := *m.timeouts()
			err := m.SetTimeouts(tt.t)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrInvalidConfig)
				assert.Equal(t, before, *m.timeouts())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.t, *m.timeouts())
		})
	}
}
