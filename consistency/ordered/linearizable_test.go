package ordered_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/consistency/ordered"
	"github.com/memcons/memcons/internal/history"
	"github.com/memcons/memcons/internal/memcachedtest"
	"github.com/memcons/memcons/internal/server"
	"github.com/memcons/memcons/internal/testcluster"
)

// kvClient runs random operations against one peer and records them; a
// new connection is a new session.
type kvClient struct {
	id      int
	peer    string
	addr    string
	rng     *rand.Rand
	rec     *history.Recorder
	keys    []string
	conn    *memcachedtest.Client
	session int
	seen    map[string][2]uint64 // key -> (value, unique) from the last gets
	counter uint64
	acked   map[string]uint64 // ack-* keys this client stored successfully
}

const (
	opTimeout = 4 * time.Second
	// checkTimeout bounds the linearizability check of one history.
	checkTimeout = 60 * time.Second
)

func (c *kvClient) client() (*memcachedtest.Client, error) {
	if c.conn == nil {
		conn, err := memcachedtest.Dial(c.addr, opTimeout)
		if err != nil {
			return nil, err
		}
		c.conn = conn
		c.session++
	}
	return c.conn, nil
}

// drop closes the connection after a failure: a late reply must not be
// read as the answer to the next command.
func (c *kvClient) drop() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// step runs one random operation and records it.
func (c *kvClient) step() {
	cl, err := c.client()
	if err != nil {
		time.Sleep(20 * time.Millisecond) // peer down: nothing was sent
		return
	}
	key := c.keys[c.rng.IntN(len(c.keys))]
	c.counter++
	fresh := uint64(c.id+1)*1_000_000_000_000 + c.counter*1_000_000
	in := history.Input{Key: key}
	var out history.Output
	call := c.rec.Now()
	switch r := c.rng.IntN(100); {
	case r < 35:
		in.Op = history.Get
		var it memcachedtest.Item
		it, err = cl.Gets(key)
		if err == nil && it.Found {
			out.Found, out.Unique = true, it.Cas
			out.Value, err = strconv.ParseUint(strings.TrimSpace(it.Value), 10, 64)
			c.seen[key] = [2]uint64{out.Value, it.Cas}
		}
	case r < 55:
		in.Op, in.Value = history.Set, fresh
		out.Reply, err = cl.Store("set", key, strconv.FormatUint(fresh, 10))
	case r < 65:
		in.Op, in.Value = history.Add, fresh
		out.Reply, err = cl.Store("add", key, strconv.FormatUint(fresh, 10))
	case r < 80:
		seen, ok := c.seen[key]
		if !ok {
			c.counter--
			return
		}
		in.Op, in.Value, in.Observed = history.Cas, fresh, seen[0]
		out.Reply, err = cl.Cas(key, strconv.FormatUint(fresh, 10), seen[1])
	case r < 92:
		in.Op, in.Delta = history.Incr, uint64(1+c.rng.IntN(5))
		out.Reply, err = cl.Simple(fmt.Sprintf("incr %s %d", key, in.Delta))
		if err == nil && out.Reply != history.NotFound {
			out.Value, err = strconv.ParseUint(strings.TrimSpace(out.Reply), 10, 64)
			out.Reply = history.Number
		}
	default:
		in.Op = history.Delete
		out.Reply, err = cl.Simple("delete " + key)
	}
	rec := history.Record{Client: c.id, Session: c.session, Peer: c.peer, Input: in, Call: call, Return: c.rec.Now()}
	if err != nil {
		c.drop()
		if in.Op == history.Get {
			return // a failed read changed nothing
		}
		out, rec.Error = history.Output{Unknown: true}, err.Error()
	}
	rec.Output = out
	c.rec.Add(rec)
}

// ackWrite stores a fresh key and remembers it if the peer acknowledged it.
func (c *kvClient) ackWrite(seed uint64) {
	cl, err := c.client()
	if err != nil {
		time.Sleep(20 * time.Millisecond)
		return
	}
	c.counter++
	key := fmt.Sprintf("ack-%d-%d-%d", seed, c.id, c.counter)
	reply, err := cl.Store("set", key, strconv.FormatUint(c.counter, 10))
	if err != nil {
		c.drop()
		return
	}
	if reply == "STORED" {
		c.acked[key] = c.counter
	}
}

// leaderIndex returns the index of the running peer that reports itself
// leader, or -1.
func leaderIndex(c *testcluster.Cluster) int {
	for i := range 3 {
		s := c.Server(i)
		if s == nil {
			continue
		}
		for _, m := range s.Members() {
			if m.Self && m.Last.Role == "leader" {
				return i
			}
		}
	}
	return -1
}

// waitLeader waits for a leader among the running peers.
func waitLeader(t *testing.T, c *testcluster.Cluster, limit time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if i := leaderIndex(c); i >= 0 {
			return i
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no leader within %v", limit)
	return -1
}

// fault is one scenario: apply breaks the cluster, heal repairs it.
type fault struct {
	name  string
	apply func(t *testing.T, c *testcluster.Cluster) (heal func())
}

func others(i int) (int, int) { return (i + 1) % 3, (i + 2) % 3 }

var faults = []fault{
	{"no fault", func(*testing.T, *testcluster.Cluster) func() { return func() {} }},
	{"leader killed and restarted", func(t *testing.T, c *testcluster.Cluster) func() {
		l := waitLeader(t, c, slack)
		c.Kill(l)
		return func() { c.Restart(l) }
	}},
	{"follower paused", func(t *testing.T, c *testcluster.Cluster) func() {
		f, _ := others(waitLeader(t, c, slack))
		a, b := others(f)
		c.Net.Drop(c.Name(f), c.Name(a), true)
		c.Net.Drop(c.Name(f), c.Name(b), true)
		return func() { c.Net.Heal(c.Name(f), c.Name(a)); c.Net.Heal(c.Name(f), c.Name(b)) }
	}},
	{"leader cut off", func(t *testing.T, c *testcluster.Cluster) func() {
		l := waitLeader(t, c, slack)
		a, b := others(l)
		c.Net.Cut(c.Name(l), c.Name(a))
		c.Net.Cut(c.Name(l), c.Name(b))
		return func() { c.Net.Heal(c.Name(l), c.Name(a)); c.Net.Heal(c.Name(l), c.Name(b)) }
	}},
	{"follower cut off", func(t *testing.T, c *testcluster.Cluster) func() {
		f, _ := others(waitLeader(t, c, slack))
		a, b := others(f)
		c.Net.Cut(c.Name(f), c.Name(a))
		c.Net.Cut(c.Name(f), c.Name(b))
		return func() { c.Net.Heal(c.Name(f), c.Name(a)); c.Net.Heal(c.Name(f), c.Name(b)) }
	}},
}

// Run lengths: the fault starts after faultAt and heals at healAt; clients
// stop at runFor. Short histories keep the checker and the package fast.
const (
	faultAt       = 700 * time.Millisecond
	healAt        = 2200 * time.Millisecond
	runFor        = 3200 * time.Millisecond
	clientsByPeer = 2
	seeds         = 3
)

func TestLinearizable_PorcupineUnderFaults(t *testing.T) {
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			for seed := uint64(1); seed <= seeds; seed++ {
				t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
					runLinearizable(t, f, seed)
				})
			}
		})
	}
}

func runLinearizable(t *testing.T, f fault, seed uint64) {
	c := startCluster(t, consistency.Linearizable, server.StoreMemory, func(_ string, oc *ordered.Config) {
		oc.SnapshotThreshold = 200
		oc.SnapshotInterval = 300 * time.Millisecond
	})
	waitLeader(t, c, slack)
	rec := history.NewRecorder()
	keys := []string{"k0", "k1", "k2"}
	var clients []*kvClient
	for i := range 3 * clientsByPeer {
		clients = append(clients, &kvClient{
			id: i, peer: c.Name(i % 3), addr: c.ClientAddr(i % 3), rng: rand.New(rand.NewPCG(seed, uint64(i))),
			rec: rec, keys: keys, seen: map[string][2]uint64{}, acked: map[string]uint64{},
		})
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, cl := range clients {
		wg.Go(func() {
			defer cl.drop()
			for n := 0; time.Since(start) < runFor; n++ {
				if n%4 == 3 {
					cl.ackWrite(seed)
				} else {
					cl.step()
				}
			}
		})
	}
	time.Sleep(faultAt)
	rec.Note("fault: %s", f.name)
	heal := f.apply(t, c)
	for time.Since(start) < healAt {
		time.Sleep(10 * time.Millisecond)
	}
	heal()
	rec.Note("healed")
	wg.Wait()

	// After healing, every peer must serve every key; the final reads go
	// into the history, so a lost acknowledged write fails the check.
	require.NoError(t, c.WaitAllUp(slack))
	reader := &kvClient{id: 99, rec: rec, keys: keys}
	for i := range 3 {
		reader.peer, reader.addr = c.Name(i), c.ClientAddr(i)
		for _, k := range keys {
			readFinal(t, reader, k)
		}
	}
	checkHistory(t, rec)
	checkAcked(t, c, clients)
}

// readFinal reads key through reader's peer, retrying while the peer
// catches up, and records the read; each attempt is a new session.
func readFinal(t *testing.T, reader *kvClient, key string) {
	t.Helper()
	deadline := time.Now().Add(slack)
	for {
		cl, err := memcachedtest.Dial(reader.addr, opTimeout)
		if err == nil {
			reader.session++
			call := reader.rec.Now()
			var it memcachedtest.Item
			it, err = cl.Gets(key)
			ret := reader.rec.Now()
			_ = cl.Close()
			if err == nil {
				out := history.Output{Found: it.Found, Unique: it.Cas}
				if it.Found {
					out.Value, err = strconv.ParseUint(strings.TrimSpace(it.Value), 10, 64)
					require.NoError(t, err)
				}
				reader.rec.Add(history.Record{
					Client: reader.id, Session: reader.session, Peer: reader.peer,
					Input: history.Input{Op: history.Get, Key: key}, Output: out, Call: call, Return: ret,
				})
				return
			}
		}
		require.True(t, time.Now().Before(deadline), "final read of %s at %s: %v", key, reader.addr, err)
		time.Sleep(50 * time.Millisecond)
	}
}

// checkHistory asserts the recorded history is linearizable, saving a
// visualization if not (under $MEMCONS_KEEP_HISTORY when set).
func checkHistory(t *testing.T, rec *history.Recorder) {
	t.Helper()
	rep := history.CheckLinearizable(rec.Records(), rec.Notes(), checkTimeout)
	t.Logf("porcupine: %s", rep)
	if rep.Result == porcupine.Ok {
		return
	}
	path := filepath.Join(t.TempDir(), "history.html")
	if dir := os.Getenv("MEMCONS_KEEP_HISTORY"); dir != "" {
		path = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".html")
	}
	if err := rep.Visualize(path, checkTimeout); err != nil {
		t.Logf("visualize: %v", err)
	}
	t.Errorf("history is %s; visualization: %s", rep.Result, path)
}

// checkAcked asserts that every acknowledged ack-* write is readable at
// every peer (those keys are written once and never overwritten).
func checkAcked(t *testing.T, c *testcluster.Cluster, clients []*kvClient) {
	t.Helper()
	n := 0
	for i := range 3 {
		cl, err := memcachedtest.Dial(c.ClientAddr(i), opTimeout)
		require.NoError(t, err)
		for _, kc := range clients {
			for key, want := range kc.acked {
				n++
				var it memcachedtest.Item
				deadline := time.Now().Add(slack)
				for {
					it, err = cl.Gets(key)
					if err == nil || time.Now().After(deadline) {
						break
					}
					_ = cl.Close()
					cl, err = memcachedtest.Dial(c.ClientAddr(i), opTimeout)
					require.NoError(t, err)
				}
				if assert.NoError(t, err) && assert.True(t, it.Found, "acknowledged %s missing at %s", key, c.Name(i)) {
					assert.Equal(t, strconv.FormatUint(want, 10), it.Value, "%s at %s", key, c.Name(i))
				}
			}
		}
		_ = cl.Close()
	}
	t.Logf("%d acknowledged writes checked at 3 peers", n/3)
	require.Greater(t, n, 0, "some writes were acknowledged")
}
