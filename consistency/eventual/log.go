package eventual

import "sync"

// recentLog is the bounded in-memory log of the keys this peer's replica
// changed, local and remote writes alike, numbered 1, 2, 3, ... within one
// process (an epoch). It holds keys only: an answer to a sync request reads
// each key's current item from the replica, so it never sends a value that a
// newer write (or a tombstone) has replaced. It is safe for concurrent use.
type recentLog struct {
	mu   sync.Mutex // guards the fields below
	keys []string   // ring of the last len(keys) entries
	head uint64     // seq of the newest entry; 0 when empty
}

func newRecentLog(size int) *recentLog {
	return &recentLog{keys: make([]string, size)}
}

// add appends key and returns its seq.
func (l *recentLog) add(key string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.head++
	l.keys[l.head%uint64(len(l.keys))] = key
	return l.head
}

// last returns the seq of the newest entry.
func (l *recentLog) last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.head
}

// firstLocked is the seq of the oldest entry still held.
func (l *recentLog) firstLocked() uint64 {
	if l.head < uint64(len(l.keys)) {
		return 1
	}
	return l.head - uint64(len(l.keys)) + 1
}

// len returns how many entries the log holds.
func (l *recentLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.head - l.firstLocked() + 1)
}

// since returns the distinct keys of the entries after seq, oldest first,
// and the seq of the newest one; ok is false when some of those entries have
// already left the log, so the caller must fall back to a full transfer.
func (l *recentLog) since(seq uint64) (keys []string, head uint64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq > l.head {
		return nil, l.head, false
	}
	if seq+1 < l.firstLocked() {
		return nil, l.head, false
	}
	seen := make(map[string]bool, l.head-seq)
	for s := seq + 1; s <= l.head; s++ {
		k := l.keys[s%uint64(len(l.keys))]
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys, l.head, true
}
