package ordered_test

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/consistency/ordered"
	"github.com/memcons/memcons/internal/memcachedtest"
	"github.com/memcons/memcons/internal/server"
	"github.com/memcons/memcons/internal/testcluster"
)

// appliedLog records, per peer, the writes its FSM applied in order.
type appliedLog struct {
	mu   sync.Mutex
	seqs map[string][]ordered.AppliedEntry
}

func (a *appliedLog) hook(name string, c *ordered.Config) {
	c.OnApply = func(e ordered.AppliedEntry) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.seqs[name] = append(a.seqs[name], e)
	}
}

func (a *appliedLog) get(name string) []ordered.AppliedEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seqs[name])
}

// appliedIndex returns the applied index peer i reports, or 0.
func appliedIndex(c *testcluster.Cluster, i int) uint64 {
	s := c.Server(i)
	if s == nil {
		return 0
	}
	for _, m := range s.Members() {
		if m.Self {
			n, _ := strconv.ParseUint(strings.TrimPrefix(m.Last.Progress, "applied "), 10, 64)
			return n
		}
	}
	return 0
}

// waitSameApplied waits until every peer reports the same applied index.
func waitSameApplied(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	require.Eventually(t, func() bool {
		a := appliedIndex(c, 0)
		return a > 0 && a == appliedIndex(c, 1) && a == appliedIndex(c, 2)
	}, slack, 10*time.Millisecond, "all peers apply the same index")
}

func TestSequential_ReadYourWritesMonotonicReadsAndOneOrder(t *testing.T) {
	applied := &appliedLog{seqs: map[string][]ordered.AppliedEntry{}}
	c := startCluster(t, consistency.Sequential, server.StoreMemory, func(name string, oc *ordered.Config) {
		applied.hook(name, oc)
		steady(name, oc)
	})
	waitLeader(t, c, slack)

	const runFor = 2 * time.Second
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	// One writer per peer: each writes its own key and a shared counter
	// key with increasing values, and must read its own write back at once.
	for i := range 3 {
		wg.Go(func() {
			cl, err := memcachedtest.Dial(c.ClientAddr(i), opTimeout)
			if err != nil {
				errs <- err
				return
			}
			defer cl.Close()
			own := fmt.Sprintf("own-%d", i)
			for n := 1; time.Since(start) < runFor; n++ {
				v := strconv.Itoa(n)
				for _, key := range []string{own, fmt.Sprintf("counter-%d", i)} {
					if r, err := cl.Store("set", key, v); err != nil || r != "STORED" {
						errs <- fmt.Errorf("set %s=%s at %s: %q %v", key, v, c.Name(i), r, err)
						return
					}
				}
				it, err := cl.Gets(own)
				if err != nil || !it.Found || it.Value != v {
					errs <- fmt.Errorf("read-your-writes at %s: wrote %s=%s, read %q found=%v err=%v", c.Name(i), own, v, it.Value, it.Found, err)
					return
				}
			}
		})
	}
	// Readers on every peer watch every counter: per connection, values
	// never go back.
	for i := range 3 {
		wg.Go(func() {
			cl, err := memcachedtest.Dial(c.ClientAddr(i), opTimeout)
			if err != nil {
				errs <- err
				return
			}
			defer cl.Close()
			last := map[string]int{}
			for time.Since(start) < runFor {
				for w := range 3 {
					key := fmt.Sprintf("counter-%d", w)
					it, err := cl.Gets(key)
					if err != nil {
						errs <- fmt.Errorf("read %s at %s: %w", key, c.Name(i), err)
						return
					}
					n := 0
					if it.Found {
						n, _ = strconv.Atoi(it.Value)
					}
					if n < last[key] {
						errs <- fmt.Errorf("monotonic reads at %s: %s went from %d to %d", c.Name(i), key, last[key], n)
						return
					}
					last[key] = n
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	waitSameApplied(t, c)
	first := applied.get(c.Name(0))
	require.NotEmpty(t, first)
	for i := 1; i < 3; i++ {
		assert.Equal(t, first, applied.get(c.Name(i)), "%s applied the same writes in the same order as %s", c.Name(i), c.Name(0))
	}
	t.Logf("%d writes applied in one order at 3 peers", len(first))
}

// cutOff cuts peer i from both others and returns the function that heals it.
func cutOff(c *testcluster.Cluster, i int) func() {
	a, b := others(i)
	c.Net.Cut(c.Name(i), c.Name(a))
	c.Net.Cut(c.Name(i), c.Name(b))
	return func() { c.Net.Heal(c.Name(i), c.Name(a)); c.Net.Heal(c.Name(i), c.Name(b)) }
}

func TestOrdered_CutOffPeer(t *testing.T) {
	for _, mode := range []consistency.Kind{consistency.Linearizable, consistency.Sequential} {
		t.Run(string(mode), func(t *testing.T) {
			c := startCluster(t, mode, server.StoreMemory, nil)
			l := waitLeader(t, c, slack)
			f, g := others(l)
			cl, err := memcachedtest.Dial(c.ClientAddr(l), opTimeout)
			require.NoError(t, err)
			defer cl.Close()
			r, err := cl.Store("set", "k", "old")
			require.NoError(t, err)
			require.Equal(t, "STORED", r)
			waitSameApplied(t, c)

			heal := cutOff(c, f)
			defer heal()
			r, err = cl.Store("set", "k", "new")
			require.NoError(t, err, "the majority keeps taking writes")
			require.Equal(t, "STORED", r)
			cg, err := memcachedtest.Dial(c.ClientAddr(g), opTimeout)
			require.NoError(t, err)
			defer cg.Close()
			require.Eventually(t, func() bool {
				it, err := cg.Gets("k")
				return err == nil && it.Value == "new"
			}, slack, 10*time.Millisecond, "the majority keeps serving reads and sees the write")

			cf, err := memcachedtest.Dial(c.ClientAddr(f), opTimeout)
			require.NoError(t, err)
			defer cf.Close()
			_, err = cf.Store("set", "k", "lost")
			assert.True(t, errors.Is(err, memcachedtest.ErrReply), "the cut-off peer refuses writes: %v", err)
			it, err := cf.Gets("k")
			if mode == consistency.Linearizable {
				assert.True(t, errors.Is(err, memcachedtest.ErrReply), "the cut-off peer answers SERVER_ERROR, got %q found=%v err=%v", it.Value, it.Found, err)
			} else {
				require.NoError(t, err, "the cut-off peer serves reads")
				assert.Equal(t, "old", it.Value, "possibly stale")
			}
		})
	}
}

func TestLinearizable_FailoverWithinElectionTimeout(t *testing.T) {
	// failoverSlack absorbs a loaded 2-core machine running -race.
	const failoverSlack = 2 * time.Second
	c := startCluster(t, consistency.Linearizable, server.StoreMemory, nil)
	l := waitLeader(t, c, slack)
	a, b := others(l)
	c.Kill(l)
	killed := time.Now()
	for _, i := range []int{a, b} {
		mc := newMemcache(t, c.ClientAddr(i))
		for n := 0; ; n++ {
			err := mc.Set(&memcache.Item{Key: "failover", Value: []byte(strconv.Itoa(n))})
			if err == nil {
				break
			}
			require.Less(t, time.Since(killed), testElection+time.Second+failoverSlack+testLeaderWait,
				"write at %s after the leader died: %v", c.Name(i), err)
		}
		_ = mc.Close()
		took := time.Since(killed)
		t.Logf("write succeeded at %s %v after the leader was killed", c.Name(i), took)
		assert.Less(t, took, testElection+time.Second+failoverSlack)
	}
}
