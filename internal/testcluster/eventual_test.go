package testcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
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

// textClient is a minimal memcached text-protocol client for one peer.
type textClient struct {
	addr string
	conn net.Conn
	r    *bufio.Reader
}

func dialClient(addr string) (*textClient, error) {
	c := &textClient{addr: addr}
	return c, c.redial()
}

func (c *textClient) redial() error {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
	conn, err := net.DialTimeout("tcp", c.addr, time.Second)
	if err != nil {
		return err
	}
	c.conn, c.r = conn, bufio.NewReader(conn)
	return nil
}

func (c *textClient) close() {
	if c.conn != nil {
		_ = c.conn.Close()
	}
}

// do sends one command (with an optional data block) and returns the first
// reply line.
func (c *textClient) do(line string, data string) (string, error) {
	if c.conn == nil {
		if err := c.redial(); err != nil {
			return "", err
		}
	}
	_ = c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	msg := line + "\r\n"
	if data != "" || strings.HasPrefix(line, "set ") || strings.HasPrefix(line, "append ") {
		msg += data + "\r\n"
	}
	if _, err := c.conn.Write([]byte(msg)); err != nil {
		_ = c.redial()
		return "", err
	}
	reply, err := c.r.ReadString('\n')
	if err != nil {
		_ = c.redial()
		return "", err
	}
	return strings.TrimRight(reply, "\r\n"), nil
}

// gets returns key's value and cas unique; ok is false on a miss.
func (c *textClient) gets(key string) (value string, cas uint64, ok bool, err error) {
	line, err := c.do("gets "+key, "")
	if err != nil {
		return "", 0, false, err
	}
	if line == "END" {
		return "", 0, false, nil
	}
	f := strings.Fields(line)
	if len(f) != 5 || f[0] != "VALUE" {
		return "", 0, false, fmt.Errorf("gets %s: unexpected %q", key, line)
	}
	n, _ := strconv.Atoi(f[3])
	cas, _ = strconv.ParseUint(f[4], 10, 64)
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return "", 0, false, err
	}
	end, err := c.r.ReadString('\n')
	if err != nil || strings.TrimSpace(end) != "END" {
		return "", 0, false, fmt.Errorf("gets %s: no END (%q, %v)", key, end, err)
	}
	return string(buf[:n]), cas, true, nil
}

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

// history records every write the clients attempted, acknowledged or not:
// a write whose reply was lost may still have been applied.
type history struct {
	mu      sync.Mutex
	written map[string]map[string]bool // key -> values set, append tokens, incr results
	acked   int
	changed chan struct{} // closed and replaced on every acknowledged write
}

func newHistory() *history {
	return &history{written: map[string]map[string]bool{}, changed: make(chan struct{})}
}

// waitAcked waits until n more writes than now are acknowledged: fault
// phases last for a number of writes, not a fixed time.
func (h *history) waitAcked(t *testing.T, n int) {
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

func (h *history) record(key, value string, acked bool) {
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
func (h *history) legitimate(key, v string) bool {
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
func runClient(c *Cluster, i int, seed uint64, keys []string, h *history, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	cl := &textClient{addr: c.ClientAddr(i)} // dials on first use, redials after errors
	defer cl.close()
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
			reply, err = cl.do(fmt.Sprintf("set %s 0 0 %d", key, len(v)), v)
			if err == nil && reply == "STORED" {
				h.record(key, v, true)
			}
		case op < 6:
			_, err = cl.do("delete "+key, "")
		case op < 8:
			reply, err = cl.do("incr "+key+" 1", "")
			if err == nil {
				if _, perr := strconv.ParseUint(reply, 10, 64); perr == nil {
					h.record(key, reply, true)
				}
			}
		default:
			tok := fmt.Sprintf("+a%d-%d", i, n)
			h.record(key, tok, false)
			_, err = cl.do(fmt.Sprintf("append %s 0 0 %d", key, len(tok)), tok)
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
			h := newHistory()
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
			var clients [3]*textClient
			for i := range 3 {
				clients[i], err = dialClient(c.ClientAddr(i))
				require.NoError(t, err)
				defer clients[i].close()
			}
			for n, k := range keys {
				cl := clients[rng.IntN(3)]
				if n%3 == 0 {
					reply, err := cl.do("delete "+k, "")
					require.NoError(t, err)
					require.Contains(t, []string{"DELETED", "NOT_FOUND"}, reply)
					final[k] = ""
					continue
				}
				v := fmt.Sprintf("final-%d", n)
				reply, err := cl.do(fmt.Sprintf("set %s 0 0 %d", k, len(v)), v)
				require.NoError(t, err)
				require.Equal(t, "STORED", reply)
				final[k] = v
			}
			c.Net.Heal("peer2", "peer3")
			waitConverged(t, c, 2*syncInterval+slack)
			cas := map[string]uint64{}
			for i := range 3 {
				for _, k := range keys {
					v, unique, ok, err := clients[i].gets(k)
					require.NoError(t, err)
					if final[k] == "" {
						assert.False(t, ok, "%s: %s was deleted last, got %q", c.Name(i), k, v)
						continue
					}
					assert.Equal(t, final[k], v, "%s: %s", c.Name(i), k)
					if i == 0 {
						cas[k] = unique
					}
					assert.Equal(t, cas[k], unique, "gets unique of %s is the same on every peer", k)
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
	p1, err := dialClient(c.ClientAddr(0))
	require.NoError(t, err)
	defer p1.close()
	p2, err := dialClient(c.ClientAddr(1))
	require.NoError(t, err)
	defer p2.close()

	// peer1 is cut off from both others when it writes the old value.
	c.Net.Cut("peer1", "peer2")
	c.Net.Cut("peer1", "peer3")
	reply, err := p1.do("set doomed 0 0 3", "old")
	require.NoError(t, err)
	require.Equal(t, "STORED", reply)

	// Later, peer2 writes and deletes the key; peer3 learns both.
	reply, err = p2.do("set doomed 0 0 3", "new")
	require.NoError(t, err)
	require.Equal(t, "STORED", reply)
	reply, err = p2.do("delete doomed", "")
	require.NoError(t, err)
	require.Equal(t, "DELETED", reply)
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
	_, _, ok, err := p1.gets("doomed")
	require.NoError(t, err)
	assert.False(t, ok, "peer1 answers the key deleted")
}

// TestEventual_StatsClusterReportsSync checks that each peer's sync details
// reach `stats cluster` (and so `memcons show`) on another peer.
func TestEventual_StatsClusterReportsSync(t *testing.T) {
	c := startEventual(t, server.StoreMemory)
	cl, err := dialClient(c.ClientAddr(0))
	require.NoError(t, err)
	defer cl.close()
	reply, err := cl.do("set shown 0 0 1", "x")
	require.NoError(t, err)
	require.Equal(t, "STORED", reply)

	stats := func() map[string]string {
		out := map[string]string{}
		line, err := cl.do("stats cluster", "")
		require.NoError(t, err)
		for line != "END" {
			if rest, ok := strings.CutPrefix(line, "STAT "); ok {
				name, value, _ := strings.Cut(rest, " ")
				out[name] = value
			}
			line, err = cl.r.ReadString('\n')
			require.NoError(t, err)
			line = strings.TrimRight(line, "\r\n")
		}
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
