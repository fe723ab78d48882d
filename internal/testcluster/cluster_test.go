package testcluster

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/server"
)

// slack is the extra time fault tests allow on a loaded 2-core machine.
const slack = 5 * time.Second

func TestCluster_PeersSeeEachOtherDownAndUp(t *testing.T) {
	for _, mode := range []consistency.Kind{consistency.Linearizable, consistency.Sequential, consistency.Eventual} {
		t.Run(string(mode), func(t *testing.T) {
			c := Start(t, Options{Mode: mode})
			require.NoError(t, c.WaitAllUp(slack), "all three peers up")

			c.Kill(2)
			for _, observer := range []int{0, 1} {
				assert.NoError(t, c.WaitState(observer, 2, false, c.opts.HeartbeatTimeout+slack),
					"peer3 marked down once silent for heartbeat_timeout")
			}

			c.Restart(2)
			require.NoError(t, c.WaitAllUp(slack), "peer3 marked up again after restart")
			assert.Contains(t, c.Log(0), "peer3 down")
			assert.Contains(t, c.Log(0), "peer3 up")
		})
	}
}

func TestCluster_PausedPeerMarkedDown(t *testing.T) {
	c := Start(t, Options{})
	require.NoError(t, c.WaitAllUp(slack))

	// Silence peer3 without closing its sockets, as a paused process looks.
	c.Net.Drop("peer1", "peer3", true)
	c.Net.Drop("peer2", "peer3", true)
	require.NoError(t, c.WaitState(0, 2, false, c.opts.HeartbeatTimeout+slack))
	require.NoError(t, c.WaitState(2, 1, false, c.opts.HeartbeatTimeout+slack))

	c.Net.Heal("peer1", "peer3")
	c.Net.Heal("peer2", "peer3")
	require.NoError(t, c.WaitAllUp(slack), "peer3 heard again after the links heal")
}

func TestCluster_WrongCredentialsRefused(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*server.Config)
		logLine string
	}{
		{"wrong secret", func(c *server.Config) { c.Secret = "not-the-secret" }, "wrong secret"},
		{"wrong cluster name", func(c *server.Config) { c.ClusterName = "other" }, "cluster name"},
		{"wrong mode", func(c *server.Config) { c.Mode = consistency.Linearizable }, "mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Start(t, Options{Mode: consistency.Eventual})
			require.NoError(t, c.WaitAllUp(slack))

			// Replace peer3 by an impostor that differs in one credential.
			c.Kill(2)
			require.NoError(t, c.WaitState(0, 2, false, c.opts.HeartbeatTimeout+slack))
			require.NoError(t, c.WaitState(1, 2, false, c.opts.HeartbeatTimeout+slack))
			tt.mutate(&c.cfgs[2])
			// An impostor is another process with data of its own: peer3's
			// data directory would refuse another cluster or mode.
			c.cfgs[2].DataDir = t.TempDir()
			c.Restart(2)

			require.Eventually(t, func() bool {
				return strings.Contains(c.Log(0), tt.logLine) && strings.Contains(c.Log(1), tt.logLine)
			}, slack, 20*time.Millisecond, "peers log why they refuse the impostor")
			for _, observer := range []int{0, 1} {
				for _, m := range c.Server(observer).Members() {
					if m.Name == "peer3" {
						assert.False(t, m.Up, "%s must not accept the impostor", c.Name(observer))
					}
				}
			}
			for _, m := range c.Server(2).Members() {
				if !m.Self {
					assert.False(t, m.Up, "the impostor must not accept %s", m.Name)
				}
			}
		})
	}
}

// clusterCase is the mode and store of one cluster onEveryCluster starts.
type clusterCase struct {
	Mode  consistency.Kind
	Store server.StoreKind
}

// onEveryCluster runs fn as subtest "<store>/<mode>" on a three-peer
// cluster, all peers up, of each store (embedded, memcached replicas) and
// mode; with parallel the subtests run in parallel.
func onEveryCluster(t *testing.T, parallel bool, fn func(t *testing.T, c *Cluster, cc clusterCase)) {
	for _, store := range []server.StoreKind{server.StoreMemory, server.StoreMemcached} {
		for _, mode := range []consistency.Kind{consistency.Eventual, consistency.Linearizable, consistency.Sequential} {
			t.Run(string(store)+"/"+string(mode), func(t *testing.T) {
				if parallel {
					t.Parallel()
				}
				c := Start(t, Options{Mode: mode, Store: store})
				require.NoError(t, c.WaitAllUp(slack))
				fn(t, c, clusterCase{Mode: mode, Store: store})
			})
		}
	}
}
