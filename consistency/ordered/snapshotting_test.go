package ordered_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/consistency/ordered"
	"github.com/memcons/memcons/internal/memcachedtest"
	"github.com/memcons/memcons/internal/server"
)

// TestOrdered_SetSnapshottingTakesEffect starts a cluster whose snapshot
// threshold is out of reach, writes, and sees no snapshot; then lowers the
// threshold on every running peer (what a SIGHUP does) and sees each peer
// snapshot. A setting Config.Validate refuses changes nothing.
func TestOrdered_SetSnapshottingTakesEffect(t *testing.T) {
	const interval = 20 * time.Millisecond
	c := startCluster(t, consistency.Linearizable, server.StoreMemory, func(_ string, oc *ordered.Config) {
		oc.ElectionTimeout = steadyElection
		oc.SnapshotThreshold, oc.SnapshotInterval = 1<<20, interval
	})
	cl, err := memcachedtest.Dial(c.ClientAddr(0), opTimeout)
	require.NoError(t, err)
	defer cl.Close()
	write := func(from, n int) {
		for i := from; i < from+n; i++ {
			r, err := cl.Store("set", fmt.Sprintf("k%d", i), "v")
			require.NoError(t, err)
			require.Equal(t, "STORED", r)
		}
	}
	snapshots := func(i int) int {
		entries, err := os.ReadDir(filepath.Join(c.Config(i).DataDir, "raft", "snapshots"))
		if err != nil {
			return 0
		}
		return len(entries)
	}
	write(0, 64)
	// Many intervals pass with 64 entries against a threshold of 2^20.
	deadline := time.Now().Add(20 * interval)
	for time.Now().Before(deadline) {
		for i := range 3 {
			require.Zero(t, snapshots(i), "%s snapshots under an unreachable threshold", c.Name(i))
		}
		time.Sleep(interval)
	}

	for i := range 3 {
		bad := c.Config(i).Ordered
		bad.SnapshotThreshold = 0
		assert.ErrorIs(t, c.Server(i).SetSnapshotting(bad), ordered.ErrInvalidConfig, "a zero threshold is refused")
		low := c.Config(i).Ordered
		low.SnapshotThreshold = 16
		require.NoError(t, c.Server(i).SetSnapshotting(low))
	}
	write(64, 64)
	for i := range 3 {
		require.Eventually(t, func() bool { return snapshots(i) > 0 }, slack, interval,
			"%s snapshots once the threshold is 16", c.Name(i))
	}
}
