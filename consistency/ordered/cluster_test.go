package ordered_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/consistency/ordered"
	"github.com/memcons/memcons/internal/memcachedtest"
	"github.com/memcons/memcons/internal/server"
	"github.com/memcons/memcons/internal/testcluster"
)

// Test timing: short raft timeouts keep fault runs quick; slack absorbs a
// loaded 2-core machine running -race.
const (
	testElection = 300 * time.Millisecond
	// steadyElection is for tests that see no fault and count on one
	// leader throughout (every write must succeed): at testElection a
	// leader on a loaded machine can miss its 150 ms lease and step down,
	// failing a write as outcome unknown.
	steadyElection = ordered.DefaultElectionTimeout
	testLeaderWait = 1500 * time.Millisecond
	slack          = 5 * time.Second
)

// steady is the startCluster hook of the fault-free tests: steadyElection.
func steady(_ string, c *ordered.Config) { c.ElectionTimeout = steadyElection }

// startCluster runs a 3-peer cluster in mode with test timing; hook, when
// set, may adjust each peer's ordered config.
func startCluster(t *testing.T, mode consistency.Kind, store server.StoreKind, hook func(name string, c *ordered.Config)) *testcluster.Cluster {
	t.Helper()
	c := testcluster.Start(t, testcluster.Options{Mode: mode, Store: store, Configure: func(cfg *server.Config) {
		cfg.Ordered.ElectionTimeout = testElection
		cfg.Ordered.LeaderWait = testLeaderWait
		cfg.Ordered.RequestTimeout = 3 * time.Second
		if hook != nil {
			hook(cfg.Self, &cfg.Ordered)
		}
	}})
	require.NoError(t, c.WaitAllUp(slack))
	return c
}

func TestOrdered_WriteAtOnePeerReadAtEvery(t *testing.T) {
	for _, mode := range []consistency.Kind{consistency.Linearizable, consistency.Sequential} {
		t.Run(string(mode), func(t *testing.T) {
			c := startCluster(t, mode, server.StoreMemory, steady)
			cl, err := memcachedtest.Dial(c.ClientAddr(0), opTimeout)
			require.NoError(t, err)
			defer cl.Close()
			r, err := cl.Store("set", "k", "v1")
			require.NoError(t, err)
			require.Equal(t, "STORED", r)
			it, err := cl.Gets("k")
			require.NoError(t, err)
			require.True(t, it.Found, "the writing connection reads its write at once")
			unique := it.Cas
			for i := range 3 {
				other, err := memcachedtest.Dial(c.ClientAddr(i), opTimeout)
				require.NoError(t, err)
				require.Eventually(t, func() bool {
					it, err := other.Gets("k")
					return err == nil && it.Found && it.Value == "v1" && it.Cas == unique
				}, slack, 10*time.Millisecond, "%s serves v1 with the same cas unique %d", c.Name(i), unique)
				_ = other.Close()
			}
		})
	}
}
