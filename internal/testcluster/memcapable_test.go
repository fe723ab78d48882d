package testcluster

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memcapable returns the path of libmemcached's memccapable (or memcapable),
// skipping the test when it is missing unless CI demands it.
func memcapable(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"memccapable", "memcapable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("MEMCONS_REQUIRE_MEMCACHED") != "" {
		t.Fatal("memccapable not installed (apt-get install libmemcached-tools)")
	}
	t.Skip("memccapable not installed (apt-get install libmemcached-tools)")
	return ""
}

func TestMemcapable_AllASCIITestsThroughEveryPeer(t *testing.T) {
	bin := memcapable(t)
	onEveryCluster(t, true, func(t *testing.T, c *Cluster, cc clusterCase) {
		for i := range 3 {
			host, port, err := net.SplitHostPort(c.ClientAddr(i))
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			out, err := exec.CommandContext(ctx, bin, "-a", "-t", "10", "-h", host, "-p", port).CombinedOutput()
			cancel()
			assert.NoError(t, err, "memccapable through %s:\n%s", c.Name(i), out)
			assert.Contains(t, string(out), "All tests passed", "through %s", c.Name(i))
			assert.Equal(t, 27, strings.Count(string(out), "[pass]"), "27 ascii tests pass through %s:\n%s", c.Name(i), out)
		}
	})
}
