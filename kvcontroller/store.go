// Package kvcontroller stores items in one replica: the Store interface, the
// envelope that wraps each value, and the memcached and in-memory stores.
package kvcontroller

import (
	"context"
	"errors"
)

// ErrNotFound reports that the key has no live item in the store.
var ErrNotFound = errors.New("not found")

// ErrTooLarge reports that an item does not fit in the store at all.
var ErrTooLarge = errors.New("item too large")

// ErrBackend reports that the backing store failed or could not be reached.
var ErrBackend = errors.New("replica error")

// Item is one entry of a replica: the client's value and its envelope.
type Item struct {
	Key   string
	Value []byte
	// Flags are the client's opaque flags.
	Flags uint32
	// Exptime is the absolute expiry in unix seconds; 0 means never.
	Exptime int64
	// Version is the cluster version of the item, the CAS unique clients see.
	Version uint64
	// ExpiryVersion is, in eventual mode, the version of a touch that set
	// Exptime after the value was written (then greater than Version); 0
	// means Exptime was written with the value. Value and expiry are two
	// last-writer-wins registers, so a touch keeps Version.
	ExpiryVersion uint64
	// Tombstone marks a deleted key whose deletion is still remembered.
	Tombstone bool
	// Stale marks an item invalidated by the meta protocol (md I, ms I):
	// mg answers it with X until a client stores a fresh value.
	Stale bool
	// WinSent marks an item whose recache win (mg W) was handed to a
	// client; later mg requests see Z until a new value is stored.
	WinSent bool
	// KeyBinary marks a key an ms stored with b: meta replies show it
	// base64 encoded.
	KeyBinary bool
	// Cas, when HasCas is set, is the CAS unique a client chose with the
	// meta protocol's E flag: clients see and compare it instead of
	// Version, which still orders the item's writes. A write without E
	// clears it.
	Cas    uint64
	HasCas bool
}

// Unique returns the CAS unique clients see (UniqueOf).
func (it *Item) Unique() uint64 { return UniqueOf(it.Version, it.Cas, it.HasCas) }

// UniqueOf is the CAS unique clients see of an item with version and,
// when hasCas, the unique cas a client chose: the chosen one, else the
// version.
func UniqueOf(version, cas uint64, hasCas bool) uint64 {
	if hasCas {
		return cas
	}
	return version
}

// Stats describes a store's occupancy and health.
type Stats struct {
	Items      uint64 // live items, tombstones excluded where known
	TotalItems uint64 // items stored since the store started (memcached's total_items)
	Bytes      uint64 // bytes used by items
	LimitBytes uint64 // capacity in bytes, 0 if unknown
	Evictions  uint64 // items evicted to make room
}

// StatGroup names a group of per-class statistics a store reports.
type StatGroup string

// The groups of `stats <group>` a store answers.
const (
	StatItems StatGroup = "items" // per slab class item counts and ages
	StatSlabs StatGroup = "slabs" // per slab class memory use
)

// StatLine is one "STAT <Name> <Value>" line of a store's statistics.
type StatLine struct{ Name, Value string }

// Store is one replica. Implementations are safe for concurrent use; they do
// no read-modify-write of their own: callers that need one hold a key lock.
type Store interface {
	// Get returns the item under key, tombstones included; ErrNotFound if none
	// or if it has expired.
	Get(ctx context.Context, key string) (Item, error)
	// GetMulti returns the items found among keys, tombstones included.
	GetMulti(ctx context.Context, keys []string) (map[string]Item, error)
	// Set stores item, replacing whatever was under its key.
	Set(ctx context.Context, item Item) error
	// Delete removes key; ErrNotFound if it held nothing.
	Delete(ctx context.Context, key string) error
	// FlushAll removes every item.
	FlushAll(ctx context.Context) error
	// Dump calls fn for every live item (tombstones included) until fn
	// returns an error or the items are exhausted.
	Dump(ctx context.Context, fn func(Item) error) error
	// Stats reports occupancy.
	Stats(ctx context.Context) (Stats, error)
	// GroupStats returns the lines of `stats items` or `stats slabs` in
	// memcached's shape, as this store sees itself.
	GroupStats(ctx context.Context, group StatGroup) ([]StatLine, error)
	// Ping reports whether the backend answers.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}
