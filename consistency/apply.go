package consistency

import (
	"fmt"
	"strconv"

	"github.com/memcons/memcons/kvcontroller"
)

// maxRelativeExptime is memcached's bound: larger exptimes are unix times.
const maxRelativeExptime = 60 * 60 * 24 * 30

// slabChunkMax is memcached 1.6's default largest slab chunk: a bigger
// item is stored chunked, and incr/decr call a chunked item non-numeric.
const slabChunkMax = 512 << 10

// expiredNow marks an exptime that is already in the past.
const expiredNow = -1

// AbsoluteExptime converts a client's exptime into absolute unix seconds as
// memcached 1.6 reads it: 0 is never, negative is already expired, up to 30
// days is relative to now, larger is a unix time. Already-expired times come
// back as -1.
func AbsoluteExptime(exptime, now int64) int64 {
	switch {
	case exptime == 0:
		return 0
	case exptime < 0:
		return expiredNow
	case exptime <= maxRelativeExptime:
		return now + exptime
	case exptime <= now:
		return expiredNow
	default:
		return exptime
	}
}

// Live reports whether it is a visible item at unix time now.
func Live(it kvcontroller.Item, now int64) bool {
	return !it.Tombstone && !expired(it.Exptime, now)
}

func expired(exptime, now int64) bool {
	return exptime != 0 && exptime <= now
}

// memcachedItemHeader is what memcached 1.6 adds to key and value when it
// sizes an item: the item struct (48 bytes), the key's NUL, the data block's
// "\r\n" and the cas unique (8 bytes).
const memcachedItemHeader = 48 + 1 + 2 + 8

// ItemSize is the size memcached 1.6 gives an item (header, key, 4 bytes
// for non-zero flags, value), which its item size limit (-I) bounds.
func ItemSize(keyLen int, valueLen int64, flags uint32) int64 {
	size := int64(memcachedItemHeader) + int64(keyLen) + valueLen
	if flags != 0 {
		size += 4
	}
	return size
}

// EffectKind says what a write does to its key in the store.
type EffectKind uint8

const (
	// EffectNone leaves the store as it is.
	EffectNone EffectKind = iota
	// EffectPut stores Effect.Item.
	EffectPut
	// EffectDelete removes the key.
	EffectDelete
)

// Effect is the change one write makes to one key.
type Effect struct {
	Kind EffectKind
	Item kvcontroller.Item
}

// ApplyWrite computes what the single-key write req does to cur, the key's
// live item or nil, at unix time now. req.Exptime must already be absolute
// (see AbsoluteExptime); version becomes the new item's version. It is a
// pure function, so every replica given the same input computes the same
// result.
func ApplyWrite(req *Request, cur *kvcontroller.Item, now int64, version uint64, itemSizeMax int) (Effect, Result, error) {
	key := req.Keys[0]
	put := func(value []byte, flags uint32, exptime int64) Effect {
		if expired(exptime, now) {
			return Effect{Kind: EffectDelete, Item: kvcontroller.Item{Key: key}}
		}
		return Effect{Kind: EffectPut, Item: kvcontroller.Item{
			Key: key, Value: value, Flags: flags, Exptime: exptime, Version: version,
		}}
	}
	stored := Result{Status: StatusStored}
	notStored := Result{Status: StatusNotStored}

	switch req.Op {
	case OpSet:
		return put(req.Value, req.Flags, req.Exptime), stored, nil
	case OpAdd:
		if cur != nil {
			return Effect{}, notStored, nil
		}
		return put(req.Value, req.Flags, req.Exptime), stored, nil
	case OpReplace:
		if cur == nil {
			return Effect{}, notStored, nil
		}
		return put(req.Value, req.Flags, req.Exptime), stored, nil
	case OpAppend, OpPrepend:
		if cur == nil {
			return Effect{}, notStored, nil
		}
		if itemSizeMax > 0 && ItemSize(len(key), int64(len(cur.Value)+len(req.Value)), cur.Flags) > int64(itemSizeMax) {
			// memcached cannot allocate the joined item and answers
			// NOT_STORED, keeping the old one.
			return Effect{}, notStored, nil
		}
		joined := make([]byte, 0, len(cur.Value)+len(req.Value))
		if req.Op == OpAppend {
			joined = append(append(joined, cur.Value...), req.Value...)
		} else {
			joined = append(append(joined, req.Value...), cur.Value...)
		}
		return put(joined, cur.Flags, cur.Exptime), stored, nil
	case OpCas:
		switch {
		case cur == nil:
			return Effect{}, Result{Status: StatusNotFound}, nil
		case req.Cas == 0 || cur.Unique() != req.Cas: // memcached matches no unique of 0
			return Effect{}, Result{Status: StatusExists}, nil
		}
		return put(req.Value, req.Flags, req.Exptime), stored, nil
	case OpDelete:
		if cur == nil {
			return Effect{}, Result{Status: StatusNotFound}, nil
		}
		return Effect{Kind: EffectDelete, Item: kvcontroller.Item{Key: key}}, Result{Status: StatusDeleted}, nil
	case OpIncr, OpDecr:
		if cur == nil {
			return Effect{}, Result{Status: StatusNotFound}, nil
		}
		if ItemSize(len(key), int64(len(cur.Value)), cur.Flags) > slabChunkMax {
			return Effect{}, Result{}, ErrNonNumeric
		}
		value, err := parseCounter(cur.Value)
		if err != nil {
			return Effect{}, Result{}, err
		}
		next := addDelta(value, req.Delta, req.Op == OpIncr)
		eff := put(counterBytes(next, len(cur.Value)), cur.Flags, cur.Exptime)
		inPlace := keepMetaBits(&eff.Item, cur)
		return eff, Result{Status: StatusNumber, Number: next, Items: []Item{HitOf(eff.Item)}, InPlace: inPlace}, nil
	case OpTouch:
		if cur == nil {
			return Effect{}, Result{Status: StatusNotFound}, nil
		}
		eff := put(cur.Value, cur.Flags, req.Exptime)
		if eff.Kind == EffectPut {
			eff.Item.Version = cur.Version // touch changes expiry only
			eff.Item.Stale, eff.Item.WinSent, eff.Item.KeyBinary = cur.Stale, cur.WinSent, cur.KeyBinary
			eff.Item.Cas, eff.Item.HasCas = cur.Cas, cur.HasCas // and keeps a unique chosen with E
		}
		res := Result{Status: StatusTouched}
		if eff.Kind == EffectPut {
			res.Items = []Item{HitOf(eff.Item)} // the touched item, for the access table
		}
		return eff, res, nil
	case OpMetaGet:
		eff, res := applyMetaGet(req, cur, now, version)
		return eff, res, nil
	case OpMetaSet:
		return applyMetaSet(req, cur, now, version, itemSizeMax)
	case OpMetaDelete:
		eff, res := applyMetaDelete(req, cur, now, version)
		return eff, res, nil
	case OpMetaArithmetic:
		return applyMetaArithmetic(req, cur, now, version)
	}
	return Effect{}, Result{}, fmt.Errorf("apply %s: not a single-key write", req.Op)
}

// keepMetaBits keeps cur's stale, win-sent and binary-key marks on an incr/decr result
// written in place (no longer than cur's value), as memcached's in-place
// update keeps the item's flags; a longer result is a new item without them.
// It returns the version the result replaced in place, 0 for a new item.
func keepMetaBits(it *kvcontroller.Item, cur *kvcontroller.Item) (inPlace uint64) {
	if len(it.Value) != len(cur.Value) {
		return 0
	}
	it.Stale, it.WinSent, it.KeyBinary = cur.Stale, cur.WinSent, cur.KeyBinary
	return cur.Version
}

// parseCounter reads a stored value as memcached's incr does (strtoull
// through its safe_strtoull): optional leading white space, an optional
// sign, decimal digits, then the end or white space. A minus sign is
// refused only when the result, negated modulo 2^64, reads as a negative
// int64, so "-0" is 0, as in memcached.
func parseCounter(v []byte) (uint64, error) {
	i := 0
	for i < len(v) && isSpace(v[i]) {
		i++
	}
	neg := false
	if i < len(v) && (v[i] == '+' || v[i] == '-') {
		neg = v[i] == '-'
		i++
	}
	start := i
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i == start || (i < len(v) && !isSpace(v[i])) {
		return 0, ErrNonNumeric
	}
	n, err := strconv.ParseUint(string(v[start:i]), 10, 64)
	if err != nil {
		return 0, ErrNonNumeric
	}
	if neg {
		n = -n
		if int64(n) < 0 {
			return 0, ErrNonNumeric
		}
	}
	return n, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// addDelta applies incr (wrapping at 2^64) or decr (stopping at 0).
func addDelta(value, delta uint64, incr bool) uint64 {
	if incr {
		return value + delta
	}
	if delta > value {
		return 0
	}
	return value - delta
}

// counterBytes renders n as memcached stores an incr/decr result: a result
// no longer than the old value is written in place, padded with spaces.
func counterBytes(n uint64, oldLen int) []byte {
	b := strconv.AppendUint(make([]byte, 0, max(oldLen, 20)), n, 10)
	for len(b) < oldLen {
		b = append(b, ' ')
	}
	return b
}
