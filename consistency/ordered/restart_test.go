package ordered_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
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
			c := startCluster(t, consistency.Linearizable, store, func(name string, oc *ordered.Config) {
				steady(name, oc) // a leader change would leave an increment's outcome unknown
				oc.SnapshotThreshold = 40
				oc.SnapshotInterval = 100 * time.Millisecond
			})
			l := waitLeader(t, c, slack)
			f, _ := others(l)
			mc := newMemcache(t, c.ClientAddr(l))
			incr := func(n int) {
				for range n {
					_, err := mc.Increment("n", 1)
					require.NoError(t, err)
				}
			}
			require.NoError(t, mc.Set(&memcache.Item{Key: "n", Value: []byte("0")}))
			incr(100)
			for i := range 20 {
				require.NoError(t, mc.Set(&memcache.Item{Key: fmt.Sprintf("k%d", i), Value: []byte(strconv.Itoa(i))}))
			}
			waitSameApplied(t, c)

			c.Kill(f)
			incr(30)
			c.Restart(f)
			incr(5)
			waitSameApplied(t, c)

			mf := newMemcache(t, c.ClientAddr(f))
			it, err := mf.Get("n")
			require.NoError(t, err)
			assert.Equal(t, "135", string(it.Value), "every increment applied exactly once at the restarted peer")
			for i := range 20 {
				it, err := mf.Get(fmt.Sprintf("k%d", i))
				if assert.NotErrorIs(t, err, memcache.ErrCacheMiss, "k%d", i) {
					require.NoError(t, err)
					assert.Equal(t, strconv.Itoa(i), string(it.Value))
				}
			}
			assert.Contains(t, c.Log(f), "replica restored from snapshot", "the restart loaded a snapshot")
		})
	}
}
