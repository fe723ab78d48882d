package crashtest

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memcons/memcons/internal/history"
	"github.com/memcons/memcons/internal/memcachedtest"
)

// Partition probing: a new probe of each kind starts every probeEvery at
// each peer, each on its own connection and bounded by probeTimeout.
const (
	probeEvery   = 50 * time.Millisecond
	probeTimeout = 6 * time.Second
	probeLimit   = 15 * time.Second // give up on a first success after this
	cutCycles    = 3
	// maxReadAfterCut and maxReadAfterWrite are the promises measured:
	// a majority peer serves linearizable reads within 3 s of losing its
	// leader, and no later than half a second after it serves writes.
	maxReadAfterCut   = 3 * time.Second
	maxReadAfterWrite = 500 * time.Millisecond
)

// TestPartition_LeaderCutOff cuts the running leader off from the other
// two peers (all its peer links close and stay refused; the process keeps
// running) and measures, at each majority peer, the time from the cut to
// the first successful write and the first successful linearizable read
// sent after it. Every probe, the cut-off leader's included, goes into a
// history that must be linearizable.
func TestPartition_LeaderCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("runs peer processes")
	}
	memcachedtest.Path(t)
	dir := workDir(t)
	// The default config (election_timeout 1s, as in cluster.go's
	// settings): the promise is made for it.
	c := Start(t, Options{Binary: binary, Dir: dir, Mode: "linearizable"})
	rec := history.NewRecorder()
	t.Cleanup(func() { saveOnFailure(t, dir, rec) })
	pr := &prober{c: c, rec: rec}
	var keys []string
	for cycle := 1; cycle <= cutCycles; cycle++ {
		c.WaitAllUp(slack)
		l := c.WaitLeader(c.All(), slack)
		majority := others([]int{l})
		pr.readKey = "probe-read-" + strconv.Itoa(cycle)
		keys = append(keys, pr.readKey)
		pr.warm(t, l)
		rec.Note("cycle %d: cut %s off", cycle, c.Peer(l).Name)
		cut := time.Now()
		c.Cut(l)
		firsts := pr.measure(c.All(), majority, cut, probeLimit)
		// The majority overwrites the read key; the cut-off leader must
		// not serve the old value from now on.
		pr.mustWrite(t, majority[0])
		pr.measure(c.All(), nil, time.Now(), time.Second)
		rec.Note("cycle %d: heal", cycle)
		c.Heal(l)
		if !c.Running(l) {
			t.Fatalf("cycle %d: the cut-off leader %s exited", cycle, c.Peer(l).Name)
		}
		for _, i := range majority {
			f := firsts[i]
			t.Logf("cycle %d: %s cut off; at %s the first write succeeded %v after the cut, the first read %v",
				cycle, c.Peer(l).Name, c.Peer(i).Name, round(f.write), round(f.read))
			switch {
			case f.read < 0:
				t.Errorf("cycle %d: %s served no read within %v of the cut", cycle, c.Peer(i).Name, probeLimit)
			case f.read > maxReadAfterCut:
				t.Errorf("cycle %d: %s served its first read %v after the cut (want at most %v)",
					cycle, c.Peer(i).Name, round(f.read), maxReadAfterCut)
			}
			switch {
			case f.write < 0:
				t.Errorf("cycle %d: %s served no write within %v of the cut", cycle, c.Peer(i).Name, probeLimit)
			case f.read >= 0 && f.read > f.write+maxReadAfterWrite:
				t.Errorf("cycle %d: %s served its first read %v after its first write (want at most %v)",
					cycle, c.Peer(i).Name, round(f.read-f.write), maxReadAfterWrite)
			}
		}
	}
	pr.wait()
	c.WaitAllUp(slack)
	c.WaitLeader(c.All(), slack)
	FinalState(t, c, rec, keys, slack)
	c.CheckAlive()
	recs := rec.Records()
	t.Log(history.Summary(recs))
	checkLinearizable(t, dir, "probes", recs, rec.Notes())
}

func round(d time.Duration) time.Duration {
	if d < 0 {
		return d
	}
	return d.Round(time.Millisecond)
}

// prober sends probes: writes of fresh keys, each written once (so
// concurrent probes never contend for a key, which would make the
// linearizability check search every order of them), and reads of
// readKey, which the test writes between measurements. Probes may outlast
// the measurement that started them; wait waits for them all.
type prober struct {
	c       *Cluster
	rec     *history.Recorder
	readKey string        // set by the test goroutine between measurements
	next    atomic.Uint64 // fresh keys and values
	session atomic.Int64  // every probe is a session of its own
	wg      sync.WaitGroup
}

// firsts are the times from a cut to the first success of each kind, -1
// if none came.
type firsts struct{ write, read time.Duration }

// warm writes readKey through peer w, then waits until a write and a read
// succeed at every peer.
func (p *prober) warm(t *testing.T, w int) {
	t.Helper()
	p.mustWrite(t, w)
	for i := range p.c.Size() {
		for _, write := range []bool{true, false} {
			deadline := time.Now().Add(slack)
			for !p.probe(i, write, p.readKey) {
				if time.Now().After(deadline) {
					t.Fatalf("%s did not serve before the cut", p.c.Peer(i).Name)
				}
				time.Sleep(probeEvery)
			}
		}
	}
}

// mustWrite writes a fresh value to readKey through peer i, retrying
// until it is acknowledged.
func (p *prober) mustWrite(t *testing.T, i int) {
	t.Helper()
	deadline := time.Now().Add(slack)
	for !p.probe(i, true, p.readKey) {
		if time.Now().After(deadline) {
			t.Fatalf("%s acknowledged no write of %s within %v", p.c.Peer(i).Name, p.readKey, slack)
		}
		time.Sleep(probeEvery)
	}
}

// measure starts reads at every peer of probed, and writes at the peers
// of timed, every probeEvery until each peer of timed has had a write and
// a read succeed that were sent after from, or limit passes. It returns
// the times to those first successes; the probes still running go on.
func (p *prober) measure(probed, timed []int, from time.Time, limit time.Duration) map[int]firsts {
	var mu sync.Mutex // guards out
	out := map[int]*firsts{}
	for _, i := range timed {
		out[i] = &firsts{write: -1, read: -1}
	}
	snapshot := func() (map[int]firsts, bool) {
		mu.Lock()
		defer mu.Unlock()
		m := map[int]firsts{}
		all := len(out) > 0
		for i, f := range out {
			m[i] = *f
			all = all && f.write >= 0 && f.read >= 0
		}
		return m, all
	}
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		if got, all := snapshot(); all || time.Since(from) >= limit {
			return got
		}
		for _, i := range probed {
			for _, write := range []bool{true, false} {
				if _, ok := out[i]; write && !ok {
					continue // writes at a cut-off peer would only add unknown outcomes
				}
				key := ""
				if !write {
					key = p.readKey
				}
				p.wg.Go(func() {
					if !p.probe(i, write, key) {
						return
					}
					since := time.Since(from)
					mu.Lock()
					defer mu.Unlock()
					f, ok := out[i]
					switch {
					case !ok:
					case write && (f.write < 0 || since < f.write):
						f.write = since
					case !write && (f.read < 0 || since < f.read):
						f.read = since
					}
				})
			}
		}
		<-tick.C
	}
}

// wait waits for every probe started.
func (p *prober) wait() { p.wg.Wait() }

// probe sends one request on a new connection to peer i: a write of a
// fresh value to key (a fresh key if key is empty), or a read of key. It
// records it and reports whether it succeeded.
func (p *prober) probe(i int, write bool, key string) bool {
	conn, err := memcachedtest.Dial(p.c.Peer(i).ClientAddr, probeTimeout)
	if err != nil {
		return false
	}
	defer conn.Close()
	r := history.Record{Client: 2000 + i, Session: int(p.session.Add(1)), Peer: p.c.Peer(i).Name}
	if write {
		v := p.next.Add(1)
		if key == "" {
			key = "probe-write-" + strconv.FormatUint(v, 10)
		}
		r.Input = history.Input{Op: history.Set, Key: key, Value: v}
		r.Call = p.rec.Now()
		var reply string
		reply, err = conn.Store("set", key, strconv.FormatUint(v, 10))
		r.Output.Reply = reply
	} else {
		r.Input = history.Input{Op: history.Get, Key: key}
		r.Call = p.rec.Now()
		var it memcachedtest.Item
		it, err = conn.Gets(key)
		r.Output = history.Output{Found: it.Found, Unique: it.Cas}
		if it.Found {
			r.Output.Value = parseValue(it.Value)
		}
	}
	r.Return = p.rec.Now()
	switch {
	case err == nil:
		p.rec.Add(r)
		return !write || r.Output.Reply == history.Stored
	case write:
		r.Output, r.Error = history.Output{Unknown: true}, err.Error()
		p.rec.Add(r)
	}
	// A read that failed changed nothing: it is left out.
	return false
}
