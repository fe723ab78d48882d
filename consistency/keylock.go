package consistency

import (
	"hash/maphash"
	"sync"
)

// keyLockStripes is how many mutexes share the key space.
const keyLockStripes = 256

// keyLocks serialises read-modify-write steps per key, so two writes to one
// key never interleave between reading the replica and writing it back.
type keyLocks struct {
	seed    maphash.Seed
	stripes [keyLockStripes]sync.Mutex
}

func newKeyLocks() *keyLocks {
	return &keyLocks{seed: maphash.MakeSeed()}
}

// lock locks key's stripe and returns the function that unlocks it.
func (k *keyLocks) lock(key string) func() {
	m := &k.stripes[maphash.String(k.seed, key)%keyLockStripes]
	m.Lock()
	return m.Unlock
}

// KeyLocks serialises read-modify-write steps per key for modes outside
// this package. Two different keys may share a stripe: hold one key's lock
// at a time, or take several at once with LockAll.
type KeyLocks = keyLocks

// NewKeyLocks returns striped per-key locks.
func NewKeyLocks() *KeyLocks { return newKeyLocks() }

// Lock locks key's stripe and returns the function that unlocks it.
func (k *keyLocks) Lock(key string) func() { return k.lock(key) }

// LockAll locks the stripes of every key, each once and in ascending
// order, so it cannot deadlock with another LockAll nor with callers that
// hold one key's lock at a time; it returns the function that unlocks them.
func (k *keyLocks) LockAll(keys []string) func() {
	var want [keyLockStripes]bool
	for _, key := range keys {
		want[maphash.String(k.seed, key)%keyLockStripes] = true
	}
	var held []int
	for i := range want {
		if want[i] {
			k.stripes[i].Lock()
			held = append(held, i)
		}
	}
	return func() {
		for _, i := range held {
			k.stripes[i].Unlock()
		}
	}
}
