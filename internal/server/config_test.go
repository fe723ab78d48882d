package server

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/field"
)

// validConfig is DefaultConfig with the fields it leaves to the caller.
func validConfig() Config {
	c := DefaultConfig()
	c.ClusterName, c.Mode, c.Secret, c.Self = "test", consistency.Eventual, "s3cret", "a"
	c.Peers = []PeerAddrs{
		{Name: "a", ClientAddr: "127.0.0.1:1", PeerAddr: "127.0.0.1:2", ReplicaAddr: "127.0.0.1:3"},
		{Name: "b", ClientAddr: "127.0.0.1:4", PeerAddr: "127.0.0.1:5", ReplicaAddr: "127.0.0.1:6"},
	}
	return c
}

func TestConfig_Validate(t *testing.T) {
	require.NoError(t, validConfig().Validate())
	tests := []struct {
		name string
		edit func(*Config)
		want []string // the path of every problem, in order
	}{
		{"bad mode", func(c *Config) { c.Mode = "strong" }, []string{"server.Config.Mode"}},
		{"bad store", func(c *Config) { c.Store = "redis" }, []string{"server.Config.Store"}},
		{"heartbeat timeout not above the interval", func(c *Config) { c.HeartbeatTimeout = c.HeartbeatInterval },
			[]string{"peer.MembershipConfig.Timeout"}},
		{"empty secret", func(c *Config) { c.Secret = "" }, []string{"peer.TransportConfig.Secret"}},
		{"tiny line limit", func(c *Config) { c.MaxLineLength = 100 }, []string{"controller.Config.MaxLineLength"}},
		{"push delay above the sync interval", func(c *Config) {
			c.Eventual.SyncInterval, c.Eventual.PushDelay = 100*time.Millisecond, 500*time.Millisecond
		}, []string{"eventual.Config.PushDelay"}},
		{"ordered tuning is checked in eventual mode too", func(c *Config) { c.Ordered.ElectionTimeout = time.Millisecond },
			[]string{"ordered.Config.ElectionTimeout"}},
		{"memcached settings are checked with the memory store too", func(c *Config) { c.Store, c.StoreConns = StoreMemory, 100 },
			[]string{"kvcontroller.MemcachedOptions.PipelineConns"}},
		{"one store timeout for the replica and the log", func(c *Config) { c.StoreTimeout = -time.Second },
			[]string{"kvcontroller.MemcachedOptions.Timeout", "ordered.Config.StoreTimeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.edit(&c)
			fields, rest := field.All(c.Validate())
			require.Empty(t, rest)
			var paths []string
			for _, f := range fields {
				paths = append(paths, f.Path())
			}
			assert.Equal(t, tt.want, paths)
		})
	}
}

func TestNew_DefaultsZeroTunablesAndValidates(t *testing.T) {
	c := Config{ClusterName: "test", Mode: consistency.Eventual, Secret: "s3cret", Self: "a", Store: StoreMemory,
		Peers: validConfig().Peers}
	s, err := New(c)
	require.NoError(t, err, "zero tunables are DefaultConfig's")
	assert.Equal(t, DefaultConfig().StoreTimeout, s.cfg.StoreTimeout)
	assert.Equal(t, DefaultConfig().Eventual, s.cfg.Eventual)
	require.NoError(t, s.closeParts())

	c.Eventual.PushDelay = 2 * time.Second
	_, err = New(c)
	require.Error(t, err)
	fields, _ := field.All(err)
	require.Len(t, fields, 1)
	assert.Equal(t, "eventual.Config.PushDelay", fields[0].Path())
}
