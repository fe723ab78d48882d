package ordered

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"

	"github.com/memcons/memcons/consistency"
)

// dataError is state under the data directory that cannot be used: the
// file (or directory) at path, and what is wrong with it.
func dataError(path string, err error) error {
	return fmt.Errorf("%w: %s: %w", consistency.ErrDataDir, path, err)
}

// openLogStore opens the raft log and stable store in dir (segments of
// segmentSize bytes) and reads back the stable keys and every entry after
// index after (the newest snapshot's), so that a damaged log is reported
// here, naming its file, instead of making raft panic: raft reads those
// entries at start and when it applies them, and answers a failed read of
// an older one by sending a follower a snapshot.
func openLogStore(dir string, segmentSize int, after uint64, log hclog.Logger) (logs *guardedWAL, err error) {
	defer func() {
		if p := recover(); p != nil {
			if logs != nil {
				_ = logs.close()
			}
			logs, err = nil, dataError(dir, fmt.Errorf("reading the raft log failed: %v", p))
		}
	}()
	// Load the metadata first, so a damaged meta database is named as such.
	meta := &metadb.BoltMetaDB{}
	if _, err := meta.Load(dir); err != nil {
		_ = meta.Close()
		return nil, dataError(filepath.Join(dir, metadb.FileName), fmt.Errorf("open the raft log metadata: %w", err))
	}
	w, err := wal.Open(dir, wal.WithLogger(log), wal.WithSegmentSize(segmentSize), wal.WithMetaStore(meta))
	if err != nil {
		_ = meta.Close()
		return nil, dataError(openFailedPath(dir), fmt.Errorf("open the raft log: %w", err))
	}
	logs = &guardedWAL{w: w}
	if err := checkLog(dir, logs, after); err != nil {
		_ = logs.close()
		return nil, err
	}
	return logs, nil
}

// checkLog reads every entry from after+1 (or the first index) to the last,
// and the stable keys raft reads at start.
func checkLog(dir string, logs *guardedWAL, after uint64) error {
	first, err := logs.FirstIndex()
	if err != nil {
		return dataError(dir, fmt.Errorf("read the first log index: %w", err))
	}
	last, err := logs.LastIndex()
	if err != nil {
		return dataError(dir, fmt.Errorf("read the last log index: %w", err))
	}
	for i := max(first, after+1, 1); i <= last; i++ {
		var l raft.Log
		if err := logs.GetLog(i, &l); err != nil {
			return dataError(segmentOf(dir, i), fmt.Errorf("read log entry %d of %d..%d: %w", i, first, last, err))
		}
		if l.Index != i {
			return dataError(segmentOf(dir, i), fmt.Errorf("log entry %d holds index %d", i, l.Index))
		}
	}
	for _, key := range []string{"CurrentTerm", "LastVoteTerm"} {
		if _, err := logs.GetUint64([]byte(key)); err != nil {
			return dataError(filepath.Join(dir, metadb.FileName), fmt.Errorf("read %s: %w", key, err))
		}
	}
	return nil
}

// segmentOf names the segment file that holds entry idx: the one with the
// highest base index at or below it (raft-wal names segments
// <base index>-<id>.wal), or dir when none does.
func segmentOf(dir string, idx uint64) string {
	names, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil || len(names) == 0 {
		return dir
	}
	best := dir // Glob returns the names sorted
	for _, n := range names {
		base, _, ok := strings.Cut(filepath.Base(n), "-")
		b, err := strconv.ParseUint(base, 10, 64)
		if !ok || err != nil {
			continue
		}
		if b <= idx {
			best = n
		}
	}
	return best
}

// openFailedPath names what an open of the WAL in dir failed on: raft-wal
// does not say which file, so with one segment it is that segment, else the
// directory with its segments listed.
func openFailedPath(dir string) string {
	names, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	switch {
	case err != nil || len(names) == 0:
		return dir
	case len(names) == 1:
		return names[0]
	}
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return fmt.Sprintf("%s (segments %s)", dir, strings.Join(names, ", "))
}

// checkSnapshots opens the newest snapshot, which verifies its checksum,
// so that a damaged one is reported naming its directory, and returns the
// last log index it covers (0 without a snapshot).
func checkSnapshots(dir string, snaps *raft.FileSnapshotStore) (uint64, error) {
	metas, err := snaps.List()
	if err != nil {
		return 0, dataError(filepath.Join(dir, "snapshots"), fmt.Errorf("list snapshots: %w", err))
	}
	if len(metas) == 0 {
		return 0, nil
	}
	_, rc, err := snaps.Open(metas[0].ID)
	if err != nil {
		return 0, dataError(filepath.Join(dir, "snapshots", metas[0].ID), fmt.Errorf("open snapshot: %w", err))
	}
	return metas[0].Index, rc.Close()
}

// newRaft starts raft over checked stores; a panic while raft reads them
// (its start-up reads panic on a store error) becomes a data error.
func newRaft(dir string, rc *raft.Config, fsm raft.FSM, logs *guardedWAL, snaps raft.SnapshotStore, trans raft.Transport) (r *raft.Raft, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, dataError(dir, fmt.Errorf("raft failed reading its state: %v", p))
		}
	}()
	r, err = raft.NewRaft(rc, fsm, logs, logs, snaps, trans)
	if err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	return r, nil
}
