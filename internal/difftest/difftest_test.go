package difftest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/memcachedtest"
	"github.com/memcons/memcons/internal/server"
	"github.com/memcons/memcons/internal/testcluster"
)

// The differential test's knobs, from the environment: how many commands
// each target gets (MEMCONS_DIFF_COMMANDS, default defaultCommands; the
// long manual run is 100000), the seed (MEMCONS_DIFF_SEED, default
// defaultSeed), and the meta commands (MEMCONS_DIFF_META=1, or metaOn).
const (
	defaultCommands = 1500
	defaultSeed     = 1
	// seqCommands is about how many commands one sequence holds; each
	// starts from an empty server.
	seqCommands = 250
)

// referenceArgs make the reference memcached deterministic: its LRU
// crawler and maintainer threads take references to items at moments of
// their own, and while one holds an item memcached writes an incr or decr
// result into a new item instead of in place (unpadded instead of padded
// with spaces).
// It gets far more memory than the test stores (-m 1024, taken only as
// used), so that dead items waiting to be reclaimed never make it refuse or
// evict what memcons keeps.
var referenceArgs = []string{"-m", "1024", "-o", "no_lru_crawler,no_lru_maintainer"}

// metaOn switches the meta commands on by default (memcons serves them).
const metaOn = true

func envInt(t *testing.T, name string, def uint64) uint64 {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseUint(v, 10, 64)
	require.NoError(t, err, "%s", name)
	return n
}

// TestDifferential sends the corpus (testdata/*.seq) and then seeded random
// sequences to a real memcached and to one peer of a memcons cluster in
// every mode, on the embedded store and on memcached replicas, and fails
// at the first reply that differs.
func TestDifferential(t *testing.T) {
	commands := envInt(t, "MEMCONS_DIFF_COMMANDS", defaultCommands)
	seed := envInt(t, "MEMCONS_DIFF_SEED", defaultSeed)
	meta := metaOn || os.Getenv("MEMCONS_DIFF_META") != ""
	corpus := loadCorpus(t)
	for _, store := range []server.StoreKind{server.StoreMemory, server.StoreMemcached} {
		for _, mode := range []consistency.Kind{consistency.Eventual, consistency.Linearizable, consistency.Sequential} {
			t.Run(string(store)+"/"+string(mode), func(t *testing.T) {
				t.Parallel()
				ref := memcachedtest.Start(t, referenceArgs...)
				c := testcluster.Start(t, testcluster.Options{Mode: mode, Store: store, Configure: func(cfg *server.Config) {
					// A loaded machine must not cost the leader its term
					// mid-test: that is an outage, not a protocol difference.
					cfg.Ordered.ElectionTimeout = 3 * time.Second
				}})
				require.NoError(t, c.WaitAllUp(slack))
				peer := c.ClientAddr(0)
				for name, seq := range corpus {
					err := Run(seq, ref, peer)
					for try := 0; try < 3 && errors.As(err, new(*Outage)); try++ {
						t.Logf("corpus case %s: %v; again", name, err)
						err = Run(seq, ref, peer)
					}
					if err != nil {
						t.Fatalf("corpus case %s: %v", name, err)
					}
				}
				gen := NewGenerator(seed, meta)
				sent, outages := uint64(0), 0
				i := 0
				for ; sent < commands; i++ {
					seq, n := gen.Sequence(seqCommands)
					sent += uint64(n)
					err := Run(seq, ref, peer)
					var o *Outage
					if errors.As(err, &o) {
						// The cluster lost its leader on a loaded machine: the
						// sequence stops there, the next starts afresh.
						t.Logf("sequence %d: %v", i, o)
						outages++
						continue
					}
					if err != nil {
						t.Fatalf("MEMCONS_DIFF_SEED=%d (meta %v) sequence %d: %v", seed, meta, i, report(t, err, seed, i))
					}
				}
				if outages > max(1, i/50) {
					t.Fatalf("%d of %d sequences cut short by outages", outages, i)
				}
				t.Logf("%d commands in %d sequences, no difference (seed %d, meta %v; %d cut short by an outage)", sent, i, seed, meta, outages)
			})
		}
	}
}

// report writes a difference's whole sequence where it survives the test
// (values of 1 MiB make it long) and returns the error naming the file.
func report(t *testing.T, err error, seed uint64, i int) error {
	var d *Difference
	if !errors.As(err, &d) {
		return err
	}
	path := filepath.Join(os.TempDir(), fmt.Sprintf("memcons-diff-seed%d-seq%d.seq", seed, i))
	if werr := os.WriteFile(path, []byte(Format(d.Seq)), 0o644); werr != nil {
		t.Logf("write %s: %v", path, werr)
	}
	return fmt.Errorf("%w\n(the sequence is in %s: copy it to internal/difftest/testdata to keep it as a case)", err, path)
}

// slack is how long a loaded machine may take to bring a cluster up.
const slack = 15 * time.Second

func loadCorpus(t *testing.T) map[string]Sequence {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.seq"))
	require.NoError(t, err)
	out := map[string]Sequence{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		seq, err := Parse(string(b))
		require.NoError(t, err, "%s", p)
		out[filepath.Base(p)] = seq
	}
	return out
}

func TestMemcachedAgrees_ReplaysAgainstTheReference(t *testing.T) {
	ref := memcachedtest.Start(t, referenceArgs...)
	seq := Sequence{"flush_all\r\n", "set a 0 0 1\r\n5\r\n", "incr a 1\r\n"}
	assert.True(t, memcachedAgrees(seq, ref, "6\r\n"), "memcached counts 5+1 to 6 on a replay")
	assert.False(t, memcachedAgrees(seq, ref, "7\r\n"), "a reply memcached never gives is not its quirk")
}
