package eventual

import "time"

// LinkStats is this peer's replication state towards one other peer, as
// metrics report it.
type LinkStats struct {
	Peer         string
	Pending      int    // writes queued for push now
	Pushed       uint64 // writes pushed
	Dropped      uint64 // writes not queued because the queue was full (sync repairs them)
	SyncRounds   uint64 // syncs completed
	SyncAttempts uint64 // sync attempts, failed ones included
	FullSyncs    uint64 // completed syncs that were full transfers
	// Lag bounds how far this replica may trail the peer's writes: the
	// time since the start of the last completed sync with it (every write
	// the peer made before that is here), or since Start before any.
	Lag time.Duration
}

// Stats is a snapshot of the mode for metrics.
type Stats struct {
	Links      []LinkStats // one per other peer, by name
	Tombstones int         // tombstones the replica holds
}

// Stats returns a snapshot of push, sync and tombstone state.
func (m *Mode) Stats() Stats {
	now := m.opts.Now()
	st := Stats{Tombstones: m.tombs.len()}
	for _, name := range m.order {
		l := m.links[name]
		l.mu.Lock()
		st.Links = append(st.Links, LinkStats{
			Peer: name, Pending: len(l.queue), Pushed: l.pushed, Dropped: l.dropped,
			SyncRounds: l.finished, SyncAttempts: l.attempts, FullSyncs: l.fullSyncs,
			Lag: max(now.Sub(l.caughtUp), 0),
		})
		l.mu.Unlock()
	}
	return st
}
