package ordered_test

import (
	"errors"
	"fmt"
	"math"
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
	"github.com/memcons/memcons/internal/server"
	"github.com/memcons/memcons/internal/testcluster"
)

// kvInput is one client operation on one key.
type kvInput struct {
	Op       string // get, set, add, cas, incr, delete
	Key      string
	Value    uint64 // set, add, cas: the value written
	Observed uint64 // cas: the value its gets saw with that unique
	Delta    uint64 // incr
}

// kvOutput is what the peer answered; Unknown marks a request that failed
// or timed out, which may or may not have taken effect.
type kvOutput struct {
	Unknown bool
	Reply   string // STORED, NOT_STORED, EXISTS, NOT_FOUND, DELETED, NUMBER
	Found   bool   // get
	Value   uint64 // get: the value; incr: the new value
}

// kvState is one key's state in the model.
type kvState struct {
	Present bool
	Value   uint64
}

// kvModel is a memcached key under porcupine: every value written is
// unique, so a cas unique matches exactly when the current value is the one
// its gets saw.
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(kvInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() interface{} { return kvState{} },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		s, in, out := state.(kvState), input.(kvInput), output.(kvOutput)
		var reply string
		next := s
		switch in.Op {
		case "get":
			return out.Found == s.Present && (!s.Present || out.Value == s.Value), s
		case "set":
			reply, next = "STORED", kvState{true, in.Value}
		case "add":
			if s.Present {
				reply = "NOT_STORED"
			} else {
				reply, next = "STORED", kvState{true, in.Value}
			}
		case "cas":
			switch {
			case !s.Present:
				reply = "NOT_FOUND"
			case s.Value != in.Observed:
				reply = "EXISTS"
			default:
				reply, next = "STORED", kvState{true, in.Value}
			}
		case "incr":
			if !s.Present {
				reply = "NOT_FOUND"
			} else {
				reply, next = "NUMBER", kvState{true, s.Value + in.Delta}
				if !out.Unknown && out.Value != next.Value {
					return false, s
				}
			}
		case "delete":
			if s.Present {
				reply, next = "DELETED", kvState{}
			} else {
				reply = "NOT_FOUND"
			}
		}
		return out.Unknown || out.Reply == reply, next
	},
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(kvInput), output.(kvOutput)
		res := out.Reply
		switch {
		case out.Unknown:
			res = "unknown"
		case in.Op == "get" && out.Found:
			res = strconv.FormatUint(out.Value, 10)
		case in.Op == "get":
			res = "miss"
		case in.Op == "incr" && out.Reply == "NUMBER":
			res = strconv.FormatUint(out.Value, 10)
		}
		return fmt.Sprintf("%s(%s %d %d %d) -> %s", in.Op, in.Key, in.Value, in.Observed, in.Delta, res)
	},
	DescribeState: func(state interface{}) string {
		s := state.(kvState)
		if !s.Present {
			return "absent"
		}
		return strconv.FormatUint(s.Value, 10)
	},
}

// history collects operations from concurrent clients.
type history struct {
	mu  sync.Mutex
	ops []porcupine.Operation
}

func (h *history) add(op porcupine.Operation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
}

// kvClient runs random operations against one peer and records them.
type kvClient struct {
	id      int
	addr    string
	rng     *rand.Rand
	hist    *history
	keys    []string
	conn    *textClient
	seen    map[string][2]uint64 // key -> (value, unique) from the last gets
	counter uint64
	acked   map[string]uint64 // ack-* keys this client stored successfully
}

const opTimeout = 4 * time.Second

func (c *kvClient) client() (*textClient, error) {
	if c.conn == nil {
		conn, err := dialText(c.addr, opTimeout)
		if err != nil {
			return nil, err
		}
		c.conn = conn
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
	in := kvInput{Key: key}
	var out kvOutput
	call := time.Now().UnixNano()
	switch r := c.rng.IntN(100); {
	case r < 35:
		in.Op = "get"
		var v string
		var unique uint64
		v, unique, out.Found, err = cl.gets(key)
		if err == nil && out.Found {
			out.Value, err = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			c.seen[key] = [2]uint64{out.Value, unique}
		}
	case r < 55:
		in.Op, in.Value = "set", fresh
		out.Reply, err = cl.store("set", key, strconv.FormatUint(fresh, 10))
	case r < 65:
		in.Op, in.Value = "add", fresh
		out.Reply, err = cl.store("add", key, strconv.FormatUint(fresh, 10))
	case r < 80:
		seen, ok := c.seen[key]
		if !ok {
			c.counter--
			return
		}
		in.Op, in.Value, in.Observed = "cas", fresh, seen[0]
		out.Reply, err = cl.cas(key, strconv.FormatUint(fresh, 10), seen[1])
	case r < 92:
		in.Op, in.Delta = "incr", uint64(1+c.rng.IntN(5))
		out.Reply, err = cl.simple(fmt.Sprintf("incr %s %d", key, in.Delta))
		if err == nil && out.Reply != "NOT_FOUND" {
			out.Value, err = strconv.ParseUint(strings.TrimSpace(out.Reply), 10, 64)
			out.Reply = "NUMBER"
		}
	default:
		in.Op = "delete"
		out.Reply, err = cl.simple("delete " + key)
	}
	ret := time.Now().UnixNano()
	if err != nil {
		c.drop()
		if in.Op == "get" {
			return // a failed read changed nothing
		}
		out, ret = kvOutput{Unknown: true}, math.MaxInt64
	}
	c.hist.add(porcupine.Operation{ClientId: c.id, Input: in, Call: call, Output: out, Return: ret})
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
	reply, err := cl.store("set", key, strconv.FormatUint(c.counter, 10))
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
	hist := &history{}
	keys := []string{"k0", "k1", "k2"}
	var clients []*kvClient
	for i := range 3 * clientsByPeer {
		clients = append(clients, &kvClient{
			id: i, addr: c.ClientAddr(i % 3), rng: rand.New(rand.NewPCG(seed, uint64(i))),
			hist: hist, keys: keys, seen: map[string][2]uint64{}, acked: map[string]uint64{},
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
	heal := f.apply(t, c)
	for time.Since(start) < healAt {
		time.Sleep(10 * time.Millisecond)
	}
	heal()
	wg.Wait()

	// After healing, every peer must serve every key; the final reads go
	// into the history, so a lost acknowledged write fails the check.
	require.NoError(t, c.WaitAllUp(slack))
	reader := &kvClient{id: 99, hist: hist, keys: keys}
	for i := range 3 {
		reader.addr = c.ClientAddr(i)
		for _, k := range keys {
			readFinal(t, reader, k)
		}
	}
	checkHistory(t, hist.ops)
	checkAcked(t, c, clients)
}

// readFinal reads key through reader's peer, retrying while the peer
// catches up, and records the read.
func readFinal(t *testing.T, reader *kvClient, key string) {
	t.Helper()
	deadline := time.Now().Add(slack)
	for {
		cl, err := dialText(reader.addr, opTimeout)
		if err == nil {
			call := time.Now().UnixNano()
			var v string
			var found bool
			v, _, found, err = cl.gets(key)
			ret := time.Now().UnixNano()
			_ = cl.Close()
			if err == nil {
				out := kvOutput{Found: found}
				if found {
					out.Value, err = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
					require.NoError(t, err)
				}
				reader.hist.add(porcupine.Operation{ClientId: reader.id, Input: kvInput{Op: "get", Key: key}, Call: call, Output: out, Return: ret})
				return
			}
		}
		require.True(t, time.Now().Before(deadline), "final read of %s at %s: %v", key, reader.addr, err)
		time.Sleep(50 * time.Millisecond)
	}
}

// checkHistory asserts ops are linearizable, saving a visualization if not.
func checkHistory(t *testing.T, ops []porcupine.Operation) {
	t.Helper()
	res, info := porcupine.CheckOperationsVerbose(kvModel, ops, 60*time.Second)
	unknown := 0
	for _, op := range ops {
		if op.Output.(kvOutput).Unknown {
			unknown++
		}
	}
	t.Logf("%d operations (%d unknown): %s", len(ops), unknown, res)
	if res != porcupine.Ok {
		path := filepath.Join(t.TempDir(), "history.html")
		if err := porcupine.VisualizePath(kvModel, info, path); err != nil {
			t.Logf("visualize: %v", err)
		}
		if dir := os.Getenv("MEMCONS_KEEP_HISTORY"); dir != "" {
			keep := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".html")
			_ = porcupine.VisualizePath(kvModel, info, keep)
			path = keep
		}
		t.Errorf("history is %s; visualization: %s", res, path)
	}
}

// checkAcked asserts that every acknowledged ack-* write is readable at
// every peer (those keys are written once and never overwritten).
func checkAcked(t *testing.T, c *testcluster.Cluster, clients []*kvClient) {
	t.Helper()
	n := 0
	for i := range 3 {
		cl, err := dialText(c.ClientAddr(i), opTimeout)
		require.NoError(t, err)
		for _, kc := range clients {
			for key, want := range kc.acked {
				n++
				var v string
				var found bool
				deadline := time.Now().Add(slack)
				for {
					v, _, found, err = cl.gets(key)
					if err == nil || time.Now().After(deadline) {
						break
					}
					_ = cl.Close()
					cl, err = dialText(c.ClientAddr(i), opTimeout)
					require.NoError(t, err)
				}
				if assert.NoError(t, err) && assert.True(t, found, "acknowledged %s missing at %s", key, c.Name(i)) {
					assert.Equal(t, strconv.FormatUint(want, 10), v, "%s at %s", key, c.Name(i))
				}
			}
		}
		_ = cl.Close()
	}
	t.Logf("%d acknowledged writes checked at 3 peers", n/3)
	require.Greater(t, n, 0, "some writes were acknowledged")
}

var _ = errors.New
