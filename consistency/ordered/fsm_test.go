package ordered

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/kvcontroller"
)

func newTestFSM(t *testing.T) (*fsm, kvcontroller.Store, *[]outcome) {
	t.Helper()
	store := kvcontroller.NewMemStore(kvcontroller.MemStoreOptions{LimitBytes: 1 << 20})
	t.Cleanup(func() { _ = store.Close() })
	var outs []outcome
	f := (&fsm{
		store: store, log: slog.New(slog.DiscardHandler), ctx: context.Background(), storeWait: time.Second,
		spoolDir: t.TempDir(),
		deliver:  func(_, _ uint64, out outcome) { outs = append(outs, out) },
	}).init()
	return f, store, &outs
}

// entry encodes req as the log entry at index, proposed at unix time now.
func entry(index uint64, now int64, req consistency.Request) *raft.Log {
	c := command{Kind: cmdRequest, Origin: 1, Seq: index, Now: now, Req: req}
	return &raft.Log{Index: index, Type: raft.LogCommand, Data: c.encode(nil)}
}

func TestFSM_AppliesInOrderWithLogIndexAsUnique(t *testing.T) {
	f, store, outs := newTestFSM(t)
	const now = 1_700_000_000
	f.ApplyBatch([]*raft.Log{
		entry(3, now, consistency.Request{Op: consistency.OpSet, Keys: []string{"n"}, Value: []byte("10")}),
		{Index: 4, Type: raft.LogNoop},
		entry(5, now, consistency.Request{Op: consistency.OpIncr, Keys: []string{"n"}, Delta: 5}),
		entry(6, now, consistency.Request{Op: consistency.OpCas, Keys: []string{"n"}, Value: []byte("x"), Cas: 3}),
		entry(7, now, consistency.Request{Op: consistency.OpAdd, Keys: []string{"e"}, Value: []byte("gone"), Exptime: now}),
	})
	require.Len(t, *outs, 4)
	assert.Equal(t, consistency.StatusStored, (*outs)[0].res.Status)
	incr := (*outs)[1].res
	assert.Equal(t, consistency.StatusNumber, incr.Status)
	assert.Equal(t, uint64(15), incr.Number)
	require.Len(t, incr.Items, 1)
	assert.Equal(t, uint64(5), incr.Items[0].Version, "the incr's item carries its index")
	assert.Equal(t, uint64(3), incr.InPlace, "written in place over the set at 3")
	assert.Equal(t, consistency.StatusExists, (*outs)[2].res.Status, "cas unique 3 is stale after incr at 5")
	assert.Equal(t, consistency.StatusStored, (*outs)[3].res.Status, "add with an already-past expiry")

	it, err := store.Get(context.Background(), "n")
	require.NoError(t, err)
	assert.Equal(t, "15", string(it.Value))
	assert.Equal(t, uint64(5), it.Version, "the unique is the index that wrote the item")
	_, err = store.Get(context.Background(), "e")
	assert.ErrorIs(t, err, kvcontroller.ErrNotFound, "expired by the proposer's clock")
	applied, _ := f.appliedIndex()
	assert.Equal(t, uint64(7), applied)
}

func TestFSM_DelayedFlushRunsAtItsLogPosition(t *testing.T) {
	f, store, _ := newTestFSM(t)
	const now = 1_700_000_000
	f.ApplyBatch([]*raft.Log{
		entry(1, now, consistency.Request{Op: consistency.OpSet, Keys: []string{"a"}, Value: []byte("1")}),
		entry(2, now, consistency.Request{Op: consistency.OpFlushAll, Exptime: now + 10}),
		entry(3, now+5, consistency.Request{Op: consistency.OpSet, Keys: []string{"b"}, Value: []byte("2")}),
	})
	assert.False(t, f.flushDue(now+5))
	assert.True(t, f.flushDue(now+10), "reads hide items once the flush is due")
	tick := command{Kind: cmdTick, Now: now + 10}
	f.ApplyBatch([]*raft.Log{{Index: 4, Type: raft.LogCommand, Data: tick.encode(nil)}})
	for _, k := range []string{"a", "b"} {
		_, err := store.Get(context.Background(), k)
		assert.ErrorIs(t, err, kvcontroller.ErrNotFound, k)
	}
	assert.Zero(t, f.nextFlush())
}

// memSink is a raft.SnapshotSink over a buffer.
type memSink struct{ bytes.Buffer }

func (s *memSink) ID() string    { return "test" }
func (s *memSink) Cancel() error { return nil }
func (s *memSink) Close() error  { return nil }

func TestFSM_SnapshotRestoreRoundTrip(t *testing.T) {
	src, _, _ := newTestFSM(t)
	now := time.Now().Unix()
	src.ApplyBatch([]*raft.Log{
		entry(1, now, consistency.Request{Op: consistency.OpSet, Keys: []string{"a"}, Value: []byte("1"), Flags: 7}),
		entry(2, now, consistency.Request{Op: consistency.OpSet, Keys: []string{"b"}, Value: []byte("two"), Exptime: now + 1000}),
		entry(3, now, consistency.Request{Op: consistency.OpFlushAll, Exptime: now + 50}),
	})
	snap, err := src.Snapshot()
	require.NoError(t, err)
	sink := &memSink{}
	spooled, err := filepath.Glob(filepath.Join(src.spoolDir, spoolPattern))
	require.NoError(t, err)
	assert.Len(t, spooled, 1, "the dump waits in one spool file")
	require.NoError(t, snap.Persist(sink))
	snap.Release()
	spooled, err = filepath.Glob(filepath.Join(src.spoolDir, spoolPattern))
	require.NoError(t, err)
	assert.Empty(t, spooled, "Release removes the spool file")

	dst, dstStore, _ := newTestFSM(t)
	require.NoError(t, dstStore.Set(context.Background(), kvcontroller.Item{Key: "stale", Value: []byte("x")}))
	require.NoError(t, dst.Restore(io.NopCloser(&sink.Buffer)))
	applied, _ := dst.appliedIndex()
	assert.Equal(t, uint64(3), applied)
	assert.Equal(t, now+50, dst.nextFlush())
	_, err = dstStore.Get(context.Background(), "stale")
	assert.ErrorIs(t, err, kvcontroller.ErrNotFound, "restore empties the replica first")
	a, err := dstStore.Get(context.Background(), "a")
	require.NoError(t, err)
	assert.Equal(t, kvcontroller.Item{Key: "a", Value: []byte("1"), Flags: 7, Version: 1}, a)
	b, err := dstStore.Get(context.Background(), "b")
	require.NoError(t, err)
	assert.Equal(t, now+1000, b.Exptime)
}

// TestFSM_BatchedRunMatchesOneByOne applies the same entries once as one
// batch (one read for all keys, one write per key) and once entry by entry,
// and expects the same outcomes and the same replica.
func TestFSM_BatchedRunMatchesOneByOne(t *testing.T) {
	const now = 1_700_000_000
	reqs := []consistency.Request{
		{Op: consistency.OpAdd, Keys: []string{"a"}, Value: []byte("1")},
		{Op: consistency.OpIncr, Keys: []string{"a"}, Delta: 41},
		{Op: consistency.OpAppend, Keys: []string{"a"}, Value: []byte("x")},
		{Op: consistency.OpIncr, Keys: []string{"a"}, Delta: 1},
		{Op: consistency.OpDelete, Keys: []string{"a"}},
		{Op: consistency.OpReplace, Keys: []string{"a"}, Value: []byte("no")},
		{Op: consistency.OpAdd, Keys: []string{"a"}, Value: []byte("again")},
		{Op: consistency.OpSet, Keys: []string{"b"}, Value: []byte("b1"), Flags: 7},
		{Op: consistency.OpCas, Keys: []string{"b"}, Value: []byte("b2"), Cas: 8},
		{Op: consistency.OpCas, Keys: []string{"b"}, Value: []byte("b3"), Cas: 8},
		{Op: consistency.OpTouch, Keys: []string{"b"}, Exptime: now + 100},
		{Op: consistency.OpPrepend, Keys: []string{"c"}, Value: []byte("none")},
		{Op: consistency.OpDelete, Keys: []string{"c"}},
		{Op: consistency.OpSet, Keys: []string{"d"}, Value: []byte("short-lived"), Exptime: now},
		{Op: consistency.OpAdd, Keys: []string{"d"}, Value: []byte("after expiry")},
	}
	var logs []*raft.Log
	for i, r := range reqs {
		logs = append(logs, entry(uint64(i+1), now, r))
	}
	batched, batchedStore, batchedOuts := newTestFSM(t)
	single, singleStore, singleOuts := newTestFSM(t)
	batched.ApplyBatch(logs)
	for _, l := range logs {
		single.Apply(l)
	}
	require.Len(t, *batchedOuts, len(reqs))
	assert.Equal(t, *singleOuts, *batchedOuts)
	assert.Equal(t, consistency.StatusExists, (*batchedOuts)[9].res.Status, "the second cas sees the first one's unique")
	assert.Equal(t, consistency.StatusStored, (*batchedOuts)[14].res.Status, "add after the item expired by the proposer's clock")
	for _, key := range []string{"a", "b", "c", "d"} {
		want, wantErr := singleStore.Get(context.Background(), key)
		got, gotErr := batchedStore.Get(context.Background(), key)
		assert.Equal(t, wantErr, gotErr, key)
		assert.Equal(t, want, got, key)
	}
}

func TestRemoveSpool_LeavesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"snapshot-123.spool", "snapshot-9.spool", "wal", "1-2-3.snap"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600))
	}
	require.NoError(t, removeSpool(dir))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	assert.ElementsMatch(t, []string{"wal", "1-2-3.snap"}, left)
}

func TestFSM_SnapshotKeepsMetaBitsAndReadsVersion1(t *testing.T) {
	src, _, _ := newTestFSM(t)
	now := time.Now().Unix()
	src.ApplyBatch([]*raft.Log{
		entry(1, now, consistency.Request{Op: consistency.OpSet, Keys: []string{"s"}, Value: []byte("v")}),
		entry(2, now, consistency.Request{Op: consistency.OpMetaDelete, Keys: []string{"s"}, Meta: consistency.MetaArgs{Invalidate: true}}),
		entry(3, now, consistency.Request{Op: consistency.OpMetaGet, Keys: []string{"s"}}),
		entry(4, now, consistency.Request{Op: consistency.OpMetaSet, Keys: []string{"e"}, Value: []byte("w"),
			Meta: consistency.MetaArgs{HasNewCas: true, NewCas: 1 << 60}}),
	})
	snap, err := src.Snapshot()
	require.NoError(t, err)
	sink := &memSink{}
	require.NoError(t, snap.Persist(sink))
	snap.Release()
	dst, dstStore, _ := newTestFSM(t)
	require.NoError(t, dst.Restore(io.NopCloser(&sink.Buffer)))
	s, err := dstStore.Get(context.Background(), "s")
	require.NoError(t, err)
	assert.Equal(t, kvcontroller.Item{Key: "s", Value: []byte("v"), Version: 2, Stale: true, WinSent: true}, s,
		"md I gave a new unique and the stale mark, the first mg handed out the win")
	e, err := dstStore.Get(context.Background(), "e")
	require.NoError(t, err)
	assert.Equal(t, kvcontroller.Item{Key: "e", Value: []byte("w"), Version: 4, Cas: 1 << 60, HasCas: true}, e,
		"the unique ms chose with E, beside the log index that wrote it")

	// A snapshot written before items carried these bits.
	v1 := []byte(snapshotMagicV1)
	v1 = binary.AppendUvarint(v1, 7) // applied
	v1 = binary.AppendVarint(v1, 0)  // no delayed flush
	v1 = binary.AppendUvarint(v1, 1)
	v1 = append(v1, 'k')
	v1 = binary.AppendUvarint(v1, 2)
	v1 = append(v1, "ab"...)
	v1 = binary.AppendUvarint(v1, 3) // flags
	v1 = binary.AppendVarint(v1, 0)  // exptime
	v1 = binary.AppendUvarint(v1, 5) // version
	old, oldStore, _ := newTestFSM(t)
	require.NoError(t, old.Restore(io.NopCloser(bytes.NewReader(v1))))
	k, err := oldStore.Get(context.Background(), "k")
	require.NoError(t, err)
	assert.Equal(t, kvcontroller.Item{Key: "k", Value: []byte("ab"), Flags: 3, Version: 5}, k)
}
