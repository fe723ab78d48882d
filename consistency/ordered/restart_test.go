package ordered_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/consistency/ordered"
	"github.com/memcons/memcons/internal/server"
)

// A restarted peer rebuilds its replica from snapshot plus log: with a
// memcached replica that kept its data, increments must not apply twice;
// with the memory store it starts empty.
func TestOrdered_RestartedPeerRebuildsReplicaExactly(t *testing.T) {
	for _, store := range []server.StoreKind{server.StoreMemory, server.StoreMemcached} {
		t.Run(string(store), func(t *testing.T) {
			c := startCluster(t, consistency.Linearizable, store, func(_ string, oc *ordered.Config) {
				oc.SnapshotThreshold = 40
				oc.SnapshotInterval = 100 * time.Millisecond
			})
			l := waitLeader(t, c, slack)
			f, _ := others(l)
			cl, err := dialText(c.ClientAddr(l), opTimeout)
			require.NoError(t, err)
			defer cl.Close()
			incr := func(n int) {
				for range n {
					_, err := cl.simple("incr n 1")
					require.NoError(t, err)
				}
			}
			r, err := cl.store("set", "n", "0")
			require.NoError(t, err)
			require.Equal(t, "STORED", r)
			incr(100)
			for i := range 20 {
				_, err := cl.store("set", fmt.Sprintf("k%d", i), strconv.Itoa(i))
				require.NoError(t, err)
			}
			waitSameApplied(t, c)

			c.Kill(f)
			incr(30)
			c.Restart(f)
			incr(5)
			waitSameApplied(t, c)

			cf, err := dialText(c.ClientAddr(f), opTimeout)
			require.NoError(t, err)
			defer cf.Close()
			v, _, found, err := cf.gets("n")
			require.NoError(t, err)
			require.True(t, found)
			assert.Equal(t, "135", v, "every increment applied exactly once at the restarted peer")
			for i := range 20 {
				v, _, found, err := cf.gets(fmt.Sprintf("k%d", i))
				require.NoError(t, err)
				if assert.True(t, found, "k%d", i) {
					assert.Equal(t, strconv.Itoa(i), v)
				}
			}
			assert.Contains(t, c.Log(f), "replica restored from snapshot", "the restart loaded a snapshot")
		})
	}
}
