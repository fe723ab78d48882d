package ordered

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
)

// After raft clears a log suffix (a new leader overwrote this peer's
// unreplicated tail), the log must open again and hold every entry:
// raft-wal v0.4.0 left the tail segment sealed without its index block,
// and every later open failed with "sealed segment has no index block"
// (raft-wal issue #31, fixed in v0.4.1).
func TestLogStore_ReopensAfterTailTruncation(t *testing.T) {
	cases := []struct {
		name          string
		stored, keep  uint64 // entries written, then kept by the truncation
		appendedAfter uint64 // entries appended by the new leader
	}{
		{"suffix inside the tail segment", 40, 30, 15},
		{"suffix reaching into a sealed segment", 400, 150, 20},
		{"nothing appended after the truncation", 60, 25, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// Small segments, so several are sealed before the truncation.
			var meta *metadb.BoltMetaDB
			open := func() *wal.WAL {
				meta = &metadb.BoltMetaDB{}
				w, err := wal.Open(dir, wal.WithSegmentSize(8<<10), wal.WithLogger(hclog.NewNullLogger()), wal.WithMetaStore(meta))
				require.NoError(t, err, "open the log")
				return w
			}
			entry := func(i, term uint64) *raft.Log {
				return &raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: fmt.Appendf(nil, "entry %d term %d %0100d", i, term, i)}
			}
			w := open()
			for i := uint64(1); i <= tc.stored; i++ {
				require.NoError(t, w.StoreLogs([]*raft.Log{entry(i, 1)}))
			}
			require.NoError(t, w.DeleteRange(tc.keep+1, tc.stored), "truncate the tail as raft does")
			for i := tc.keep + 1; i <= tc.keep+tc.appendedAfter; i++ {
				require.NoError(t, w.StoreLogs([]*raft.Log{entry(i, 2)}))
			}
			require.NoError(t, w.Close())
			require.NoError(t, meta.Close())

			w = open()
			defer func() { _ = w.Close(); _ = meta.Close() }()
			last, err := w.LastIndex()
			require.NoError(t, err)
			require.Equal(t, tc.keep+tc.appendedAfter, last)
			for i := uint64(1); i <= last; i++ {
				term := uint64(1)
				if i > tc.keep {
					term = 2
				}
				var got raft.Log
				require.NoError(t, w.GetLog(i, &got), "read entry %d after reopening", i)
				require.Equal(t, entry(i, term).Data, got.Data, "entry %d", i)
			}
		})
	}
}

// A damaged log is reported naming its file, not by a panic at start.
func TestOpenLogStore_DamagedSegmentNamed(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, sealed, tail string)
	}{
		{"sealed segment cut short", func(t *testing.T, sealed, _ string) {
			fi, err := os.Stat(sealed)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(sealed, fi.Size()/2))
		}},
		{"sealed segment overwritten", func(t *testing.T, sealed, _ string) {
			fi, err := os.Stat(sealed)
			require.NoError(t, err)
			f, err := os.OpenFile(sealed, os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteAt(bytes.Repeat([]byte{0xff}, int(fi.Size())-64), 32)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}},
		{"sealed segment removed", func(t *testing.T, sealed, _ string) {
			require.NoError(t, os.Remove(sealed))
		}},
		{"meta database overwritten", func(t *testing.T, sealed, _ string) {
			meta := filepath.Join(filepath.Dir(sealed), metadb.FileName)
			require.NoError(t, os.WriteFile(meta, bytes.Repeat([]byte("junk"), 4096), 0o644))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			const segSize = 8 << 10
			logs, err := openLogStore(dir, segSize, 0, hclog.NewNullLogger())
			require.NoError(t, err)
			for i := uint64(1); i <= 300; i++ {
				require.NoError(t, logs.StoreLog(&raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: bytes.Repeat([]byte{'x'}, 100)}))
			}
			require.NoError(t, logs.SetUint64([]byte("CurrentTerm"), 1))
			require.NoError(t, logs.close())

			segs, err := filepath.Glob(filepath.Join(dir, "*.wal"))
			require.NoError(t, err)
			require.Greater(t, len(segs), 2, "several segments")
			sort.Strings(segs)
			tc.damage(t, segs[1], segs[len(segs)-1])

			logs, err = openLogStore(dir, segSize, 0, hclog.NewNullLogger())
			if err == nil {
				_ = logs.close()
			}
			require.ErrorIs(t, err, consistency.ErrDataDir)
			want := segs[1]
			if strings.HasPrefix(tc.name, "meta") {
				want = filepath.Join(dir, metadb.FileName)
			}
			assert.Contains(t, err.Error(), want, "names the damaged file")
		})
	}
}

// A snapshot whose contents no longer match its checksum is reported
// naming it, before raft would try to restore it.
func TestCheckSnapshots_DamagedSnapshotNamed(t *testing.T) {
	dir := t.TempDir()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hclog.NewNullLogger())
	require.NoError(t, err)
	_, err = checkSnapshots(dir, snaps)
	require.NoError(t, err, "no snapshot yet")
	sink, err := snaps.Create(raft.SnapshotVersionMax, 10, 1, raft.Configuration{}, 1, nil)
	require.NoError(t, err)
	_, err = sink.Write(bytes.Repeat([]byte("item"), 1000))
	require.NoError(t, err)
	require.NoError(t, sink.Close())
	idx, err := checkSnapshots(dir, snaps)
	require.NoError(t, err, "an intact snapshot")
	assert.Equal(t, uint64(10), idx, "the index the snapshot covers")

	state := filepath.Join(dir, "snapshots", sink.ID(), "state.bin")
	f, err := os.OpenFile(state, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("flipped"), 100)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = checkSnapshots(dir, snaps)
	require.ErrorIs(t, err, consistency.ErrDataDir)
	assert.Contains(t, err.Error(), sink.ID())
}
