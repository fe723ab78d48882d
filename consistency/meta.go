package consistency

import (
	"strconv"

	"github.com/memcons/memcons/kvcontroller"
)

// MetaArgs are the options of a meta command (mg, ms, md, ma) that change
// what it does to the item, as memcached 1.6 reads them.
type MetaArgs struct {
	// Order holds the item-changing flags among T, N and R in the order
	// the client sent them: memcached applies them in that order, so
	// "R30 T60" tests the old TTL and "T60 R30" the new one.
	Order string
	// Mode is ms's M flag ('S' set, the default when 0; 'E' add, 'A'
	// append, 'P' prepend, 'R' replace) or ma's ('I' incr, the default
	// when 0; 'D' decr).
	Mode byte
	// CompareCas is set by C: compare Request.Cas with the item's unique.
	CompareCas bool
	// Invalidate is I: md marks the item stale instead of deleting it; ms
	// in compare mode stores a value whose unique is older, marked stale.
	Invalidate bool
	// TTL is set by T: Request.Exptime is the new expiry.
	TTL bool
	// Vivify is N: create the item on a miss, expiring at VivifyExptime.
	Vivify        bool
	VivifyExptime int64
	// Recache is R: an item expiring before RecacheExptime wins a recache.
	Recache        bool
	RecacheExptime int64
	// Initial is ma's J: the value an item created by N starts with.
	Initial uint64
	// KeyBinary is b on an ms: the item remembers its key was base64.
	KeyBinary bool
	// NoWin makes an mg hand out no win (memcached refuses its too-long
	// O token after applying the flags before it, before the win).
	NoWin bool
	// NewCas is E (set when HasNewCas): the CAS unique of the item the
	// command stores (ms), creates (mg N, ma N), changes (ma), marks stale
	// or empties (md I, md x), instead of the write's version. The item
	// keeps it as kvcontroller.Item.Cas; Version still orders writes.
	NewCas    uint64
	HasNewCas bool
	// RemoveValue is md's x: the item is replaced by an empty one (flags
	// from F, expiry from T, else none) that keeps its unique.
	RemoveValue bool
}

// stamp gives it the unique E chose, or none: an item a write makes
// without E shows its version.
func (a *MetaArgs) stamp(it *kvcontroller.Item) {
	it.Cas, it.HasCas = a.NewCas, a.HasNewCas
}

// Writes reports whether an mg with these options changes the item even
// when it is neither stale nor missing: it touches, vivifies or may win.
func (a *MetaArgs) Writes() bool { return a.TTL || a.Vivify || a.Recache }

// MetaOutcome is what a meta command's reply reports about the item
// beyond Result.Items.
type MetaOutcome struct {
	Created     bool  // N made the item on a miss
	Won         bool  // W: this request won the recache
	WinSent     bool  // Z: a win had been handed out before this request
	Stale       bool  // X: the item is stale
	PrevExptime int64 // the item's expiry before T and N applied (0 for a created one)
}

// AbsoluteRequest returns req with every expiry it carries (Exptime and
// the meta N and R times) converted to absolute unix seconds at now.
func AbsoluteRequest(req *Request, now int64) Request {
	abs := *req
	abs.Exptime = AbsoluteExptime(req.Exptime, now)
	if req.Op.IsMeta() {
		abs.Meta.VivifyExptime = AbsoluteExptime(req.Meta.VivifyExptime, now)
		abs.Meta.RecacheExptime = AbsoluteExptime(req.Meta.RecacheExptime, now)
	}
	return abs
}

// metaPut is the effect of storing it at now: a delete when it is already
// expired.
func metaPut(it kvcontroller.Item, now int64) Effect {
	if expired(it.Exptime, now) {
		return Effect{Kind: EffectDelete, Item: kvcontroller.Item{Key: it.Key}}
	}
	return Effect{Kind: EffectPut, Item: it}
}

// applyMetaGet is mg: the hit (or a miss) and whatever T, N, R and a stale
// item's first fetch change. A touch or a win keeps the item's unique, as
// memcached keeps its CAS (E too is used only by an item N creates).
func applyMetaGet(req *Request, cur *kvcontroller.Item, now int64, version uint64) (Effect, Result) {
	m := &req.Meta
	var it kvcontroller.Item
	var out MetaOutcome
	changed := false
	if cur == nil {
		if !m.Vivify {
			return Effect{}, Result{Status: StatusNotFound}
		}
		it = kvcontroller.Item{Key: req.Keys[0], Value: []byte{}, Version: version}
		m.stamp(&it) // memcached uses E for the item N creates only
		out.Created, changed = true, true
	} else {
		it = *cur
		out.PrevExptime = it.Exptime
	}
	won := false
	for i := 0; i < len(m.Order); i++ {
		switch m.Order[i] {
		case 'T':
			it.Exptime, changed = req.Exptime, true
		case 'N':
			if out.Created {
				it.Exptime, won = m.VivifyExptime, true
			}
		case 'R':
			// R0 never wins: memcached compares unsigned times, and an
			// expiry in the past (expiredNow here) is not below 0 there.
			if !it.WinSent && !out.Created && it.Exptime != 0 && m.RecacheExptime != 0 && it.Exptime < m.RecacheExptime {
				won = true
			}
		}
	}
	out.WinSent, out.Stale = it.WinSent, it.Stale
	if it.Stale && !it.WinSent {
		won = true // a stale item's first fetch wins the recache
	}
	if m.NoWin {
		won = false
	}
	if won {
		it.WinSent, changed = true, true
	}
	out.Won = won
	res := Result{Items: []Item{HitOf(it)}, Meta: out}
	if !changed {
		return Effect{}, res
	}
	return metaPut(it, now), res
}

// applyMetaSet is ms in its modes, with memcached's CAS rules: a zero C is
// no comparison; in set or replace mode a C makes it cas, where I accepts
// an older unique and stores the value marked stale; append and prepend
// refuse a C that does not match; add ignores C.
func applyMetaSet(req *Request, cur *kvcontroller.Item, now int64, version uint64, itemSizeMax int) (Effect, Result, error) {
	m := &req.Meta
	key := req.Keys[0]
	mode := m.Mode
	if mode == 0 {
		mode = 'S'
	}
	casMode := m.CompareCas && (mode == 'S' || mode == 'R')
	fresh := kvcontroller.Item{Key: key, Value: req.Value, Flags: req.Flags, Exptime: req.Exptime, Version: version,
		KeyBinary: m.KeyBinary}
	stored := func(it kvcontroller.Item) (Effect, Result, error) {
		m.stamp(&it)
		return metaPut(it, now), Result{Status: StatusStored, Items: []Item{HitOf(it)}}, nil
	}
	status := func(s Status) (Effect, Result, error) { return Effect{}, Result{Status: s}, nil }

	if cur == nil {
		switch {
		case casMode:
			return status(StatusNotFound)
		case mode == 'S' || mode == 'E':
			return stored(fresh)
		}
		return status(StatusNotStored)
	}
	const (
		casNone = iota
		casMatch
		casStale
		casBad
	)
	cas := casBad
	switch {
	case req.Cas == 0:
		cas = casNone
	case req.Cas == cur.Unique():
		cas = casMatch
	case casMode && m.Invalidate && req.Cas < cur.Unique():
		cas = casStale
	}
	switch {
	case mode == 'E':
		return status(StatusNotStored)
	case casMode && cas == casMatch:
		return stored(fresh)
	case casMode && cas == casStale:
		// The value replaces the item, which keeps its expiry and is
		// marked stale; a win already handed out stays handed out.
		fresh.Exptime, fresh.Stale, fresh.WinSent = cur.Exptime, true, cur.WinSent
		return stored(fresh)
	case casMode:
		return status(StatusExists)
	case mode == 'A' || mode == 'P':
		if cas != casNone && cas != casMatch {
			return status(StatusExists)
		}
		if itemSizeMax > 0 && ItemSize(len(cur.Key), int64(len(cur.Value)+len(req.Value)), cur.Flags) > int64(itemSizeMax) {
			// memcached cannot allocate the joined item: NS, the old one kept.
			return status(StatusNotStored)
		}
		joined := make([]byte, 0, len(cur.Value)+len(req.Value))
		if mode == 'A' {
			joined = append(append(joined, cur.Value...), req.Value...)
		} else {
			joined = append(append(joined, req.Value...), cur.Value...)
		}
		return stored(kvcontroller.Item{Key: key, Value: joined, Flags: cur.Flags, Exptime: cur.Exptime, Version: version})
	}
	return stored(fresh) // set or replace on an existing item
}

// applyMetaDelete is md: delete, or with I mark the item stale (a new
// unique, the win free to be handed out again, T's expiry if given), or
// with x replace it by an empty item, as memcached 1.6's newest md does:
// F's flags, T's expiry (none without T), and the old unique unless I
// gives a new one. E chooses the unique of either.
func applyMetaDelete(req *Request, cur *kvcontroller.Item, now int64, version uint64) (Effect, Result) {
	m := &req.Meta
	switch {
	case cur == nil:
		return Effect{}, Result{Status: StatusNotFound}
	case m.CompareCas && cur.Unique() != req.Cas:
		return Effect{}, Result{Status: StatusExists}
	case !m.Invalidate && !m.RemoveValue:
		return Effect{Kind: EffectDelete, Item: kvcontroller.Item{Key: cur.Key}}, Result{Status: StatusDeleted}
	}
	it := *cur
	if m.RemoveValue {
		// The empty item keeps the old unique (an explicit one, so that
		// eventual mode's new version does not show); the binary-key mark
		// stays so replies keep showing the key encoded.
		it = kvcontroller.Item{Key: cur.Key, Value: []byte{}, Flags: req.Flags, Version: version,
			KeyBinary: cur.KeyBinary, Cas: cur.Unique(), HasCas: true}
		if m.TTL {
			it.Exptime = req.Exptime
		}
		if m.HasNewCas {
			it.Cas = m.NewCas
		}
	}
	if m.Invalidate {
		if m.TTL {
			it.Exptime = req.Exptime
		}
		it.Stale, it.WinSent, it.Version = true, false, version
		m.stamp(&it)
	}
	eff := metaPut(it, now)
	res := Result{Status: StatusDeleted}
	if eff.Kind == EffectPut && !m.RemoveValue {
		// I alone: memcached marks the item itself stale, with a new CAS;
		// the item keeps its fetched mark and access time (InPlace).
		res.Items, res.InPlace = []Item{HitOf(it)}, cur.Version
	}
	return eff, res
}

// applyMetaArithmetic is ma: incr or decr by Request.Delta as incr and
// decr do, a non-zero C compared first; on a miss N creates the item with
// the J value (the reply shows it unchanged). T sets the expiry of a hit.
func applyMetaArithmetic(req *Request, cur *kvcontroller.Item, now int64, version uint64) (Effect, Result, error) {
	m := &req.Meta
	var it kvcontroller.Item
	var out MetaOutcome
	var number, inPlace uint64
	if cur == nil {
		if !m.Vivify {
			return Effect{}, Result{Status: StatusNotFound}, nil
		}
		number = m.Initial
		it = kvcontroller.Item{Key: req.Keys[0], Value: strconv.AppendUint(nil, number, 10), Version: version}
		m.stamp(&it)
		out.Created = true
	} else {
		if len(cur.Value) == 0 || ItemSize(len(cur.Key), int64(len(cur.Value)), cur.Flags) > slabChunkMax {
			// Empty or chunked (as incr): before the CAS, as in memcached.
			return Effect{}, Result{}, ErrNonNumeric
		}
		if req.Cas != 0 && cur.Unique() != req.Cas {
			return Effect{}, Result{Status: StatusExists}, nil
		}
		value, err := parseCounter(cur.Value)
		if err != nil {
			return Effect{}, Result{}, err
		}
		number = addDelta(value, req.Delta, m.Mode != 'D')
		it = kvcontroller.Item{Key: cur.Key, Value: counterBytes(number, len(cur.Value)),
			Flags: cur.Flags, Exptime: cur.Exptime, Version: version}
		inPlace = keepMetaBits(&it, cur)
		m.stamp(&it)
		out.PrevExptime = cur.Exptime
	}
	for i := 0; i < len(m.Order); i++ {
		switch m.Order[i] {
		case 'T':
			// A result too long to be written in place is a new item, and
			// memcached 1.6.18 sets T's expiry on the old one it replaced
			// (do_add_delta returns that one): the stored item keeps its
			// expiry. The reply's t still shows T's.
			if m.TTL && (out.Created || inPlace != 0) {
				it.Exptime = req.Exptime
			}
		case 'N':
			if out.Created {
				it.Exptime = m.VivifyExptime
			}
		}
	}
	res := Result{Status: StatusNumber, Number: number, Items: []Item{HitOf(it)}, Meta: out, InPlace: inPlace}
	return metaPut(it, now), res, nil
}
