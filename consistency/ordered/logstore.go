package ordered

import (
	"errors"
	"sync"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
)

// errStoreClosed reports a log or stable store read after Close.
var errStoreClosed = errors.New("raft log store closed")

// guardedWAL is the raft log and stable store over raft-wal, safe to close
// while raft's transport goroutines still finish a heartbeat: raft.Shutdown
// does not wait for them, and raft panics when persisting the term fails.
// After close, writes are dropped (the peer is stopping and answers no
// more RPCs that depend on them) and reads fail.
type guardedWAL struct {
	mu     sync.RWMutex // write-locked only by close
	w      *wal.WAL
	closed bool
}

var (
	_ raft.LogStore          = (*guardedWAL)(nil)
	_ raft.StableStore       = (*guardedWAL)(nil)
	_ raft.MonotonicLogStore = (*guardedWAL)(nil)
)

func (g *guardedWAL) close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	return g.w.Close()
}

// IsMonotonic tells raft the WAL keeps indexes gap-free.
func (g *guardedWAL) IsMonotonic() bool { return true }

// FirstIndex returns the first stored index.
func (g *guardedWAL) FirstIndex() (uint64, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return 0, errStoreClosed
	}
	return g.w.FirstIndex()
}

// LastIndex returns the last stored index.
func (g *guardedWAL) LastIndex() (uint64, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return 0, errStoreClosed
	}
	return g.w.LastIndex()
}

// GetLog reads the entry at index.
func (g *guardedWAL) GetLog(index uint64, log *raft.Log) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return raft.ErrLogNotFound
	}
	return g.w.GetLog(index, log)
}

// StoreLog appends one entry.
func (g *guardedWAL) StoreLog(log *raft.Log) error { return g.StoreLogs([]*raft.Log{log}) }

// StoreLogs appends entries.
func (g *guardedWAL) StoreLogs(logs []*raft.Log) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return errStoreClosed
	}
	return g.w.StoreLogs(logs)
}

// DeleteRange removes entries min through max.
func (g *guardedWAL) DeleteRange(lo, hi uint64) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return errStoreClosed
	}
	return g.w.DeleteRange(lo, hi)
}

// Set stores a stable value; dropped after close.
func (g *guardedWAL) Set(key, val []byte) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return nil
	}
	return g.w.Set(key, val)
}

// Get reads a stable value.
func (g *guardedWAL) Get(key []byte) ([]byte, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return nil, errStoreClosed
	}
	return g.w.Get(key)
}

// SetUint64 stores a stable number; dropped after close.
func (g *guardedWAL) SetUint64(key []byte, val uint64) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return nil
	}
	return g.w.SetUint64(key, val)
}

// GetUint64 reads a stable number.
func (g *guardedWAL) GetUint64(key []byte) (uint64, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return 0, errStoreClosed
	}
	return g.w.GetUint64(key)
}
