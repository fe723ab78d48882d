package testcluster

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/internal/memcachedtest"
)

// TestTouch_KeepsTheUniqueInEveryMode is gets, then gats (and touch), then
// cas with the first unique, which memcached stores: on the peer that
// touched, and on another peer once it holds the item.
func TestTouch_KeepsTheUniqueInEveryMode(t *testing.T) {
	onEveryCluster(t, true, func(t *testing.T, c *Cluster, cc clusterCase) {
		dial := func(i int) *memcachedtest.Client {
			cl, err := memcachedtest.Dial(c.ClientAddr(i), clientTimeout)
			require.NoError(t, err)
			t.Cleanup(func() { _ = cl.Close() })
			return cl
		}
		one, two := dial(0), dial(1)
		line := func(cl *memcachedtest.Client, req string) string {
			t.Helper()
			r, err := cl.Do(req)
			require.NoError(t, err)
			return r.Line
		}
		unique := func(cl *memcachedtest.Client, req string) uint64 {
			t.Helper()
			r, err := cl.Do(req)
			require.NoError(t, err)
			require.Len(t, r.Items, 1, "%q: %q", req, r.Raw)
			return r.Items[0].Cas
		}

		require.Equal(t, "STORED", line(one, "set k 0 0 2\r\nv1\r\n"))
		first := unique(one, "gets k\r\n")
		assert.Equal(t, first, unique(one, "gats 1000 k\r\n"), "gats keeps the unique")
		assert.Equal(t, "TOUCHED", line(one, "touch k 2000\r\n"))
		assert.Equal(t, "STORED", line(one, "cas k 0 0 2 "+itoa(first)+"\r\nv2\r\n"), "cas with the unique from before gats and touch")

		second := unique(one, "gets k\r\n")
		var onTwo uint64
		require.Eventually(t, func() bool {
			r, err := two.Do("gets k\r\n")
			if err != nil || len(r.Items) != 1 {
				return false
			}
			onTwo = r.Items[0].Cas
			return onTwo == second
		}, slack, 5*time.Millisecond, "the other peer holds the item with the same unique")
		assert.Equal(t, second, unique(two, "gats 3000 k\r\n"), "gats on the other peer keeps the unique")
		assert.Equal(t, "STORED", line(two, "cas k 0 0 2 "+itoa(second)+"\r\nv3\r\n"), "cas on the other peer with the unique its gats returned")
	})
}

func itoa(u uint64) string { return strconv.FormatUint(u, 10) }
