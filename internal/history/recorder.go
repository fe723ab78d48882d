package history

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
)

// Never is the return time of a command whose outcome is unknown: it may
// take effect at any moment after its call.
const Never int64 = math.MaxInt64

// Record is one command in a history. Times are nanoseconds on the
// recorder's monotonic clock.
type Record struct {
	Client  int    // the client that sent it
	Session int    // the client's connection: a new connection starts a new session
	Peer    string // the peer it was sent to
	Input   Input
	Output  Output
	Call    int64  // when it was sent
	Return  int64  // when its reply arrived; Never when Output.Unknown
	Error   string // why the outcome is unknown, for reports
}

// String describes r for failure messages.
func (r Record) String() string {
	ret := "never"
	if r.Return != Never {
		ret = fmt.Sprintf("%.3fs", float64(r.Return)/1e9)
	}
	s := fmt.Sprintf("client %d session %d at %s [%.3fs, %s]: %s",
		r.Client, r.Session, r.Peer, float64(r.Call)/1e9, ret, describe(r.Input, r.Output))
	if r.Error != "" {
		s += " (" + r.Error + ")"
	}
	return s
}

// Note is an event of the test itself (a kill, a restart, a cut), kept for
// failure reports and visualizations.
type Note struct {
	At   int64
	Text string
}

// Recorder collects records from concurrent clients. It is safe for
// concurrent use.
type Recorder struct {
	start time.Time

	mu    sync.Mutex // guards recs and notes
	recs  []Record
	notes []Note
}

// NewRecorder returns an empty recorder whose clock starts now.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Now returns the recorder's clock: nanoseconds since it was created.
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// Add appends rec; a record with an unknown outcome gets Return = Never.
func (r *Recorder) Add(rec Record) {
	if rec.Output.Unknown {
		rec.Return = Never
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
}

// Note records a test event at the current time.
func (r *Recorder) Note(format string, args ...any) {
	n := Note{At: r.Now(), Text: fmt.Sprintf(format, args...)}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, n)
}

// Records returns a copy of the history so far.
func (r *Recorder) Records() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Record(nil), r.recs...)
}

// Notes returns a copy of the notes so far.
func (r *Recorder) Notes() []Note {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Note(nil), r.notes...)
}

// Summary counts the records by kind and outcome, for a test's log.
func Summary(recs []Record) string {
	count := map[string]int{}
	for _, rec := range recs {
		o := "ok"
		if rec.Output.Unknown {
			o = "unknown"
		}
		count[string(rec.Input.Op)+" "+o]++
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, count[k]))
	}
	return fmt.Sprintf("%d records: %s", len(recs), strings.Join(parts, ", "))
}
