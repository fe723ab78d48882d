package testcluster

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/consistency/ordered"
	"github.com/memcons/memcons/internal/memcachedtest"
)

// Failover bounds with the default ordered config (election_timeout 1s,
// leader_wait 3s, request_timeout 5s). After the leader is cut off, the
// majority serves writes and linearizable reads again within afterElection
// of electing a new leader, reads no later than afterElection after
// writes, and so reads within readsBack of the cut whenever raft elects
// within electedBy.
//
// How long the election takes is raft's: a follower notices the silence
// at its first randomized heartbeat timer (0.5–1 s, restarted while the
// leader was heard) after half an election_timeout without contact, and
// its vote is refused while the other follower still hears nobody new.
// With raft's heartbeat timeout at the whole election_timeout, 4 of 24
// runs here took 3.0–3.6 s; all of a 2-core machine's steps slow down
// under a load of 20 (elections of 3.4–6.4 s, reads 1.4 s after one). So
// one run of the scenario is an attempt: it counts if raft elected within
// electedBy and every bound held, and else the scenario runs again, up to
// cutOffAttempts times. The test fails if no attempt met every bound; the
// stall it guards against (reads held for request_timeout, 5 s) happened
// in every run.
const (
	readsBack      = 3 * time.Second
	afterElection  = 500 * time.Millisecond
	electedBy      = readsBack - afterElection
	cutOffAttempts = 4
	// failoverLimit bounds how long the test waits for the first
	// successful request after the cut; far above any bound it asserts.
	failoverLimit = 20 * time.Second
	// clientDeadline outlasts request_timeout, so a slow answer is
	// measured as slow rather than cut short by the client.
	clientDeadline = 2 * ordered.DefaultRequestTimeout
)

// attempt is one request a failover client made: when it was sent, when it
// returned, and whether the peer served it.
type attempt struct {
	start, end time.Time
	ok         bool
	reply      string
}

// failoverClient repeats one command against one peer and records every
// attempt, reconnecting after a failure.
type failoverClient struct {
	addr  string
	read  bool // get, else set
	key   string
	label string

	mu       sync.Mutex
	attempts []attempt
}

func (fc *failoverClient) run(stop <-chan struct{}) {
	var cl *memcachedtest.Client
	defer func() {
		if cl != nil {
			_ = cl.Close()
		}
	}()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		if cl == nil {
			c, err := memcachedtest.Dial(fc.addr, time.Second)
			if err != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			c.SetTimeout(clientDeadline)
			cl = c
		}
		a := attempt{start: time.Now()}
		var err error
		if fc.read {
			var r memcachedtest.Reply
			r, err = cl.Do("get " + fc.key + "\r\n")
			switch {
			case err != nil:
				a.reply = r.Line
			case len(r.Items) == 0:
				a.reply = "miss"
			default:
				a.reply = r.Items[0].Value
			}
			a.ok = err == nil
		} else {
			a.reply, err = cl.Store("set", fc.key, strconv.Itoa(n))
			a.ok = err == nil && a.reply == "STORED"
		}
		a.end = time.Now()
		if err != nil && a.reply == "" {
			a.reply = err.Error()
		}
		fc.mu.Lock()
		fc.attempts = append(fc.attempts, a)
		fc.mu.Unlock()
		if !a.ok {
			// A failed request's late reply must not answer the next one.
			_ = cl.Close()
			cl = nil
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// firstOK returns how long after since the first attempt sent at or after
// since was served, or false if none was yet.
func (fc *failoverClient) firstOK(since time.Time) (time.Duration, bool) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for _, a := range fc.attempts {
		if a.ok && !a.start.Before(since) {
			return a.end.Sub(since), true
		}
	}
	return 0, false
}

// served returns the attempts sent at or after since that the peer served.
func (fc *failoverClient) served(since time.Time) []attempt {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	var out []attempt
	for _, a := range fc.attempts {
		if a.ok && !a.start.Before(since) {
			out = append(out, a)
		}
	}
	return out
}

// failures describes the attempts that ended at or after since (those in
// flight then too), for the failure message.
func (fc *failoverClient) failures(since time.Time) string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	var b strings.Builder
	n := 0
	for _, a := range fc.attempts {
		if a.end.Before(since) {
			continue
		}
		if n++; n > 12 {
			b.WriteString("\n  ...")
			break
		}
		outcome := "served"
		if !a.ok {
			outcome = "failed: " + a.reply
		}
		fmt.Fprintf(&b, "\n  %s: sent %+v, returned +%v, %s", fc.label,
			a.start.Sub(since).Round(time.Millisecond), a.end.Sub(since).Round(time.Millisecond), outcome)
	}
	return b.String()
}

// waitRole waits until peer i reports role, for at most limit.
func waitRole(c *Cluster, i int, role string, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if selfRole(c, i) == role {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// partition is one way to cut a peer off while it keeps running.
type partition struct {
	name string
	cut  func(n *Network, a, b string)
}

var partitions = []partition{
	// Open connections close and new dials fail: what the peers see when
	// the network refuses (a reset, an unreachable host).
	{"links cut", func(n *Network, a, b string) { n.Cut(a, b) }},
	// Every byte is lost and open connections stay open: what a partition
	// that drops packets looks like. Unlike a paused peer, the old leader
	// keeps running: it steps down and answers its own clients.
	{"links silent", func(n *Network, a, b string) { n.Drop(a, b, true) }},
}

// TestLinearizable_LeaderCutOffReadsBackWithNewLeader cuts the leader off
// from both followers (a partition: the old leader keeps running) while
// clients read and write at every peer, and measures from the cut to the
// election and to the first served write and read at each majority peer,
// with the default ordered config. Reads in flight at the cut were
// forwarded to the old leader; they must not hold up the reads that the
// new leader can answer, at the new leader or at the other follower.
func TestLinearizable_LeaderCutOffReadsBackWithNewLeader(t *testing.T) {
	for _, p := range partitions {
		t.Run(p.name, func(t *testing.T) {
			var missed []string
			for n := 1; n <= cutOffAttempts; n++ {
				var m cutOffTimes
				if !t.Run(fmt.Sprintf("attempt %d", n), func(t *testing.T) { m = leaderCutOff(t, p) }) {
					return // a safety check failed
				}
				v := m.violations()
				if len(v) == 0 && m.elected <= electedBy {
					return
				}
				if len(v) == 0 {
					v = []string{fmt.Sprintf("raft elected after %v, later than %v: the %v bound does not apply",
						m.elected.Round(time.Millisecond), electedBy, readsBack)}
				}
				for _, line := range v {
					missed = append(missed, fmt.Sprintf("attempt %d: %s", n, line))
				}
				t.Logf("attempt %d does not count:\n%s", n, strings.Join(v, "\n"))
			}
			t.Errorf("no attempt in %d elected within %v and met every bound:\n%s",
				cutOffAttempts, electedBy, strings.Join(missed, "\n"))
		})
	}
}

// cutOffTimes is what one run of the scenario measured, from the cut.
type cutOffTimes struct {
	elected time.Duration
	writes  []measured
	reads   []measured
}

// measured is the first request served at one majority peer after the
// cut; ok is false if none was within failoverLimit.
type measured struct {
	label   string
	took    time.Duration
	ok      bool
	history string // the attempts that returned after the cut
}

// violations lists the bounds the run missed.
func (m cutOffTimes) violations() []string {
	var out []string
	firstWrite := time.Duration(-1)
	for _, w := range m.writes {
		switch {
		case !w.ok:
			out = append(out, fmt.Sprintf("%s: no write served within %v of the cut%s", w.label, failoverLimit, w.history))
		case w.took > m.elected+afterElection:
			out = append(out, fmt.Sprintf("%s: first write %v after the cut, later than %v after the election (%v)%s",
				w.label, w.took, afterElection, m.elected, w.history))
		}
		if w.ok && (firstWrite < 0 || w.took < firstWrite) {
			firstWrite = w.took
		}
	}
	for _, r := range m.reads {
		switch {
		case !r.ok:
			out = append(out, fmt.Sprintf("%s: no read served within %v of the cut%s", r.label, failoverLimit, r.history))
		case r.took > m.elected+afterElection:
			out = append(out, fmt.Sprintf("%s: first read %v after the cut, later than %v after the election (%v)%s",
				r.label, r.took, afterElection, m.elected, r.history))
		case firstWrite >= 0 && r.took > firstWrite+afterElection:
			out = append(out, fmt.Sprintf("%s: first read %v after the cut, later than %v after the first write (%v)%s",
				r.label, r.took, afterElection, firstWrite, r.history))
		case m.elected <= electedBy && r.took > readsBack:
			out = append(out, fmt.Sprintf("%s: first read %v after the cut, later than %v%s", r.label, r.took, readsBack, r.history))
		}
	}
	return out
}

// leaderCutOff runs the scenario once: it asserts that the old leader
// serves nothing after the cut and returns the times it measured.
func leaderCutOff(t *testing.T, p partition) cutOffTimes {
	c := Start(t, Options{Mode: consistency.Linearizable})
	require.NoError(t, c.WaitAllUp(slack))
	old := -1
	deadline := time.Now().Add(slack)
	for old < 0 && time.Now().Before(deadline) {
		for i := range 3 {
			if selfRole(c, i) == "leader" {
				old = i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.GreaterOrEqual(t, old, 0, "a leader within %v", slack)
	a, b := (old+1)%3, (old+2)%3
	for _, i := range []int{a, b} {
		require.True(t, waitRole(c, i, "follower", slack), "%s follows", c.Name(i))
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var readers, writers []*failoverClient
	for _, i := range []int{old, a, b} {
		r := &failoverClient{addr: c.ClientAddr(i), read: true, key: "k", label: c.Name(i) + " get"}
		w := &failoverClient{addr: c.ClientAddr(i), key: "k-" + c.Name(i), label: c.Name(i) + " set"}
		readers, writers = append(readers, r), append(writers, w)
		// Several readers per peer, so that reads are in flight (and, at
		// a follower, forwarded to the leader) when the cut comes.
		for range 3 {
			wg.Go(func() { r.run(stop) })
		}
		wg.Go(func() { w.run(stop) })
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()

	// Every peer serves reads and writes before the cut.
	warm := time.Now()
	for _, fc := range append(append([]*failoverClient{}, readers...), writers...) {
		require.Eventually(t, func() bool { _, ok := fc.firstOK(warm); return ok },
			slack, 10*time.Millisecond, "%s served before the cut%s", fc.label, fc.failures(warm))
	}
	time.Sleep(200 * time.Millisecond)

	cut := time.Now()
	p.cut(c.Net, c.Name(old), c.Name(a))
	p.cut(c.Net, c.Name(old), c.Name(b))
	cutDone := time.Now()
	t.Logf("%s: %s (leader) cut off from %s and %s", p.name, c.Name(old), c.Name(a), c.Name(b))

	// Bounded poll until a majority peer leads and every majority client
	// was served after the cut.
	var m cutOffTimes
	newLeader := -1
	limit := time.Now().Add(failoverLimit)
	for time.Now().Before(limit) {
		if newLeader < 0 {
			for _, i := range []int{a, b} {
				if selfRole(c, i) == "leader" {
					newLeader, m.elected = i, time.Since(cut)
				}
			}
		}
		done := newLeader >= 0
		for _, fc := range []*failoverClient{readers[1], readers[2], writers[1], writers[2]} {
			if _, ok := fc.firstOK(cut); !ok {
				done = false
			}
		}
		if done {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	require.GreaterOrEqual(t, newLeader, 0, "the majority elects a leader within %v", failoverLimit)
	t.Logf("cut -> %s leader: %v", c.Name(newLeader), m.elected.Round(time.Millisecond))
	for k, i := range []int{a, b} {
		role := " (follower)"
		if i == newLeader {
			role = " (new leader)"
		}
		for _, x := range []struct {
			fc   *failoverClient
			into *[]measured
			what string
		}{{writers[k+1], &m.writes, "write"}, {readers[k+1], &m.reads, "read"}} {
			d, ok := x.fc.firstOK(cut)
			*x.into = append(*x.into, measured{label: x.fc.label + role, took: d, ok: ok, history: x.fc.failures(cut)})
			if ok {
				t.Logf("cut -> first %s at %s%s: %v", x.what, c.Name(i), role, d.Round(time.Millisecond))
			}
		}
	}

	// The old leader, cut off from both, must never serve a read sent
	// after the cut: the majority may have written since.
	assert.Empty(t, readers[0].served(cutDone), "%s serves no linearizable read after it was cut off", c.Name(old))
	assert.Empty(t, writers[0].served(cutDone), "%s acknowledges no write after it was cut off", c.Name(old))
	return m
}
