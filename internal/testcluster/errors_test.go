package testcluster

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/consistency/ordered"
	"github.com/memcons/memcons/internal/memcachedtest"
	"github.com/memcons/memcons/internal/server"
)

// prefixOf returns packagePrefix or fails the test.
func prefixOf(t *testing.T) *regexp.Regexp {
	t.Helper()
	re, err := packagePrefix()
	require.NoError(t, err)
	require.True(t, re.MatchString("x kvcontroller: y"), "the pattern names the project's packages: %s", re)
	return re
}

// faultScenario is one way to break a cluster and the reply it must give.
type faultScenario struct {
	name  string
	opts  Options
	fault func(t *testing.T, c *Cluster) (addr, cmd string) // breaks the cluster, names where to send cmd
	want  func(c *Cluster) string
}

// TestCluster_FaultRepliesAndLogsNameNoPackage drives the fault paths a
// client meets (no quorum, a dead replica, a forwarded write that times
// out) and checks that each gets its SERVER_ERROR line and that no reply
// or log line of any peer carries a Go package prefix.
func TestCluster_FaultRepliesAndLogsNameNoPackage(t *testing.T) {
	prefix := prefixOf(t)
	replicaAddr, stopReplica := "", func() {}
	scenarios := []faultScenario{
		{
			name: "no quorum",
			opts: Options{Mode: consistency.Linearizable},
			fault: func(t *testing.T, c *Cluster) (string, string) {
				l := waitLeader(t, c)
				f := (l + 1) % 3
				c.Kill(l)
				c.Kill((l + 2) % 3)
				return c.ClientAddr(f), "set k 0 0 1\r\nx\r\n"
			},
			want: func(c *Cluster) string {
				var gone []string
				for i := range 3 {
					if c.Server(i) == nil {
						gone = append(gone, c.Name(i))
					}
				}
				return "SERVER_ERROR no leader: cluster has no quorum (" + strings.Join(gone, ", ") + " unreachable)"
			},
		},
		{
			name: "forwarded write times out",
			opts: Options{Mode: consistency.Linearizable},
			fault: func(t *testing.T, c *Cluster) (string, string) {
				l := waitLeader(t, c)
				f := (l + 1) % 3
				require.True(t, waitRole(c, f, "follower", slack))
				// A first write opens the forward connection, which the
				// drop then leaves open and silent.
				cl, err := memcachedtest.Dial(c.ClientAddr(f), slack)
				require.NoError(t, err)
				defer cl.Close()
				require.Eventually(t, func() bool { r, err := cl.Store("set", "warm", "1"); return err == nil && r == "STORED" },
					slack, 10*time.Millisecond, "a follower's write is served before the drop")
				c.Net.Drop(c.Name(f), c.Name(l), true)
				return c.ClientAddr(f), "set k 0 0 1\r\nx\r\n"
			},
			want: func(*Cluster) string { return "SERVER_ERROR timeout: outcome unknown" },
		},
		{
			name: "replica down",
			opts: Options{Mode: consistency.Eventual, Store: server.StoreMemcached, Configure: func(cfg *server.Config) {
				cfg.Peers[0].ReplicaAddr = replicaAddr // peer1's replica is the one the test stops
			}},
			fault: func(t *testing.T, c *Cluster) (string, string) {
				stopReplica()
				return c.ClientAddr(0), "get k\r\n"
			},
			want: func(*Cluster) string { return "SERVER_ERROR replica unavailable" },
		},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			if sc.opts.Store == server.StoreMemcached {
				replicaAddr, stopReplica = memcachedtest.StartStoppable(t, "-I", "2m")
			}
			c := Start(t, sc.opts)
			require.NoError(t, c.WaitAllUp(slack))
			addr, cmd := sc.fault(t, c)
			want := sc.want(c)
			replies := faultReplies(t, addr, cmd, want)
			t.Logf("replies: %q", replies)
			assert.Contains(t, replies, want, "%s answers %q", sc.name, want)
			for _, r := range replies {
				assert.False(t, prefix.MatchString(r), "reply %q names a package", r)
			}
			// Every peer's log lines are checked as they are written
			// (peerLog); here only that the detail behind the reply was
			// logged.
			logged := c.Log(0) + c.Log(1) + c.Log(2)
			assert.Contains(t, logged, `msg="request failed" reply="`+strings.ReplaceAll(want, `"`, `\"`)+`"`, "the failure's detail is logged")
		})
	}
}

// faultReplies sends cmd to addr again and again, on a fresh connection
// after an IO error, until a reply is want or the limit passes, and
// returns the reply lines in order.
func faultReplies(t *testing.T, addr, cmd, want string) []string {
	t.Helper()
	var replies []string
	var cl *memcachedtest.Client
	defer func() {
		if cl != nil {
			_ = cl.Close()
		}
	}()
	for limit := time.Now().Add(failoverLimit); time.Now().Before(limit); {
		if cl == nil {
			var err error
			if cl, err = memcachedtest.Dial(addr, 2*ordered.DefaultRequestTimeout); err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
		}
		rep, err := cl.Do(cmd)
		if rep.Line != "" {
			replies = append(replies, rep.Line)
			if rep.Line == want {
				return replies
			}
		}
		if err != nil && rep.Line == "" {
			_ = cl.Close()
			cl = nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return replies
}

// waitLeader returns the peer that leads once the other two follow it.
func waitLeader(t *testing.T, c *Cluster) int {
	t.Helper()
	deadline := time.Now().Add(slack)
	for time.Now().Before(deadline) {
		for i := range 3 {
			if selfRole(c, i) == "leader" && selfRole(c, (i+1)%3) == "follower" && selfRole(c, (i+2)%3) == "follower" {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no leader with two followers within %v", slack)
	return -1
}
