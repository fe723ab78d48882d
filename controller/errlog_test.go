package controller

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// syncBuffer is a bytes.Buffer that a logger and the test may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestErrorLog_OneLinePerReplyPerInterval(t *testing.T) {
	start := time.Unix(1000, 0)
	type failure struct {
		at    time.Duration // after start
		reply string
		err   string
	}
	tests := []struct {
		name     string
		failures []failure
		want     []string // the err and more_since_last attributes of each line, in order
	}{
		{name: "one failure", failures: []failure{{0, "A", "a1"}}, want: []string{"err=a1"}},
		{name: "repeats within the interval are counted, not logged",
			failures: []failure{{0, "A", "a1"}, {time.Millisecond, "A", "a2"}, {errorLogEvery / 2, "A", "a3"}, {errorLogEvery, "A", "a4"}},
			want:     []string{"err=a1", "err=a4 more_since_last=2"}},
		{name: "each reply line has its own interval",
			failures: []failure{{0, "A", "a1"}, {time.Millisecond, "B", "b1"}, {2 * time.Millisecond, "A", "a2"}},
			want:     []string{"err=a1", "err=b1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf syncBuffer
			var now time.Time
			l := newErrorLog(slog.New(slog.NewTextHandler(&buf, nil)), func() time.Time { return now })
			for _, f := range tc.failures {
				now = start.Add(f.at)
				l.failed(f.reply, errors.New(f.err))
			}
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if assert.Len(t, lines, len(tc.want), buf.String()) {
				for i, w := range tc.want {
					assert.Contains(t, lines[i], "level=WARN msg=\"request failed\"")
					assert.True(t, strings.HasSuffix(lines[i], w), "line %q ends with %q", lines[i], w)
				}
			}
		})
	}
}
