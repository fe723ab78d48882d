package eventual

import "github.com/memcons/memcons/kvcontroller"

// An item in eventual mode is two last-writer-wins registers: its value
// (with flags and the CAS unique, stamped by Version) and its expiry
// (stamped by ExpiryVersion, or by Version when the value write set it). A
// touch stamps only the expiry, so it keeps the unique, as in memcached.

// expiryStamp returns the version that wrote it's expiry.
func expiryStamp(it kvcontroller.Item) uint64 {
	return max(it.Version, it.ExpiryVersion)
}

// newerValue reports whether a's value register wins over b's: the newer
// value write; for the same write, the tombstone (a peer that saw it
// expire replaced it with one).
func newerValue(a, b kvcontroller.Item) bool {
	if a.Version != b.Version {
		return a.Version > b.Version
	}
	return a.Tombstone && !b.Tombstone
}

// Merge returns the item two replicas converge to for one key: the newest
// value with its unique (a delete's tombstone is a value), and the newest
// expiry. A value write stamps the expiry too, so the newest expiry is
// always one stamped at or after the newest value. Each register is a
// maximum, so Merge is commutative and associative: peers merging the
// same writes in any order agree. equal reports whether the result holds
// a's registers (nothing to store over a).
func Merge(a, b kvcontroller.Item) (merged kvcontroller.Item, equal bool) {
	merged = a
	if newerValue(b, a) {
		merged = b
	}
	exp := a
	if expiryStamp(b) > expiryStamp(a) {
		exp = b
	}
	merged.Exptime, merged.ExpiryVersion = exp.Exptime, 0
	if exp.Version == merged.Version && exp.Tombstone == merged.Tombstone {
		// An mg's win is stamped with the expiry (it keeps the value), so
		// the win-sent mark travels with the newer expiry of that value.
		merged.WinSent = exp.WinSent
	}
	if s := expiryStamp(exp); s != merged.Version {
		merged.ExpiryVersion = s
	}
	return merged, sameRegisters(merged, a)
}

// sameRegisters reports whether a and b hold the same registers.
func sameRegisters(a, b kvcontroller.Item) bool {
	return a.Version == b.Version && a.Tombstone == b.Tombstone &&
		expiryStamp(a) == expiryStamp(b) && a.Exptime == b.Exptime
}

// expiredTomb is what replaces an item whose expiry has passed: a
// tombstone keeping both registers, so that a merge still orders it
// against later writes and touches. (A touch stamped later than the expiry
// that passed, arriving after it, finds no value to extend: the key stays
// deleted on every peer alike.)
func expiredTomb(it kvcontroller.Item) kvcontroller.Item {
	return kvcontroller.Item{
		Key: it.Key, Version: it.Version, ExpiryVersion: it.ExpiryVersion,
		Exptime: it.Exptime, Tombstone: true,
	}
}
