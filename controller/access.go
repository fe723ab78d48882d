package controller

import (
	"hash/maphash"
	"sync"
)

// accessShards is how many locks share the access table.
const accessShards = 64

// accessShardMax bounds the keys one shard remembers; past it, a key
// already there makes room.
const accessShardMax = 1024

// accessTable is this peer's memory of how its clients have fetched each
// item, what memcached keeps in the item itself and reports as mg's h
// ("hit before") and l (seconds since last access) and me's fetch= and
// la=. It is local to the peer and not replicated: a fetch through
// another peer is not seen here. An entry belongs to one version of the
// item; a new value (a new unique) starts afresh, except where memcached
// changes the item in place (an incr/decr no longer than the old value,
// md I: rewrote), and an item this peer has not seen fetched or written
// counts as never fetched, accessed now. Fetches are what memcached counts
// (do_item_bump): get, gets, gat, gats, touch, mg without u.
// It is bounded: a forgotten key reads as a new one.
type accessTable struct {
	seed   maphash.Seed
	shards [accessShards]accessShard
}

type accessShard struct {
	mu      sync.Mutex // guards entries
	entries map[string]accessEntry
}

// accessEntry is what the table knows of one key.
type accessEntry struct {
	version uint64 // the item version the entry describes
	fetched bool   // a client fetched this version (without u)
	atime   int64  // unix seconds of the last access or write
}

func newAccessTable() *accessTable {
	t := &accessTable{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].entries = make(map[string]accessEntry)
	}
	return t
}

func (t *accessTable) shard(key string) *accessShard {
	return &t.shards[maphash.String(t.seed, key)%accessShards]
}

// fetch reports the state of key's item at version before this access,
// as mg's h and l show it, and records the access unless bump is false
// (mg's u, me).
func (t *accessTable) fetch(key string, version uint64, now int64, bump bool) (fetched bool, atime int64) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok || e.version != version {
		e = accessEntry{version: version, atime: now}
		if !bump {
			s.put(key, e)
		}
	}
	fetched, atime = e.fetched, e.atime
	if bump {
		s.put(key, accessEntry{version: version, fetched: true, atime: now})
	}
	return fetched, atime
}

// wrote records that version of key was written now: not fetched yet.
func (t *accessTable) wrote(key string, version uint64, now int64) {
	s := t.shard(key)
	s.mu.Lock()
	s.put(key, accessEntry{version: version, atime: now})
	s.mu.Unlock()
}

// rewrote records that version of key replaced version prev in place now
// (an incr/decr no longer than the old value, prev not 0): memcached keeps
// the item, so the entry of prev carries over. Otherwise it is wrote.
func (t *accessTable) rewrote(key string, prev, version uint64, now int64) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if prev == 0 || !ok || e.version != prev {
		e = accessEntry{atime: now}
	}
	e.version = version
	s.put(key, e)
}

// put stores e under key, first forgetting one other key if the shard is
// full; the caller holds s.mu.
func (s *accessShard) put(key string, e accessEntry) {
	if _, ok := s.entries[key]; !ok && len(s.entries) >= accessShardMax {
		for k := range s.entries {
			delete(s.entries, k)
			break
		}
	}
	s.entries[key] = e
}
