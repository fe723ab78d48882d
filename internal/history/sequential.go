package history

import (
	"fmt"
	"math"
	"sort"
)

// Violation is one place where a history breaks a promise.
type Violation struct {
	What    string
	Records []Record // the records involved, for the report
}

func (v Violation) String() string {
	s := v.What
	for _, r := range v.Records {
		s += "\n\t" + r.String()
	}
	return s
}

func violation(what string, recs ...Record) Violation {
	return Violation{What: what, Records: recs}
}

// maxViolations bounds how many violations one check reports.
const maxViolations = 20

// CheckSequential checks a history of an ordered mode, whose every write
// is an entry of one log and whose cas unique is the index of the entry
// that wrote the item, against sequential consistency:
//
//   - every value read was written by some write that may have taken
//     effect (acknowledged or unknown), or follows from one by increments;
//   - a value has one unique and a unique one value, on every peer (one
//     write order);
//   - each session (one client connection) sees the log move forward only:
//     its ops can be placed, in its own order, at log positions where each
//     read returns the latest write to its key. That covers reading one's
//     own writes and monotonic reads. A write whose index no read revealed
//     still must come after everything before it in its session.
//
// Log positions come from the uniques reads returned, so the check sees
// only the writes some read revealed; it reports what it can prove.
func CheckSequential(recs []Record) []Violation {
	var out []Violation
	add := func(v Violation) {
		if len(out) < maxViolations {
			out = append(out, v)
		}
	}

	// One write order: value <-> unique is a bijection per key.
	uniqueOf := map[string]map[uint64]Record{} // key -> value -> a get that read it
	valueOf := map[string]map[uint64]Record{}  // key -> unique -> a get that read it
	for _, r := range recs {
		if r.Input.Op != Get || r.Output.Unknown || !r.Output.Found {
			continue
		}
		k, v, u := r.Input.Key, r.Output.Value, r.Output.Unique
		if uniqueOf[k] == nil {
			uniqueOf[k], valueOf[k] = map[uint64]Record{}, map[uint64]Record{}
		}
		if prev, ok := uniqueOf[k][v]; ok && prev.Output.Unique != u {
			add(violation(fmt.Sprintf("%s: value %d read with uniques %d and %d", k, v, prev.Output.Unique, u), prev, r))
		} else if !ok {
			uniqueOf[k][v] = r
		}
		if prev, ok := valueOf[k][u]; ok && prev.Output.Value != v {
			add(violation(fmt.Sprintf("%s: unique %d read with values %d and %d", k, u, prev.Output.Value, v), prev, r))
		} else if !ok {
			valueOf[k][u] = r
		}
	}

	for _, v := range checkValuesWritten(recs) {
		add(v)
	}

	// Each key's revealed log positions, ascending.
	positions := map[string][]uint64{}
	for k, m := range valueOf {
		for u := range m {
			positions[k] = append(positions[k], u)
		}
		sort.Slice(positions[k], func(i, j int) bool { return positions[k][i] < positions[k][j] })
	}
	// next returns the first revealed position of key k after u.
	next := func(k string, u uint64) uint64 {
		ps := positions[k]
		i := sort.Search(len(ps), func(i int) bool { return ps[i] > u })
		if i == len(ps) {
			return math.MaxUint64
		}
		return ps[i]
	}

	for _, sess := range sessions(recs) {
		// pos: the log position (entries applied) the session's next op
		// sits at or after. floor: per key, the least unique a read may
		// return, from the session's own reads and writes.
		var pos uint64
		var last Record // the op that set pos
		floor := map[string]uint64{}
		floorBy := map[string]Record{}
		for _, r := range sess {
			if r.Output.Unknown {
				continue // it may or may not be in the log: no constraint
			}
			k := r.Input.Key
			switch r.Input.Op {
			case Get:
				if !r.Output.Found {
					continue // a miss has no position we know
				}
				u := r.Output.Unique
				if u < floor[k] {
					add(violation(fmt.Sprintf("%s: read unique %d, older than %d this session already saw or wrote", k, u, floor[k]), floorBy[k], r))
				}
				if n := next(k, u); n <= pos {
					add(violation(fmt.Sprintf("%s: read unique %d, which the write at %d replaced before log position %d this session had reached", k, u, n, pos), last, r))
				}
				if u > pos {
					pos, last = u, r
				}
				if u > floor[k] {
					floor[k], floorBy[k] = u, r
				}
			default:
				// A write that changed its key is an entry after pos; a
				// write that changed nothing (NOT_STORED, EXISTS,
				// NOT_FOUND) constrains nothing we can see.
				var idx uint64
				switch {
				case (r.Input.Op == Set || r.Input.Op == Add || r.Input.Op == Cas) && r.Output.Reply == Stored:
					if g, ok := uniqueOf[k][r.Input.Value]; ok {
						idx = g.Output.Unique
					}
				case r.Input.Op == Incr && r.Output.Reply == Number:
					if g, ok := uniqueOf[k][r.Output.Value]; ok {
						idx = g.Output.Unique
					}
				case r.Input.Op == Delete && r.Output.Reply == Deleted:
				default:
					continue
				}
				if idx != 0 {
					if idx <= pos {
						add(violation(fmt.Sprintf("%s: own write is at log index %d, not after log position %d this session had reached", k, idx, pos), last, r))
					}
					pos = max(pos, idx)
				} else {
					pos++ // its index is unknown, but above pos
				}
				last = r
				// Later reads of k return this write or a later one.
				if pos > floor[k] {
					floor[k], floorBy[k] = pos, r
				}
			}
		}
	}
	return out
}

// sessions groups records by (client, session), each in call order.
func sessions(recs []Record) [][]Record {
	type id struct{ client, session int }
	by := map[id][]Record{}
	var ids []id
	for _, r := range recs {
		i := id{r.Client, r.Session}
		if _, ok := by[i]; !ok {
			ids = append(ids, i)
		}
		by[i] = append(by[i], r)
	}
	out := make([][]Record, 0, len(ids))
	for _, i := range ids {
		s := by[i]
		sort.SliceStable(s, func(a, b int) bool { return s[a].Call < s[b].Call })
		out = append(out, s)
	}
	return out
}

// maxIncrSum bounds the sums of unknown increments tracked per key.
const maxIncrSum = 1 << 16

// checkValuesWritten reports reads of values that no write produced: a
// value read must be one a set, add or cas wrote (acknowledged or
// unknown), an acknowledged incr's result, or one of those plus some of
// the increments whose outcome is unknown.
func checkValuesWritten(recs []Record) []Violation {
	known := map[string]map[uint64]bool{}
	sums := map[string][]bool{} // key -> which sums of unknown increments are possible
	mark := func(k string, v uint64) {
		if known[k] == nil {
			known[k] = map[uint64]bool{}
		}
		known[k][v] = true
	}
	for _, r := range recs {
		k := r.Input.Key
		switch r.Input.Op {
		case Set, Add, Cas:
			if r.Output.Unknown || r.Output.Reply == Stored {
				mark(k, r.Input.Value)
			}
		case Incr:
			switch {
			case r.Output.Unknown:
				s := sums[k]
				if s == nil {
					s = make([]bool, 1, 64)
					s[0] = true
				}
				n := min(len(s)+int(r.Input.Delta), maxIncrSum)
				grown := make([]bool, n)
				copy(grown, s)
				for i := len(s) - 1; i >= 0; i-- {
					if s[i] && i+int(r.Input.Delta) < n {
						grown[i+int(r.Input.Delta)] = true
					}
				}
				sums[k] = grown
			case r.Output.Reply == Number:
				mark(k, r.Output.Value)
			}
		}
	}
	var out []Violation
	for _, r := range recs {
		if r.Input.Op != Get || r.Output.Unknown || !r.Output.Found {
			continue
		}
		k, v := r.Input.Key, r.Output.Value
		if known[k][v] {
			continue
		}
		ok := false
		for d, possible := range sums[k] {
			if possible && d > 0 && uint64(d) <= v && known[k][v-uint64(d)] {
				ok = true
				break
			}
		}
		if !ok {
			out = append(out, violation(fmt.Sprintf("%s: read value %d, which no write produced", k, v), r))
			if len(out) >= maxViolations {
				break
			}
		}
	}
	return out
}
