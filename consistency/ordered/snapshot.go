package ordered

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"

	"github.com/memcons/memcons/internal/instrument"
	"github.com/memcons/memcons/kvcontroller"
)

// snapshotMagic opens every snapshot this package writes.
const snapshotMagic = "memcons-snap-2\n"

// snapshotMagicV1 is the format before items carried their meta-protocol
// bits (stale, win sent); Restore still reads it.
const snapshotMagicV1 = "memcons-snap-1\n"

// The meta-protocol bits of a version 2 snapshot item.
const (
	snapStale     byte = 1 << 0
	snapWinSent   byte = 1 << 1
	snapKeyBinary byte = 1 << 2
	snapCas       byte = 1 << 3 // a unique chosen with E follows the bits
	snapKnownBits      = snapStale | snapWinSent | snapKeyBinary | snapCas
)

// maxSnapshotField bounds one key or value read from a snapshot.
const maxSnapshotField = 64 << 20

// spoolPattern names the files a snapshot is dumped into before raft
// persists it; leftovers of a crashed process are removed at Start.
const spoolPattern = "snapshot-*.spool"

// Snapshot dumps the replica while raft holds back further applies (raft
// calls Snapshot on the FSM goroutine), so the dump is exactly the state at
// the applied index. The dump goes to a spool file in the raft directory,
// not to memory, so a large replica does not have to fit in the heap;
// Persist then copies the file to raft's snapshot store.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	applied, _ := f.appliedIndex()
	file, err := os.CreateTemp(f.spoolDir, spoolPattern)
	if err != nil {
		return nil, fmt.Errorf("snapshot at index %d: spool file: %w", applied, err)
	}
	snap := &snapshot{file: file, started: time.Now(), took: f.inst.Snapshot}
	w := bufio.NewWriterSize(file, 256<<10)
	header := []byte(snapshotMagic)
	header = binary.AppendUvarint(header, applied)
	header = binary.AppendVarint(header, f.nextFlush())
	var b []byte
	err = f.retry("dump", func(ctx context.Context) error {
		if _, err := file.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := file.Truncate(0); err != nil {
			return err
		}
		w.Reset(file)
		if _, err := w.Write(header); err != nil {
			return err
		}
		err := f.store.Dump(ctx, func(it kvcontroller.Item) error {
			if it.Tombstone {
				return nil // the ordered modes delete keys outright
			}
			b = binary.AppendUvarint(b[:0], uint64(len(it.Key)))
			b = append(b, it.Key...)
			b = binary.AppendUvarint(b, uint64(len(it.Value)))
			b = append(b, it.Value...)
			b = binary.AppendUvarint(b, uint64(it.Flags))
			b = binary.AppendVarint(b, it.Exptime)
			b = binary.AppendUvarint(b, it.Version)
			var bits byte
			if it.Stale {
				bits |= snapStale
			}
			if it.WinSent {
				bits |= snapWinSent
			}
			if it.KeyBinary {
				bits |= snapKeyBinary
			}
			if it.HasCas {
				bits |= snapCas
			}
			b = append(b, bits)
			if it.HasCas {
				b = binary.AppendUvarint(b, it.Cas)
			}
			_, err := w.Write(b)
			return err
		})
		if err != nil {
			return err
		}
		return w.Flush()
	})
	if err != nil {
		snap.Release()
		return nil, fmt.Errorf("snapshot at index %d: %w", applied, err)
	}
	return snap, nil
}

// removeSpool deletes spool files left in dir by a process that stopped
// between Snapshot and Release.
func removeSpool(dir string) error {
	names, err := filepath.Glob(filepath.Join(dir, spoolPattern))
	if err != nil {
		return fmt.Errorf("list snapshot spool files: %w", err)
	}
	for _, name := range names {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove snapshot spool file: %w", err)
		}
	}
	return nil
}

// Restore empties the replica and loads a snapshot into it.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 64<<10)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(r, magic); err != nil || (string(magic) != snapshotMagic && string(magic) != snapshotMagicV1) {
		return fmt.Errorf("restore: not a memcons snapshot (%v)", err)
	}
	withBits := string(magic) == snapshotMagic
	applied, err := binary.ReadUvarint(r)
	if err != nil {
		return fmt.Errorf("restore: header: %w", err)
	}
	flushAt, err := binary.ReadVarint(r)
	if err != nil {
		return fmt.Errorf("restore: header: %w", err)
	}
	f.restoring.Lock()
	defer f.restoring.Unlock()
	if err := f.retry("flush before restore", func(ctx context.Context) error { return f.store.FlushAll(ctx) }); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	n := 0
	for {
		it, err := readSnapshotItem(r, withBits)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("restore: item %d: %w", n, err)
		}
		if err := f.retry("load", func(ctx context.Context) error { return f.store.Set(ctx, it) }); err != nil {
			return fmt.Errorf("restore: item %d: %w", n, err)
		}
		n++
	}
	f.setPendingFlush(flushAt)
	f.setApplied(applied)
	f.log.Info("replica restored from snapshot", "index", applied, "items", n)
	return nil
}

func readSnapshotItem(r *bufio.Reader, withBits bool) (kvcontroller.Item, error) {
	var it kvcontroller.Item
	if _, err := r.Peek(1); err != nil {
		return it, err // io.EOF at an item boundary is the clean end
	}
	key, err := readField(r)
	if err != nil {
		return it, err
	}
	if it.Value, err = readField(r); err != nil {
		return it, err
	}
	flags, err := binary.ReadUvarint(r)
	if err != nil {
		return it, unexpected(err)
	}
	if it.Exptime, err = binary.ReadVarint(r); err != nil {
		return it, unexpected(err)
	}
	if it.Version, err = binary.ReadUvarint(r); err != nil {
		return it, unexpected(err)
	}
	if withBits {
		bits, err := r.ReadByte()
		if err != nil {
			return it, unexpected(err)
		}
		if bits&^snapKnownBits != 0 {
			return it, fmt.Errorf("unknown item bits 0x%02x", bits)
		}
		it.Stale, it.WinSent, it.KeyBinary = bits&snapStale != 0, bits&snapWinSent != 0, bits&snapKeyBinary != 0
		if bits&snapCas != 0 {
			if it.Cas, err = binary.ReadUvarint(r); err != nil {
				return it, unexpected(err)
			}
			it.HasCas = true
		}
	}
	it.Key, it.Flags = string(key), uint32(flags)
	return it, nil
}

func readField(r *bufio.Reader) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, unexpected(err)
	}
	if n > maxSnapshotField {
		return nil, fmt.Errorf("field of %d bytes exceeds %d", n, maxSnapshotField)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, unexpected(err)
	}
	return b, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// snapshot is a finished dump, in its spool file, waiting to be written out.
type snapshot struct {
	file    *os.File
	started time.Time           // when the dump began
	took    instrument.Observer // observes dump and persist, once persisted
}

// Persist copies the dump to the sink.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: rewind spool file: %w", err)
	}
	if _, err := io.Copy(sink, bufio.NewReaderSize(s.file, 256<<10)); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return err
	}
	instrument.Since(s.took, s.started)
	return nil
}

// Release closes and removes the spool file; later calls do nothing.
func (s *snapshot) Release() {
	if s.file == nil {
		return
	}
	_ = s.file.Close()
	_ = os.Remove(s.file.Name())
	s.file = nil
}
