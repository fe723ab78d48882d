package ordered

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/field"
	"github.com/memcons/memcons/kvcontroller"
)

func TestConfig_Validate(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	assert.Equal(t, kvcontroller.DefaultMemcachedTimeout, DefaultConfig().StoreTimeout,
		"the log is applied under the replica's own call timeout")
	tests := []struct {
		name string
		edit func(*Config)
		want []string // every problem, as Error() reads
	}{
		{"tiny election timeout", func(c *Config) { c.ElectionTimeout = time.Millisecond },
			[]string{"invalid ordered mode config: ElectionTimeout must be at least 10ms, got 1ms"}},
		{"zero leader wait", func(c *Config) { c.LeaderWait = 0 },
			[]string{"invalid ordered mode config: LeaderWait must be positive, got 0s"}},
		{"request timeout below leader wait", func(c *Config) { c.RequestTimeout = time.Second },
			[]string{"invalid ordered mode config: RequestTimeout must be at least LeaderWait (3s), got 1s"}},
		{"zero snapshot threshold", func(c *Config) { c.SnapshotThreshold = 0 },
			[]string{"invalid ordered mode config: SnapshotThreshold must be between 1 and 1073741824, got 0"}},
		{"negative store timeout", func(c *Config) { c.StoreTimeout = -time.Second },
			[]string{"invalid ordered mode config: StoreTimeout must be positive, got -1s"}},
		{"two problems, the comparison skipped", func(c *Config) { c.LeaderWait, c.SnapshotInterval = 0, time.Microsecond },
			[]string{"invalid ordered mode config: LeaderWait must be positive, got 0s",
				"invalid ordered mode config: SnapshotInterval must be at least 1ms, got 1µs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			fields, rest := field.All(c.Validate())
			require.Empty(t, rest)
			var got []string
			for _, f := range fields {
				assert.ErrorIs(t, f, ErrInvalidConfig)
				got = append(got, f.Error())
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestConfig_NewChecksWiringAndDefaultsZeros(t *testing.T) {
	c := Config{Kind: consistency.Eventual, Peers: []string{"a"}}
	fields, _ := field.All(c.validate())
	var paths []string
	for _, f := range fields {
		paths = append(paths, f.Path())
	}
	assert.Equal(t, []string{"ordered.Config.Kind", "ordered.Config.Self", "ordered.Config.DataDir"}, paths)

	c = Config{Kind: consistency.Linearizable, Self: "a", Peers: []string{"a"}, DataDir: t.TempDir()}
	require.NoError(t, c.validate())
	assert.Equal(t, DefaultElectionTimeout, c.ElectionTimeout)
	assert.Equal(t, uint64(DefaultSnapshotThreshold), c.SnapshotThreshold)
}
