package testcluster

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
)

// cutOffRounds is how many times TestLinearizable_CutOffLeaderAnswersNoLaterRead
// cuts the leader off, alternating the partitions.
const cutOffRounds = 4

// TestLinearizable_CutOffLeaderAnswersNoLaterRead cuts the leader off from
// both followers, round after round on one cluster, while many readers
// hammer it and writers at every peer keep its replication pipelines and
// heartbeats busy. A read sent to it after the cut must never be served:
// answers to appends and heartbeats sent before the cut may still sit in
// its buffers, and they confirm nothing about a read that began later.
func TestLinearizable_CutOffLeaderAnswersNoLaterRead(t *testing.T) {
	c := Start(t, Options{Mode: consistency.Linearizable})
	require.NoError(t, c.WaitAllUp(slack))
	for round := range cutOffRounds {
		p := partitions[round%len(partitions)]
		old := stableLeader(t, c)
		a, b := (old+1)%3, (old+2)%3

		stop := make(chan struct{})
		var wg sync.WaitGroup
		var readers []*failoverClient
		for n := range 8 {
			r := &failoverClient{addr: c.ClientAddr(old), read: true, key: "k",
				label: fmt.Sprintf("%s get %d", c.Name(old), n)}
			readers = append(readers, r)
			wg.Go(func() { r.run(stop) })
		}
		for _, i := range []int{old, a, b} {
			w := &failoverClient{addr: c.ClientAddr(i), key: "k", label: c.Name(i) + " set"}
			wg.Go(func() { w.run(stop) })
		}
		warm := time.Now()
		require.Eventually(t, func() bool { _, ok := readers[0].firstOK(warm); return ok },
			slack, 10*time.Millisecond, "round %d: %s serves reads before the cut", round, c.Name(old))

		p.cut(c.Net, c.Name(old), c.Name(a))
		p.cut(c.Net, c.Name(old), c.Name(b))
		cutDone := time.Now()
		// The readers keep asking until the majority has elected a
		// leader: from then on a read the old one served could be stale.
		elected := false
		for limit := time.Now().Add(failoverLimit); !elected && time.Now().Before(limit); {
			elected = selfRole(c, a) == "leader" || selfRole(c, b) == "leader"
			time.Sleep(10 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		require.True(t, elected, "round %d (%s): the majority elects a leader within %v", round, p.name, failoverLimit)
		for _, r := range readers {
			assert.Empty(t, r.served(cutDone), "round %d (%s): %s serves no read sent after the cut%s",
				round, p.name, c.Name(old), r.failures(cutDone))
		}

		c.Net.Heal(c.Name(old), c.Name(a))
		c.Net.Heal(c.Name(old), c.Name(b))
		require.NoError(t, c.WaitAllUp(slack), "round %d: links healed", round)
	}
}

// stableLeader waits until one peer leads and the other two follow it, and
// returns the leader.
func stableLeader(t *testing.T, c *Cluster) int {
	t.Helper()
	deadline := time.Now().Add(3 * slack)
	for time.Now().Before(deadline) {
		for i := range 3 {
			if selfRole(c, i) == "leader" && selfRole(c, (i+1)%3) == "follower" && selfRole(c, (i+2)%3) == "follower" {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.FailNow(t, "no stable leader", "within %v", 3*slack)
	return -1
}
