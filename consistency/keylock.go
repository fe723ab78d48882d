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
