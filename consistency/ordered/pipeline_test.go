package ordered_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/consistency/ordered"
	"github.com/memcons/memcons/internal/memcachedtest"
	"github.com/memcons/memcons/internal/server"
	"github.com/memcons/memcons/internal/testcluster"
)

// calmElection gives a test that checks replies byte for byte election
// timeouts a loaded machine does not trip: a spurious leader change would
// turn replies into legitimate SERVER_ERRORs.
func calmElection(_ string, oc *ordered.Config) {
	oc.ElectionTimeout = 2 * time.Second
	oc.LeaderWait = 5 * time.Second
	oc.RequestTimeout = 8 * time.Second
}

// pipeline is a script of commands sent in one write and the replies
// expected, in order.
type pipeline struct {
	send, want strings.Builder
}

func (p *pipeline) add(cmd, reply string) {
	p.send.WriteString(cmd)
	p.want.WriteString(reply)
}

// orderScript mixes, on one connection: writes that depend on the one
// before them (set then incr, append), reads right behind writes, and
// noreply writes that a later read must see.
func orderScript(prefix string) *pipeline {
	p := &pipeline{}
	ctr := prefix + "ctr"
	p.add("set "+ctr+" 0 0 1\r\n0\r\n", "STORED\r\n")
	for i := 1; i <= 40; i++ {
		p.add("incr "+ctr+" 1\r\n", fmt.Sprintf("%d\r\n", i))
		if i%10 == 0 {
			v := fmt.Sprint(i)
			p.add("get "+ctr+"\r\n", fmt.Sprintf("VALUE %s 0 %d\r\n%s\r\nEND\r\n", ctr, len(v), v))
		}
	}
	lst := prefix + "list"
	p.add("set "+lst+" 0 0 1\r\na\r\n", "STORED\r\n")
	for _, s := range []string{"b", "c", "d"} {
		p.add("append "+lst+" 0 0 1 noreply\r\n"+s+"\r\n", "")
	}
	p.add("get "+lst+"\r\n", "VALUE "+lst+" 0 4\r\nabcd\r\nEND\r\n")
	p.add("delete "+lst+"\r\n", "DELETED\r\n")
	p.add("add "+lst+" 0 0 1\r\nz\r\n", "STORED\r\n")
	p.add("get "+lst+"\r\n", "VALUE "+lst+" 0 1\r\nz\r\nEND\r\n")
	for i := range 200 {
		k := fmt.Sprintf("%sk%d", prefix, i)
		p.add("set "+k+" 0 0 2\r\nv1\r\n", "STORED\r\n")
		p.add("set "+k+" 0 0 2 noreply\r\nv2\r\n", "")
	}
	p.add("get "+prefix+"k0 "+prefix+"k199\r\n",
		"VALUE "+prefix+"k0 0 2\r\nv2\r\nVALUE "+prefix+"k199 0 2\r\nv2\r\nEND\r\n")
	return p
}

// metaOrderScript is orderScript in meta commands: ma counting up behind
// an ms, mg reads behind writes, appends by ms MA, and a quiet bulk load
// (ms q ... mn) whose writes a later mg must see.
func metaOrderScript(prefix string) *pipeline {
	p := &pipeline{}
	ctr := prefix + "ctr"
	p.add("ms "+ctr+" 1\r\n0\r\n", "HD\r\n")
	for i := 1; i <= 40; i++ {
		v := fmt.Sprint(i)
		p.add("ma "+ctr+" v\r\n", fmt.Sprintf("VA %d\r\n%s\r\n", len(v), v))
		if i%10 == 0 {
			p.add("mg "+ctr+" v\r\n", fmt.Sprintf("VA %d\r\n%s\r\n", len(v), v))
		}
	}
	p.add("ma "+ctr+" q MD D5\r\n", "")
	p.add("mg "+ctr+" v\r\n", "VA 2\r\n35\r\n")
	lst := prefix + "list"
	p.add("ms "+lst+" 1\r\na\r\n", "HD\r\n")
	for _, s := range []string{"b", "c", "d"} {
		p.add("ms "+lst+" 1 MA q\r\n"+s+"\r\n", "")
	}
	p.add("mg "+lst+" v\r\n", "VA 4\r\nabcd\r\n")
	p.add("md "+lst+" q\r\n", "")
	p.add("md "+lst+" q\r\n", "NF\r\n") // q leaves out only HD
	p.add("mg "+lst+" v q\r\n", "")
	p.add("ms "+lst+" 1 ME\r\nz\r\n", "HD\r\n")
	p.add("mg "+lst+" v\r\n", "VA 1\r\nz\r\n")
	for i := range 200 {
		k := fmt.Sprintf("%sk%d", prefix, i)
		p.add("ms "+k+" 2 q\r\nv1\r\n", "")
		p.add("ms "+k+" 2 q\r\nv2\r\n", "")
	}
	p.add("mn\r\n", "MN\r\n")
	p.add("mg "+prefix+"k0 v\r\nmg "+prefix+"k199 v\r\n", "VA 2\r\nv2\r\nVA 2\r\nv2\r\n")
	return p
}

// runScript sends p's commands on a new connection to addr in one write
// and returns every reply byte it expects.
func runScript(t *testing.T, addr string, p *pipeline) string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, opTimeout)
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.SetDeadline(time.Now().Add(3*slack)))
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.WriteString(nc, p.send.String()) })
	got := make([]byte, p.want.Len())
	_, err = io.ReadFull(bufio.NewReader(nc), got)
	wg.Wait()
	require.NoError(t, err, "read %d reply bytes", len(got))
	return string(got)
}

// TestOrdered_PipelineAnsweredInOrder sends one connection's pipeline of
// dependent writes and reads, classic and meta, to the leader and to a
// follower: every reply comes in order, and each read sees the writes
// before it, noreply and quiet ones included.
func TestOrdered_PipelineAnsweredInOrder(t *testing.T) {
	for _, mode := range []consistency.Kind{consistency.Linearizable, consistency.Sequential} {
		t.Run(string(mode), func(t *testing.T) {
			c := startCluster(t, mode, server.StoreMemory, calmElection)
			l := waitLeader(t, c, slack)
			f, _ := others(l)
			for _, tc := range []struct {
				name   string
				peer   int
				script func(prefix string) *pipeline
			}{
				{"leader", l, orderScript}, {"follower", f, orderScript},
				{"meta leader", l, metaOrderScript}, {"meta follower", f, metaOrderScript},
			} {
				t.Run(tc.name, func(t *testing.T) {
					// A leader change during the script turns replies into
					// SERVER_ERRORs, which is legitimate: run it again.
					for attempt := range 3 {
						p := tc.script(fmt.Sprintf("%s%d:", strings.ReplaceAll(tc.name, " ", "-"), attempt))
						got := runScript(t, c.ClientAddr(tc.peer), p)
						if strings.Contains(got, "SERVER_ERROR") {
							t.Logf("attempt %d met a leader change: %.200s", attempt, got[strings.Index(got, "SERVER_ERROR"):])
							continue
						}
						assert.Equal(t, p.want.String(), got)
						return
					}
					t.Fatal("every attempt met a leader change")
				})
			}
		})
	}
}

// TestOrdered_ReplicationRecoversFromDroppingLink reproduces the deadlock
// of raft's pipelined replication: the link from the leader to one
// follower drops every byte for a moment, several times, while writes keep
// coming. Unguarded, the pipeline's decoder blocks handing an answer to a
// consumer that stopped at a refused append, and the sender blocks on the
// full in-flight queue: the follower never receives another entry (and
// the leader's Shutdown hangs).
func TestOrdered_ReplicationRecoversFromDroppingLink(t *testing.T) {
	c := startCluster(t, consistency.Sequential, server.StoreMemory, nil)
	l := waitLeader(t, c, slack)
	f, _ := others(l)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			cl, err := memcachedtest.Dial(c.ClientAddr(l), opTimeout)
			if err != nil {
				return
			}
			defer cl.Close()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = cl.Store("set", fmt.Sprintf("load-%d-%d", w, n%50), "value")
			}
		})
	}
	// Each drop is shorter than the raft transport's timeout (1 s here)
	// and than the heartbeat timeout (150 ms):
	// the requests sent meanwhile vanish whole, the connection stays open,
	// and after the heal the follower refuses the next append (its log
	// lacks the vanished entries), at which raft's consumer stops while
	// later answers keep arriving and more appends are sent.
	for range 20 {
		time.Sleep(150 * time.Millisecond) // load between faults, not a wait for a condition
		c.Net.Drop(c.Name(l), c.Name(f), true)
		time.Sleep(120 * time.Millisecond)
		c.Net.Heal(c.Name(l), c.Name(f))
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	// Whoever leads now, a write there reaches the follower's replica.
	require.Eventually(t, func() bool {
		i := leaderIndex(c)
		if i < 0 {
			return false
		}
		cl, err := memcachedtest.Dial(c.ClientAddr(i), opTimeout)
		if err != nil {
			return false
		}
		defer cl.Close()
		r, err := cl.Store("set", "final", "done")
		return err == nil && r == "STORED"
	}, slack, 20*time.Millisecond, "a write after the link healed")
	for i := range 3 {
		cl, err := memcachedtest.Dial(c.ClientAddr(i), opTimeout)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			it, err := cl.Get("final")
			return err == nil && it.Found && it.Value == "done"
		}, slack, 20*time.Millisecond, "%s applies the write made after the link healed", c.Name(i))
		_ = cl.Close()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Kill(l)
	}()
	select {
	case <-done:
	case <-time.After(2 * slack):
		t.Fatalf("%s did not stop within %v", c.Name(l), 2*slack)
	}
}

// BenchmarkOrdered_PipelinedSets times one connection sending 10,000
// pipelined sets to the leader and to a follower, as scripts/bench.sh's
// pipeline row does against real processes.
func BenchmarkOrdered_PipelinedSets(b *testing.B) {
	const sets = 10000
	var p pipeline
	for i := range sets {
		p.add(fmt.Sprintf("set bench:%d 0 0 100\r\n%s\r\n", i, strings.Repeat("x", 100)), "STORED\r\n")
	}
	for _, mode := range []consistency.Kind{consistency.Linearizable, consistency.Sequential} {
		b.Run(string(mode), func(b *testing.B) {
			c := testcluster.Start(b, testcluster.Options{Mode: mode, Configure: func(cfg *server.Config) {
				cfg.Ordered.ElectionTimeout = 2 * time.Second
			}})
			require.NoError(b, c.WaitAllUp(slack))
			var l int
			require.Eventually(b, func() bool { l = leaderIndex(c); return l >= 0 }, 3*slack, 10*time.Millisecond)
			f, _ := others(l)
			for _, tc := range []struct {
				name string
				peer int
			}{{"leader", l}, {"follower", f}} {
				b.Run(tc.name, func(b *testing.B) {
					for range b.N {
						nc, err := net.DialTimeout("tcp", c.ClientAddr(tc.peer), opTimeout)
						require.NoError(b, err)
						go func() { _, _ = io.WriteString(nc, p.send.String()) }()
						got := make([]byte, p.want.Len())
						_, err = io.ReadFull(bufio.NewReader(nc), got)
						_ = nc.Close()
						require.NoError(b, err)
						require.Equal(b, p.want.String(), string(got))
					}
				})
			}
		})
	}
}
