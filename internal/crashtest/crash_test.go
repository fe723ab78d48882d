package crashtest

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/memcons/memcons/internal/history"
	"github.com/memcons/memcons/internal/memcachedtest"
)

// slack bounds every wait for the cluster to recover: generous, since a
// loaded two-core machine can stall a peer for seconds.
const slack = 45 * time.Second

// checkTimeout bounds one porcupine check.
const checkTimeout = 90 * time.Second

// sharedKeys are the keys every client of a crash test works on.
var sharedKeys = []string{"k0", "k1", "k2", "k3", "k4", "k5"}

// seed returns the test's random seed: MEMCONS_CRASHTEST_SEED, or fixed.
func seed(t *testing.T) uint64 {
	s := uint64(1)
	if v := os.Getenv("MEMCONS_CRASHTEST_SEED"); v != "" {
		var err error
		if s, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("MEMCONS_CRASHTEST_SEED: %v", err)
		}
	}
	t.Logf("seed %d (MEMCONS_CRASHTEST_SEED)", s)
	return s
}

// Crash-restart rounds per mode.
const (
	orderedRounds  = 12
	eventualRounds = 10
)

func TestCrashRestart_Linearizable(t *testing.T) {
	runCrashRestart(t, "linearizable", orderedRounds)
}

func TestCrashRestart_Sequential(t *testing.T) {
	runCrashRestart(t, "sequential", orderedRounds)
}

func TestCrashRestart_Eventual(t *testing.T) {
	runCrashRestart(t, "eventual", eventualRounds)
}

// victims are what one round of the nemesis kills.
type victims string

const (
	killLeader   victims = "the leader"
	killFollower victims = "a follower"
	killOne      victims = "one peer"
	killAll      victims = "all three"
)

// runCrashRestart runs clients on every peer while, round after round,
// the nemesis SIGKILLs the leader, a follower or all three peers (one
// peer or all three in eventual mode) mid-write and restarts them on the
// same data directories; then it checks the whole history.
func runCrashRestart(t *testing.T, mode string, rounds int) {
	if testing.Short() {
		t.Skip("runs and kills peer processes for a minute")
	}
	memcachedtest.Path(t)
	dir := workDir(t)
	rng := rand.New(rand.NewPCG(seed(t), 0))
	ordered := mode != "eventual"
	c := Start(t, Options{Binary: binary, Dir: dir, Mode: mode})
	mix := OrderedMix
	kinds := []victims{killLeader, killFollower, killAll}
	// downWrites are the writes the survivors acknowledge while a victim
	// is down: in eventual mode enough that pushes to it fail and sync has
	// to bring them.
	downWrites := int64(10)
	if !ordered {
		mix = EventualMix
		kinds = []victims{killOne, killAll}
		downWrites = 200
		c.WaitAllUp(slack)
	} else {
		c.WaitLeader(c.All(), slack)
	}
	w := NewWorkload(c, 2, sharedKeys, mix, rng.Uint64())
	t.Cleanup(func() { saveOnFailure(t, dir, w.Rec) })
	start := time.Now()
	w.Start()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			w.Stop()
		}
	}
	defer stop()

	var leaders []string
	for round := 1; round <= rounds; round++ {
		kind := kinds[(round-1)%len(kinds)]
		c.WaitAllUp(slack)
		leader := -1
		if ordered {
			leader = c.WaitLeader(c.All(), slack)
			leaders = append(leaders, c.Peer(leader).Name)
		}
		// Kill mid-write: after a random number of acknowledged writes.
		if !w.WaitAcked(int64(10+rng.IntN(40)), slack) {
			t.Fatalf("round %d: no progress within %v before the kill", round, slack)
		}
		var targets []int
		switch kind {
		case killLeader:
			targets = []int{leader}
		case killFollower:
			targets = []int{(leader + 1 + rng.IntN(2)) % 3}
		case killOne:
			targets = []int{rng.IntN(3)}
		case killAll:
			targets = c.All()
		}
		w.Rec.Note("round %d: SIGKILL %s: %v", round, kind, c.names(targets))
		c.KillAll(targets)
		survivors := others(targets)
		switch {
		case ordered && len(survivors) == 2:
			// The two left elect a leader (a new one if the leader died)
			// and serve writes while the victim is down.
			l := c.WaitLeader(survivors, slack)
			w.Rec.Note("round %d: %s leads the survivors", round, c.Peer(l).Name)
			fallthrough
		case len(survivors) == 2:
			if !w.WaitAcked(downWrites, slack) {
				t.Fatalf("round %d: the survivors acknowledged %d writes not within %v", round, downWrites, slack)
			}
		}
		for _, i := range targets {
			c.Launch(i)
		}
		for _, i := range targets {
			c.WaitServing(i, startLimit)
		}
		w.Rec.Note("round %d: restarted %v", round, c.names(targets))
	}
	c.WaitAllUp(slack)
	if ordered {
		leaders = append(leaders, c.Peer(c.WaitLeader(c.All(), slack)).Name)
	}
	if !w.WaitAcked(20, slack) {
		t.Fatalf("no progress within %v after the last round", slack)
	}
	stop()
	t.Logf("%d rounds in %v; leaders before each round and at the end: %v",
		rounds, time.Since(start).Round(time.Millisecond), leaders)
	c.CheckAlive()

	if ordered {
		changes := 0
		for i := 1; i < len(leaders); i++ {
			if leaders[i] != leaders[i-1] {
				changes++
			}
		}
		if changes < rounds/3 {
			t.Errorf("only %d leader changes in %d rounds: %v", changes, rounds, leaders)
		}
		Barrier(t, c, slack)
	}
	final, agreed := FinalState(t, c, w.Rec, sharedKeys, slack)
	CheckAckWrites(t, c, w.AckWrites(), slack)
	recs := w.Rec.Records()
	t.Log(history.Summary(recs))

	switch mode {
	case "linearizable":
		checkLinearizable(t, dir, "history", recs, w.Rec.Notes())
		checkSequential(t, recs)
	case "sequential":
		// Reads are local and may be stale; writes are one log, so the
		// writes alone (and the final reads after the barrier) are
		// linearizable.
		var writes []history.Record
		for _, r := range recs {
			if r.Input.Op.Writes() {
				writes = append(writes, r)
			}
		}
		checkLinearizable(t, dir, "writes", append(writes, agreed...), w.Rec.Notes())
		checkSequential(t, recs)
		checkLatest(t, recs, final)
	case "eventual":
		finals := map[string]history.Final{}
		for k, it := range final {
			finals[k] = history.Final{Found: it.Found, Value: parseValue(it.Value)}
		}
		for _, v := range history.CheckLastWriterWins(recs, finals, 100*time.Millisecond) {
			t.Errorf("last writer did not win: %s", v)
		}
	}
}

// saveOnFailure saves the history in dir if the test failed (or
// MEMCONS_CRASHTEST_KEEP is set).
func saveOnFailure(t *testing.T, dir string, rec *history.Recorder) {
	if !t.Failed() && os.Getenv("MEMCONS_CRASHTEST_KEEP") == "" {
		return
	}
	path := filepath.Join(dir, "history.txt")
	if err := SaveHistory(path, rec.Records(), rec.Notes()); err != nil {
		t.Logf("save history: %v", err)
		return
	}
	t.Logf("history saved in %s", path)
}

// others returns the peers not in targets.
func others(targets []int) []int {
	var out []int
	for i := range 3 {
		in := false
		for _, j := range targets {
			in = in || i == j
		}
		if !in {
			out = append(out, i)
		}
	}
	return out
}

// checkLinearizable checks recs with porcupine and, if they are not
// linearizable, saves a visualization in dir.
func checkLinearizable(t *testing.T, dir, name string, recs []history.Record, notes []history.Note) {
	t.Helper()
	rep := history.CheckLinearizable(recs, notes, checkTimeout)
	t.Logf("porcupine, %s: %s", name, rep)
	if rep.Result == porcupine.Ok {
		return
	}
	path := filepath.Join(dir, name+".html")
	if err := rep.Visualize(path, checkTimeout); err != nil {
		t.Logf("visualize: %v", err)
	}
	if rep.Result == porcupine.Unknown {
		t.Errorf("the %s check did not finish within %v; visualization: %s", name, checkTimeout, path)
		return
	}
	t.Errorf("the %s are not linearizable; visualization: %s", name, path)
}

// checkSequential reports what history.CheckSequential finds.
func checkSequential(t *testing.T, recs []history.Record) {
	t.Helper()
	vs := history.CheckSequential(recs)
	for _, v := range vs {
		t.Errorf("not sequentially consistent: %s", v)
	}
	if len(vs) == 0 {
		t.Logf("sessions, values and uniques are sequentially consistent")
	}
}

// checkLatest asserts that each key's final unique is the highest any
// read revealed: no write that a later one did not replace was lost.
func checkLatest(t *testing.T, recs []history.Record, final map[string]memcachedtest.Item) {
	t.Helper()
	highest := map[string]history.Record{}
	for _, r := range recs {
		if r.Input.Op == history.Get && r.Output.Found && r.Output.Unique > highest[r.Input.Key].Output.Unique {
			highest[r.Input.Key] = r
		}
	}
	for k, it := range final {
		if h, ok := highest[k]; ok && it.Found && it.Cas < h.Output.Unique {
			t.Errorf("%s: final %+v, but a read saw the later unique %d: %s", k, it, h.Output.Unique, h)
		}
	}
}
