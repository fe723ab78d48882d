package kvcontroller

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// DefaultMemStoreLimit is the MemStore capacity used when none is given.
const DefaultMemStoreLimit = 64 << 20

// MemItemOverhead is the fixed number of bytes a MemStore counts per item on
// top of its key and value.
const MemItemOverhead = 64

// errClosed reports use of a store after Close.
var errClosed = fmt.Errorf("%w: store closed", ErrBackend)

// MemStoreOptions configures a MemStore; zero fields mean defaults.
type MemStoreOptions struct {
	// LimitBytes bounds key + value + MemItemOverhead summed over all items;
	// 0 or less means DefaultMemStoreLimit.
	LimitBytes int64
	// Now is the clock that decides expiry; nil means time.Now.
	Now func() time.Time
}

// MemStore is the embedded in-memory Store: bounded by bytes, evicting the
// least recently used items, expiring items at their Exptime. It is safe for
// concurrent use; one mutex guards all of its state.
type MemStore struct {
	now   func() time.Time
	limit int64

	mu        sync.Mutex // guards the fields below
	items     map[string]*entry
	lru       lruList // front = most recently read or written
	bytes     int64   // sum of entry.size
	live      uint64  // entries that are not tombstones
	evictions uint64  // unexpired entries dropped to make room
	total     uint64  // items (not tombstones) ever stored, memcached's total_items
	closed    bool
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore configured by opts.
func NewMemStore(opts MemStoreOptions) *MemStore {
	s := &MemStore{
		now:   opts.Now,
		limit: opts.LimitBytes,
		items: make(map[string]*entry),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.limit <= 0 {
		s.limit = DefaultMemStoreLimit
	}
	s.lru.init()
	return s
}

// Get returns a copy of the item under key; ErrNotFound if none or expired.
func (s *MemStore) Get(_ context.Context, key string) (Item, error) {
	now := s.now().Unix()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Item{}, errClosed
	}
	it, ok := s.lookupLocked(key, now)
	s.mu.Unlock()
	if !ok {
		return Item{}, ErrNotFound
	}
	// Stored values are never modified in place, so copying after unlocking
	// is safe and keeps large copies out of the critical section.
	it.Value = cloneValue(it.Value)
	return it, nil
}

// GetMulti returns copies of the live items found among keys.
func (s *MemStore) GetMulti(_ context.Context, keys []string) (map[string]Item, error) {
	now := s.now().Unix()
	found := make(map[string]Item, len(keys))
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	for _, k := range keys {
		if it, ok := s.lookupLocked(k, now); ok {
			found[k] = it
		}
	}
	s.mu.Unlock()
	for k, it := range found {
		it.Value = cloneValue(it.Value)
		found[k] = it
	}
	return found, nil
}

// lookupLocked returns the live item under key and marks it recently used,
// reclaiming it if it has expired.
func (s *MemStore) lookupLocked(key string, now int64) (Item, bool) {
	e := s.items[key]
	if e == nil {
		return Item{}, false
	}
	if expired(storeExptime(e.item), now) {
		s.removeLocked(e)
		return Item{}, false
	}
	s.lru.moveToFront(e)
	e.atime = now
	return e.item, true
}

// Set stores a copy of item, evicting least recently used items until the
// store fits its limit. An item larger than the limit on its own gets
// ErrTooLarge and, as in memcached, removes what was under its key.
func (s *MemStore) Set(_ context.Context, item Item) error {
	size := itemSize(item.Key, len(item.Value))
	if size > s.limit {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return errClosed
		}
		if e := s.items[item.Key]; e != nil {
			s.removeLocked(e)
		}
		return fmt.Errorf("%w: %d bytes with overhead, limit %d", ErrTooLarge, size, s.limit)
	}
	item.Value = cloneValue(item.Value)
	now := s.now().Unix()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	e := s.items[item.Key]
	if e == nil {
		e = &entry{}
		s.items[item.Key] = e
		s.lru.pushFront(e)
	} else {
		s.unaccountLocked(e)
		s.lru.moveToFront(e)
	}
	e.item = item
	e.size = size
	e.atime = now
	s.accountLocked(e)
	if !item.Tombstone {
		s.total++
	}
	for s.bytes > s.limit {
		victim := s.lru.back()
		if victim == nil || victim == e {
			break // cannot happen: e alone fits
		}
		if !expired(storeExptime(victim.item), now) {
			s.evictions++
		}
		s.removeLocked(victim)
	}
	return nil
}

// Delete removes key; ErrNotFound if it held no live item.
func (s *MemStore) Delete(_ context.Context, key string) error {
	now := s.now().Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	e := s.items[key]
	if e == nil {
		return ErrNotFound
	}
	s.removeLocked(e)
	if expired(storeExptime(e.item), now) {
		return ErrNotFound
	}
	return nil
}

// FlushAll removes every item.
func (s *MemStore) FlushAll(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	s.resetLocked()
	return nil
}

// Dump calls fn with a copy of every live item, most recently used first, as
// of the moment Dump starts; fn may use the store. It stops at the first
// error from fn or ctx.
func (s *MemStore) Dump(ctx context.Context, fn func(Item) error) error {
	now := s.now().Unix()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	snapshot := make([]Item, 0, len(s.items))
	for e := s.lru.root.next; e != &s.lru.root; {
		next := e.next
		if expired(storeExptime(e.item), now) {
			s.removeLocked(e)
		} else {
			snapshot = append(snapshot, e.item)
		}
		e = next
	}
	s.mu.Unlock()

	for _, it := range snapshot {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("dump: %w", err)
		}
		it.Value = cloneValue(it.Value)
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

// Stats reports occupancy. Items counts non-tombstone items held, which may
// include expired items not yet reclaimed.
func (s *MemStore) Stats(context.Context) (Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Stats{}, errClosed
	}
	return Stats{
		Items:      s.live,
		TotalItems: s.total,
		Bytes:      uint64(s.bytes),
		LimitBytes: uint64(s.limit),
		Evictions:  s.evictions,
	}, nil
}

// Ping reports ErrBackend once the store is closed, nil before.
func (s *MemStore) Ping(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	return nil
}

// Close drops every item; later calls on the store fail. Safe to call twice.
func (s *MemStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.resetLocked()
	return nil
}

func (s *MemStore) resetLocked() {
	s.items = make(map[string]*entry)
	s.lru.init()
	s.bytes = 0
	s.live = 0
}

func (s *MemStore) removeLocked(e *entry) {
	s.lru.remove(e)
	delete(s.items, e.item.Key)
	s.unaccountLocked(e)
}

func (s *MemStore) accountLocked(e *entry) {
	s.bytes += e.size
	if !e.item.Tombstone {
		s.live++
	}
}

func (s *MemStore) unaccountLocked(e *entry) {
	s.bytes -= e.size
	if !e.item.Tombstone {
		s.live--
	}
}

// itemSize is the number of bytes a MemStore counts for an item.
func itemSize(key string, valueLen int) int64 {
	return int64(len(key)) + int64(valueLen) + MemItemOverhead
}

// cloneValue returns a copy of v that is never nil.
func cloneValue(v []byte) []byte {
	c := make([]byte, len(v))
	copy(c, v)
	return c
}
