package controller

import (
	"log/slog"
	"sync"
	"time"
)

// errorLogEvery is how often the error log writes a line for one reply
// line: a cluster without a quorum fails every request, and one line a
// second per kind of failure says as much as thousands.
const errorLogEvery = time.Second

// errorLog writes the detail behind SERVER_ERROR replies, which carry only
// what a client can act on. For each reply line it writes at most one log
// line per errorLogEvery, which counts the failures it left out. It is
// safe for concurrent use.
type errorLog struct {
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex            // guards kinds
	kinds map[string]*errorKind // by reply line
}

// errorKind is what errorLog knows of one reply line.
type errorKind struct {
	logged  time.Time // when its last line was written
	skipped int       // failures since then that wrote no line
}

func newErrorLog(log *slog.Logger, now func() time.Time) *errorLog {
	return &errorLog{log: log, now: now, kinds: map[string]*errorKind{}}
}

// failed records a request answered with reply because of err, and logs
// err unless a line for reply was written within errorLogEvery.
func (l *errorLog) failed(reply string, err error) {
	now := l.now()
	l.mu.Lock()
	k := l.kinds[reply]
	if k == nil {
		k = &errorKind{}
		l.kinds[reply] = k
	} else if now.Sub(k.logged) < errorLogEvery {
		k.skipped++
		l.mu.Unlock()
		return
	}
	skipped := k.skipped
	k.logged, k.skipped = now, 0
	l.mu.Unlock()
	attrs := []any{"reply", reply, "err", err}
	if skipped > 0 {
		attrs = append(attrs, "more_since_last", skipped)
	}
	l.log.Warn("request failed", attrs...)
}
