package history

import (
	"fmt"
	"time"

	"github.com/anishathalye/porcupine"
)

// Report is the outcome of a linearizability check.
type Report struct {
	Result    porcupine.CheckResult // Ok, Illegal, or Unknown when the check timed out
	Ops       int                   // operations checked
	Unknown   int                   // of them with an unknown outcome
	Tightened int                   // unknown writes whose return was moved to the first read of their value
	Elapsed   time.Duration

	ops   []porcupine.Operation
	notes []Note
}

// String summarises the report.
func (r Report) String() string {
	return fmt.Sprintf("%s: %d operations, %d with unknown outcome (%d of them seen by a read), checked in %v",
		r.Result, r.Ops, r.Unknown, r.Tightened, r.Elapsed.Round(time.Millisecond))
}

// Operations turns records into porcupine operations. An unknown write
// returns Never, except that a write of a value some get returned must
// have taken effect before that get returned: its return moves there
// (values are unique, so the get names it). That keeps the checker from
// trying every place for writes whose effect a read has already pinned.
func Operations(recs []Record) (ops []porcupine.Operation, unknown, tightened int) {
	firstSeen := map[string]map[uint64]int64{} // key -> value -> earliest return of a get that read it
	for _, r := range recs {
		if r.Input.Op != Get || r.Output.Unknown || !r.Output.Found {
			continue
		}
		m := firstSeen[r.Input.Key]
		if m == nil {
			m = map[uint64]int64{}
			firstSeen[r.Input.Key] = m
		}
		if t, ok := m[r.Output.Value]; !ok || r.Return < t {
			m[r.Output.Value] = r.Return
		}
	}
	ops = make([]porcupine.Operation, 0, len(recs))
	for _, r := range recs {
		ret := r.Return
		if r.Output.Unknown {
			unknown++
			ret = Never
			switch r.Input.Op {
			case Set, Add, Cas:
				if t, ok := firstSeen[r.Input.Key][r.Input.Value]; ok && t >= r.Call {
					ret = t
					tightened++
				}
			}
		}
		ops = append(ops, porcupine.Operation{
			ClientId: r.Client, Input: r.Input, Output: r.Output, Call: r.Call, Return: ret,
		})
	}
	return ops, unknown, tightened
}

// CheckLinearizable checks that recs is linearizable under Model, giving up
// after timeout (Result Unknown). notes go into a visualization.
func CheckLinearizable(recs []Record, notes []Note, timeout time.Duration) Report {
	start := time.Now()
	ops, unknown, tightened := Operations(recs)
	res := porcupine.CheckOperationsTimeout(Model, ops, timeout)
	return Report{
		Result: res, Ops: len(ops), Unknown: unknown, Tightened: tightened,
		Elapsed: time.Since(start), ops: ops, notes: notes,
	}
}

// Visualize writes porcupine's HTML view of the checked history to path,
// with the notes as annotations; it checks the history again to find the
// longest linearizable prefixes, bounded by timeout.
func (r Report) Visualize(path string, timeout time.Duration) error {
	_, info := porcupine.CheckOperationsVerbose(Model, r.ops, timeout)
	var anns []porcupine.Annotation
	for _, n := range r.notes {
		anns = append(anns, porcupine.Annotation{
			Tag: "test", Start: n.At, End: n.At, Description: n.Text,
			BackgroundColor: "#ffd7d7",
		})
	}
	info.AddAnnotations(anns)
	return porcupine.VisualizePath(Model, info, path)
}
