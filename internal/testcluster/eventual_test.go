package testcluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/memcachedtest"
	"github.com/memcons/memcons/internal/server"
	"github.com/memcons/memcons/kvcontroller"
)

// syncInterval is the eventual-mode sync interval of these tests.
const syncInterval = 100 * time.Millisecond

func startEventual(t *testing.T, store server.StoreKind) *Cluster {
	t.Helper()
	c := Start(t, Options{Mode: consistency.Eventual, Store: store, Configure: func(cfg *server.Config) {
		cfg.Eventual.SyncInterval = syncInterval
		cfg.Eventual.PushQueue = 64 // small, so that bursts overflow and sync repairs
	}})
	require.NoError(t, c.WaitAllUp(slack))
	return c
}

// clientTimeout bounds each request of these tests' clients.
const clientTimeout = 5 * time.Second

// selfRole returns the role peer i reports for itself.
func selfRole(c *Cluster, i int) string {
	if s := c.Server(i); s != nil {
		for _, m := range s.Members() {
			if m.Self {
				return m.Last.Role
			}
		}
	}
	return ""
}

// liveItems returns peer i's live items (tombstones and the mode's own
// marker left out), by key.
func liveItems(c *Cluster, i int) (map[string]kvcontroller.Item, error) {
	s := c.Server(i)
	if s == nil {
		return nil, fmt.Errorf("%s is stopped", c.Name(i))
	}
	out := map[string]kvcontroller.Item{}
	now := time.Now().Unix()
	err := s.Store().Dump(context.Background(), func(it kvcontroller.Item) error {
		if !strings.Contains(it.Key, " ") && consistency.Live(it, now) {
			out[it.Key] = it
		}
		return nil
	})
	return out, err
}

// replicaDiff describes how the live contents of the replicas differ, or
// returns "" when all are identical (value, flags, expiry and version).
func replicaDiff(c *Cluster) string {
	var base map[string]kvcontroller.Item
	for i := range 3 {
		items, err := liveItems(c, i)
		if err != nil {
			return err.Error()
		}
		if i == 0 {
			base = items
			continue
		}
		keys := map[string]bool{}
		for k := range base {
			keys[k] = true
		}
		for k := range items {
			keys[k] = true
		}
		for k := range keys {
			a, okA := base[k]
			b, okB := items[k]
			if okA != okB || string(a.Value) != string(b.Value) || a.Version != b.Version || a.Flags != b.Flags || a.Exptime != b.Exptime {
				return fmt.Sprintf("key %q: %s has %v %q v%d, %s has %v %q v%d",
					k, c.Name(0), okA, a.Value, a.Version, c.Name(i), okB, b.Value, b.Version)
			}
		}
	}
	return ""
}

// waitConverged waits until every replica holds the same live items.
func waitConverged(t *testing.T, c *Cluster, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		diff := replicaDiff(c)
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas did not converge within %v: %s", limit, diff)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeLog records every write the clients attempted, acknowledged or
// not: a write whose reply was lost may still have been applied. It is
// not an internal/history record: that model knows no append and holds
// numbers, while these checks ask which set values and appended tokens
// can make up a key's final value.
type writeLog struct {
	mu      sync.Mutex
	written map[string]map[string]bool // key -> values set, append tokens, incr results
	acked   int
	changed chan struct{} // closed and replaced on every acknowledged write
}

func newWriteLog() *writeLog {
	return &writeLog{written: map[string]map[string]bool{}, changed: make(chan struct{})}
}

// waitAcked waits until n more writes than now are acknowledged: fault
// phases last for a number of writes, not a fixed time.
func (h *writeLog) waitAcked(t *testing.T, n int) {
	t.Helper()
	h.mu.Lock()
	target := h.acked + n
	h.mu.Unlock()
	timeout := time.After(slack)
	for {
		h.mu.Lock()
		done, ch := h.acked >= target, h.changed
		h.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("clients did not get %d writes through within %v", n, slack)
		}
	}
}

func (h *writeLog) record(key, value string, acked bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.written[key] == nil {
		h.written[key] = map[string]bool{}
	}
	h.written[key][value] = true
	if acked {
		h.acked++
		close(h.changed)
		h.changed = make(chan struct{})
	}
}

// legitimate reports whether v can be the result of the recorded writes to
// key: a value that was set, followed by appended tokens that were sent, or
// a number an incr returned (incr pads a shorter result with spaces).
func (h *writeLog) legitimate(key, v string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.written[key]
	if w[strings.TrimRight(v, " ")] {
		return true
	}
	parts := strings.Split(v, "+")
	if !w[parts[0]] {
		return false
	}
	for _, p := range parts[1:] {
		if !w["+"+p] {
			return false
		}
	}
	return true
}

// runClient writes to keys through peer i until stop closes: set with a
// unique value, delete, incr (on a numeric value) and append.
func runClient(c *Cluster, i int, seed uint64, keys []string, h *writeLog, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	var cl *memcachedtest.Client // dialed on first use, and again after an error that leaves it out of step
	defer func() {
		if cl != nil {
			_ = cl.Close()
		}
	}()
	// do sends one request to peer i and returns its reply line.
	do := func(req string) (string, error) {
		if cl == nil {
			conn, err := memcachedtest.Dial(c.ClientAddr(i), time.Second)
			if err != nil {
				return "", err
			}
			conn.SetTimeout(clientTimeout)
			cl = conn
		}
		r, err := cl.Do(req)
		if err != nil && !errors.Is(err, memcachedtest.ErrReply) {
			_ = cl.Close()
			cl = nil
		}
		return r.Line, err
	}
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		key := keys[rng.IntN(len(keys))]
		var err error
		var reply string
		switch op := rng.IntN(10); {
		case op < 4:
			v := fmt.Sprintf("c%d-%d", i, n)
			if rng.IntN(2) == 0 {
				v = strconv.Itoa(rng.IntN(1000)) // a counter incr can work on
			}
			h.record(key, v, false)
			reply, err = do(fmt.Sprintf("set %s 0 0 %d\r\n%s\r\n", key, len(v), v))
			if err == nil && reply == "STORED" {
				h.record(key, v, true)
			}
		case op < 6:
			_, err = do("delete " + key + "\r\n")
		case op < 8:
			reply, err = do("incr " + key + " 1\r\n")
			if err == nil {
				if _, perr := strconv.ParseUint(reply, 10, 64); perr == nil {
					h.record(key, reply, true)
				}
			}
		default:
			tok := fmt.Sprintf("+a%d-%d", i, n)
			h.record(key, tok, false)
			_, err = do(fmt.Sprintf("append %s 0 0 %d\r\n%s\r\n", key, len(tok), tok))
		}
		if err != nil {
			// The peer is restarting: back off rather than spin.
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
}

// TestEventual_ConvergesUnderFaults runs clients at all three peers while
// links are cut and drop traffic and one peer is killed and restarted, then
// checks that the replicas converge within two sync intervals (plus slack
// for a loaded machine) to values the writes can explain, and then to each
// key's newest acknowledged write.
func TestEventual_ConvergesUnderFaults(t *testing.T) {
	cases := []struct {
		name  string
		store server.StoreKind
		seed  uint64
	}{
		{"memory/seed1", server.StoreMemory, 1},
		{"memory/seed2", server.StoreMemory, 2},
		{"memory/seed3", server.StoreMemory, 3},
		{"memcached/seed4", server.StoreMemcached, 4},
		{"memcached/seed5", server.StoreMemcached, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.store == server.StoreMemcached {
				memcapable(t) // same tools package: skip where memcached tools are missing
			}
			c := startEventual(t, tc.store)
			rng := rand.New(rand.NewPCG(tc.seed, 99))
			keys := []string{"k0", "k1", "k2", "k3", "k4", "k5"}
			h := newWriteLog()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for i := range 3 {
				wg.Go(func() { runClient(c, i, tc.seed, keys, h, stop) })
			}
			pause := func() { h.waitAcked(t, 100+rng.IntN(200)) }

			// Faults, in an order the seed shuffles.
			faults := []func(){
				func() { c.Net.Cut("peer1", "peer2"); pause(); c.Net.Heal("peer1", "peer2") },
				func() { c.Net.Drop("peer1", "peer3", true); pause(); c.Net.Heal("peer1", "peer3") },
				func() {
					c.Net.Cut("peer2", "peer3")
					c.Net.Drop("peer1", "peer2", true)
					pause()
					c.Net.Heal("peer2", "peer3")
					c.Net.Heal("peer1", "peer2")
				},
				func() {
					// With the memory store the restarted peer's replica
					// is empty; with memcached it is intact.
					victim := rng.IntN(3)
					c.Kill(victim)
					pause()
					c.Restart(victim)
					want := "replica is empty: full transfer"
					if tc.store == server.StoreMemcached {
						want = "replica intact: catching up by delta"
					}
					assert.Contains(t, c.Log(victim), want)
					require.Eventually(t, func() bool { return selfRole(c, victim) == "peer" }, slack, 10*time.Millisecond,
						"the restarted peer stops catching up")
				},
			}
			rng.Shuffle(len(faults), func(a, b int) { faults[a], faults[b] = faults[b], faults[a] })
			for _, f := range faults {
				f()
				pause()
			}
			// A last fault while the clients finish, healed only after the
			// writes stop, so convergence needs sync, not only pushes: a
			// cut, or (odd seeds) a link that silently drops everything,
			// which leaves half-written frames on open connections.
			if tc.seed%2 == 1 {
				c.Net.Drop("peer1", "peer3", true)
			} else {
				c.Net.Cut("peer1", "peer3")
			}
			pause()
			close(stop)
			wg.Wait()
			c.Net.Heal("peer1", "peer3")
			require.NoError(t, c.WaitAllUp(slack))
			require.Greater(t, h.acked, 100, "the clients got writes through")

			healed := time.Now()
			diverged := replicaDiff(c)
			waitConverged(t, c, 2*syncInterval+slack)
			t.Logf("%d writes acknowledged; replicas converged %v after healing (diverged at heal: %q)",
				h.acked, time.Since(healed).Round(time.Millisecond), diverged)
			items, err := liveItems(c, 0)
			require.NoError(t, err)
			for k, it := range items {
				assert.True(t, h.legitimate(k, string(it.Value)), "key %s holds %q, which no recorded write explains", k, it.Value)
			}

			// Now one final write per key from a random peer, with a link
			// cut so that one peer learns it by sync only: every replica
			// must end with exactly that write.
			c.Net.Cut("peer2", "peer3")
			final := map[string]string{}
			var clients [3]*memcachedtest.Client
			for i := range 3 {
				clients[i], err = memcachedtest.Dial(c.ClientAddr(i), clientTimeout)
				require.NoError(t, err)
				defer clients[i].Close()
			}
			for n, k := range keys {
				cl := clients[rng.IntN(3)]
				if n%3 == 0 {
					reply, err := cl.Simple("delete " + k)
					require.NoError(t, err)
					require.Contains(t, []string{"DELETED", "NOT_FOUND"}, reply)
					final[k] = ""
					continue
				}
				v := fmt.Sprintf("final-%d", n)
				reply, err := cl.Store("set", k, v)
				require.NoError(t, err)
				require.Equal(t, "STORED", reply)
				final[k] = v
			}
			c.Net.Heal("peer2", "peer3")
			waitConverged(t, c, 2*syncInterval+slack)
			cas := map[string]uint64{}
			for i := range 3 {
				for _, k := range keys {
					it, err := clients[i].Gets(k)
					require.NoError(t, err)
					if final[k] == "" {
						assert.False(t, it.Found, "%s: %s was deleted last, got %q", c.Name(i), k, it.Value)
						continue
					}
					assert.Equal(t, final[k], it.Value, "%s: %s", c.Name(i), k)
					if i == 0 {
						cas[k] = it.Cas
					}
					assert.Equal(t, cas[k], it.Cas, "gets unique of %s is the same on every peer", k)
				}
			}
		})
	}
}

// TestEventual_DeletedKeyStaysDeleted holds back an older write to a key
// while the key is deleted elsewhere; when the write finally arrives it
// must not bring the key back, on any replica.
func TestEventual_DeletedKeyStaysDeleted(t *testing.T) {
	c := startEventual(t, server.StoreMemory)
	p1, p2 := newMemcache(t, c.ClientAddr(0)), newMemcache(t, c.ClientAddr(1))

	// peer1 is cut off from both others when it writes the old value.
	c.Net.Cut("peer1", "peer2")
	c.Net.Cut("peer1", "peer3")
	require.NoError(t, p1.Set(&memcache.Item{Key: "doomed", Value: []byte("old")}))

	// Later, peer2 writes and deletes the key; peer3 learns both.
	require.NoError(t, p2.Set(&memcache.Item{Key: "doomed", Value: []byte("new")}))
	require.NoError(t, p2.Delete("doomed"))
	require.Eventually(t, func() bool {
		_, err := c.Server(2).Store().Get(context.Background(), "doomed")
		return errors.Is(err, kvcontroller.ErrNotFound) || err == nil
	}, slack, 10*time.Millisecond)

	// The old write now arrives everywhere, by push or by sync; the
	// tombstone is newer, so every replica ends without the key (and the
	// tombstone may be collected meanwhile without resurrecting it).
	c.Net.Heal("peer1", "peer2")
	c.Net.Heal("peer1", "peer3")
	require.NoError(t, c.WaitAllUp(slack))
	waitConverged(t, c, 2*syncInterval+slack)
	// Until every peer has collected the tombstone, the key must stay
	// gone everywhere.
	deadline := time.Now().Add(20*syncInterval + slack)
	for collected := false; !collected; {
		collected = true
		for i := range 3 {
			it, err := c.Server(i).Store().Get(context.Background(), "doomed")
			if errors.Is(err, kvcontroller.ErrNotFound) {
				continue
			}
			require.NoError(t, err)
			require.True(t, it.Tombstone, "%s brought the deleted key back: %q", c.Name(i), it.Value)
			collected = false
		}
		require.False(t, time.Now().After(deadline), "tombstones not collected within %v", 20*syncInterval+slack)
		time.Sleep(10 * time.Millisecond)
	}
	_, err := p1.Get("doomed")
	assert.ErrorIs(t, err, memcache.ErrCacheMiss, "peer1 answers the key deleted")
}

// TestEventual_StatsClusterReportsSync checks that each peer's sync details
// reach `stats cluster` (and so `memcons show`) on another peer.
func TestEventual_StatsClusterReportsSync(t *testing.T) {
	c := startEventual(t, server.StoreMemory)
	cl, err := memcachedtest.Dial(c.ClientAddr(0), clientTimeout)
	require.NoError(t, err)
	defer cl.Close()
	reply, err := cl.Store("set", "shown", "x")
	require.NoError(t, err)
	require.Equal(t, "STORED", reply)

	stats := func() map[string]string {
		out, err := cl.Stats("cluster")
		require.NoError(t, err)
		return out
	}
	require.Eventually(t, func() bool {
		s := stats()
		// peer2's heartbeat tells peer1 what peer2's last sync with peer1
		// brought; every peer reports itself a peer once caught up.
		return strings.Contains(s["peer:peer2:last_sync"], "peer1=") &&
			!strings.Contains(s["peer:peer2:last_sync"], "peer1=never") &&
			s["peer:peer2:role"] == "peer" && s["peer:peer1:role"] == "peer" &&
			strings.Contains(s["peer:peer3:pending_push"], "peer1=")
	}, slack, 20*time.Millisecond, "sync details in stats cluster: %v", stats())
	s := stats()
	for _, key := range []string{"last_sync", "pending_push", "push_dropped", "sync_items", "sync_bytes"} {
		assert.Contains(t, s, "peer:peer1:"+key)
	}
}
