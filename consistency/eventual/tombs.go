package eventual

import "sync"

// tomb is one tombstone this peer's replica holds: its version and the seq of
// the log entry that wrote it (0 for tombstones found in the replica at
// start, which every peer receives with its first transfer of this epoch).
type tomb struct {
	key     string
	version uint64
	seq     uint64
}

// tombSet tracks the replica's tombstones so they can be dropped once every
// peer has synced past them, and holds at most limit: adding one more
// evicts the oldest, which the caller then removes from the replica. It is
// safe for concurrent use.
type tombSet struct {
	limit int

	mu    sync.Mutex      // guards the fields below
	byKey map[string]tomb // current tombstone per key
	order []tomb          // in seq order; entries no longer in byKey are stale
}

func newTombSet(limit int) *tombSet {
	return &tombSet{limit: limit, byKey: make(map[string]tomb)}
}

// add records a tombstone and returns the tombstones evicted to keep the set
// within its limit.
func (s *tombSet) add(t tomb) []tomb {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byKey[t.key] = t
	s.order = append(s.order, t)
	var evicted []tomb
	for len(s.byKey) > s.limit {
		old := s.order[0]
		s.order = s.order[1:]
		if cur, ok := s.byKey[old.key]; ok && cur == old {
			delete(s.byKey, old.key)
			evicted = append(evicted, old)
		}
	}
	s.compactLocked()
	return evicted
}

// forget stops tracking key (it was overwritten by a newer item).
func (s *tombSet) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byKey, key)
	s.compactLocked()
}

// compactLocked drops stale entries from order once they outnumber live ones.
func (s *tombSet) compactLocked() {
	if len(s.order) <= 2*len(s.byKey)+64 {
		return
	}
	live := s.order[:0:0]
	for _, t := range s.order {
		if cur, ok := s.byKey[t.key]; ok && cur == t {
			live = append(live, t)
		}
	}
	s.order = live
}

// upTo returns the tombstones whose log entries are at or below seq.
func (s *tombSet) upTo(seq uint64) []tomb {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []tomb
	for _, t := range s.order {
		if t.seq > seq {
			continue
		}
		if cur, ok := s.byKey[t.key]; ok && cur == t {
			out = append(out, t)
		}
	}
	return out
}

// remove stops tracking t if it is still the key's current tombstone.
func (s *tombSet) remove(t tomb) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.byKey[t.key]; ok && cur == t {
		delete(s.byKey, t.key)
	}
	s.compactLocked()
}

// below stops tracking every tombstone older than version (a flush).
func (s *tombSet) below(version uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.byKey {
		if t.version < version {
			delete(s.byKey, k)
		}
	}
	s.compactLocked()
}

// len returns how many tombstones are tracked.
func (s *tombSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byKey)
}
