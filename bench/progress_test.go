package bench

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/internal/memcachedtest"
)

func TestProgressLine(t *testing.T) {
	tests := []struct {
		name      string
		elapsed   time.Duration
		ops, errs int64
		rate      float64
		want      string
	}{
		{"start", 0, 0, 0, 0, "   0.0s elapsed          0 ops/s           0 ops  0 errors"},
		{"running", 2500 * time.Millisecond, 123456, 7, 51234.4, "   2.5s elapsed      51234 ops/s      123456 ops  7 errors"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, progressLine(tc.elapsed, tc.ops, tc.errs, tc.rate))
		})
	}
}

// progressRE matches one progress report and captures elapsed seconds
// and operations so far.
var progressRE = regexp.MustCompile(`^ *(\d+\.\d)s elapsed +\d+ ops/s +(\d+) ops +\d+ errors$`)

func TestRun_Progress(t *testing.T) {
	addr := memcachedtest.Start(t)
	tests := []struct {
		name string
		live bool
	}{
		{name: "a line each interval when not a terminal"},
		{name: "one redrawn line on a terminal", live: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out syncBuffer
			rep, err := Run(context.Background(), Config{
				Addrs: []string{addr}, Conns: 2, Duration: 400 * time.Millisecond, Keys: 50,
				Progress: ProgressConfig{W: &out, Live: tc.live, Every: 50 * time.Millisecond},
			})
			require.NoError(t, err)
			text := out.String()
			var reports []string
			if tc.live {
				require.True(t, strings.HasSuffix(text, "\n"), "the live line ends before the table: %q", text)
				assert.Equal(t, 1, strings.Count(text, "\n"), "one line, redrawn: %q", text)
				for r := range strings.SplitSeq(strings.TrimSuffix(text, "\n"), "\r") {
					if r != "" {
						reports = append(reports, strings.TrimSuffix(r, "\x1b[K"))
					}
				}
			} else {
				assert.NotContains(t, text, "\r")
				reports = strings.Split(strings.TrimSuffix(text, "\n"), "\n")
			}
			require.GreaterOrEqual(t, len(reports), 2, "reports in %v at 50ms: %q", rep.Elapsed, text)
			lastOps, lastElapsed := int64(-1), -1.0
			for _, r := range reports {
				m := progressRE.FindStringSubmatch(r)
				require.NotNil(t, m, "progress line %q", r)
				elapsed, _ := strconv.ParseFloat(m[1], 64)
				ops, _ := strconv.ParseInt(m[2], 10, 64)
				assert.GreaterOrEqual(t, elapsed, lastElapsed, "elapsed grows: %q", text)
				assert.GreaterOrEqual(t, ops, lastOps, "ops grow: %q", text)
				assert.LessOrEqual(t, ops, rep.Ops, "no report counts more than the run")
				lastOps, lastElapsed = ops, elapsed
			}
			assert.Positive(t, lastOps, "the reports saw operations")
			if tc.live {
				assert.Equal(t, rep.Ops, lastOps, "the last redraw shows the whole run")
			}
		})
	}
}

// syncBuffer is a strings.Builder that the progress goroutine and the test
// may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
