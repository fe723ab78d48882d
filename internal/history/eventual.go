package history

import (
	"fmt"
	"sort"
	"time"
)

// Final is a key's value as every peer agreed on it at the end of a test.
type Final struct {
	Found bool
	Value uint64
}

// CheckLastWriterWins checks the converged values of an eventual-mode
// history, whose writes carry versions from hybrid logical clocks on one
// machine's clock: a write that began more than margin after another
// returned has the higher version and wins. For each key in final:
//
//   - a value present at the end was written by a set, add or cas that
//     may have taken effect, and no acknowledged write of the key began
//     more than margin after that write returned;
//   - a key absent at the end was never written, or some delete has no
//     acknowledged write beginning more than margin after it returned.
func CheckLastWriterWins(recs []Record, final map[string]Final, margin time.Duration) []Violation {
	byKey := map[string][]Record{}
	for _, r := range recs {
		if r.Input.Op.Writes() {
			byKey[r.Input.Key] = append(byKey[r.Input.Key], r)
		}
	}
	keys := make([]string, 0, len(final))
	for k := range final {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []Violation
	for _, k := range keys {
		f := final[k]
		ws := byKey[k]
		// lastAck is the acknowledged write that took effect (so it
		// issued a version) with the latest call.
		var lastAck Record
		acked := false
		for _, w := range ws {
			if tookEffect(w) && (!acked || w.Call > lastAck.Call) {
				lastAck, acked = w, true
			}
		}
		// superseded reports whether w certainly lost to a later write.
		superseded := func(w Record) bool {
			return acked && w.Return != Never && lastAck.Call > w.Return+int64(margin)
		}
		if f.Found {
			var writer *Record
			for i, w := range ws {
				if (w.Input.Op == Set || w.Input.Op == Add || w.Input.Op == Cas) && w.Input.Value == f.Value &&
					(w.Output.Unknown || w.Output.Reply == Stored) {
					writer = &ws[i]
					break
				}
			}
			switch {
			case writer == nil:
				out = append(out, violation(fmt.Sprintf("%s: final value %d was never written", k, f.Value)))
			case superseded(*writer):
				out = append(out, violation(fmt.Sprintf("%s: final value %d, though an acknowledged write began %v after it returned",
					k, f.Value, time.Duration(lastAck.Call-writer.Return)), *writer, lastAck))
			}
			continue
		}
		if !acked {
			continue // never written for sure: absent is right
		}
		// Any delete may have left a tombstone, whatever it answered.
		ok := false
		for _, w := range ws {
			if w.Input.Op == Delete && !superseded(w) {
				ok = true
				break
			}
		}
		if !ok {
			out = append(out, violation(fmt.Sprintf("%s: absent at the end, but no delete could be the last write", k), lastAck))
		}
	}
	return out
}

// tookEffect reports whether w was acknowledged as having changed its key.
func tookEffect(w Record) bool {
	if w.Output.Unknown {
		return false
	}
	switch w.Input.Op {
	case Set, Add, Cas:
		return w.Output.Reply == Stored
	case Delete:
		return w.Output.Reply == Deleted
	case Incr:
		return w.Output.Reply == Number
	}
	return false
}
