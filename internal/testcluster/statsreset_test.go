package testcluster

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/internal/memcachedtest"
)

// TestStatsReset_ZeroesTotalItems checks that `stats reset` zeroes
// total_items, which then counts the items stored since, as memcached
// does: against a real memcached first, then through a peer of every mode
// and store.
func TestStatsReset_ZeroesTotalItems(t *testing.T) {
	check := func(t *testing.T, addr string) {
		cl, err := memcachedtest.Dial(addr, clientTimeout)
		require.NoError(t, err)
		t.Cleanup(func() { _ = cl.Close() })
		total := func() string {
			st, err := cl.Stats("")
			require.NoError(t, err)
			return st["total_items"]
		}
		for _, k := range []string{"a", "b", "c"} {
			r, err := cl.Store("set", k, "v")
			require.NoError(t, err)
			require.Equal(t, "STORED", r)
		}
		require.NotEqual(t, "0", total(), "three items stored")
		r, err := cl.Simple("stats reset")
		require.NoError(t, err)
		require.Equal(t, "RESET", r)
		assert.Equal(t, "0", total(), "right after stats reset")
		for _, k := range []string{"d", "e"} {
			r, err := cl.Store("set", k, "v")
			require.NoError(t, err)
			require.Equal(t, "STORED", r)
		}
		// A replica applies a write before the peer answers it.
		assert.Equal(t, "2", total(), "two items stored since the reset")
	}
	t.Run("memcached", func(t *testing.T) { check(t, memcachedtest.Start(t)) })
	onEveryCluster(t, true, func(t *testing.T, c *Cluster, cc clusterCase) {
		// Peer 0 takes the writes: with nothing pushed to it from
		// elsewhere, its replica stores exactly these.
		check(t, c.ClientAddr(0))
	})
}
