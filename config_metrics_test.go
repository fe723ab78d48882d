package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoadConfig_MetricsKeys checks that metrics_addr and pprof are keys
// like any other: off by default, set by file, environment or flag, flag
// beating environment.
func TestLoadConfig_MetricsKeys(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		flags     []string
		wantAddr  string
		wantPprof bool
	}{
		{name: "off by default"},
		{name: "env", env: map[string]string{"MEMCONS_PEER1_METRICS_ADDR": "127.0.0.1:9150", "MEMCONS_CLUSTER_PPROF": "on"},
			wantAddr: "127.0.0.1:9150", wantPprof: true},
		{name: "flag over env", env: map[string]string{"MEMCONS_PEER1_METRICS_ADDR": "127.0.0.1:9150", "MEMCONS_CLUSTER_PPROF": "on"},
			flags: []string{"--peer1.metrics_addr", "127.0.0.1:9250", "--cluster.pprof=off"}, wantAddr: "127.0.0.1:9250"},
		{name: "empty flag turns it off", env: map[string]string{"MEMCONS_PEER1_METRICS_ADDR": "127.0.0.1:9150"},
			flags: []string{"--peer1.metrics_addr="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"--config", writeConfig(t, testINI), "--name", "peer1"}, tt.flags...)
			lc, _, err := load(t, args...)
			require.NoError(t, err)
			cfg, err := buildConfig(lc.raw)
			require.NoError(t, err)
			self, err := cfg.SelfAddrs()
			require.NoError(t, err)
			assert.Equal(t, tt.wantAddr, self.MetricsAddr)
			assert.Equal(t, tt.wantPprof, cfg.Pprof)
		})
	}
}
