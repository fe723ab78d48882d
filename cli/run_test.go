package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/internal/memcachedtest"
)

// runPipe runs the piped client against addr with script as input.
func runPipe(t *testing.T, addr, script string) (out, errOut string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = Run(context.Background(), Config{Addr: addr, Timeout: 10 * time.Second, In: strings.NewReader(script), Out: &o, Err: &e})
	return o.String(), e.String(), err
}

func TestRun_PipeAgainstMemcached(t *testing.T) {
	tests := []struct {
		name      string
		script    string
		want      string // whole output, when set
		contains  string // part of the output, when set
		errOut    string // part of the error output ("" means none at all)
		wantFails bool
	}{
		{
			name:   "set get delete",
			script: "set k \"hello world\"\nget k\ndelete k\nget k\ndelete k\n",
			want:   "STORED\nhello world\nDELETED\n(not found)\nNOT_FOUND\n",
		},
		{
			name:   "incr decr",
			script: "set n 10\nincr n\nincr n 5\ndecr n 20\nincr missing\n",
			want:   "STORED\n11\n16\n0\nNOT_FOUND\n",
		},
		{
			name:   "add replace append prepend",
			script: "add k b\nadd k x\nreplace nope x\nappend k c\nprepend k a\nget k\n",
			want:   "STORED\nNOT_STORED\nNOT_STORED\nSTORED\nSTORED\nabc\n",
		},
		{
			name:   "many keys",
			script: "set a 1\nset b 'two words'\nget a b c\n",
			want:   "STORED\nSTORED\na = 1\nb = two words\nc (not found)\n",
		},
		{
			name:   "flags ttl touch gat",
			script: "set k v 0 42\nget k\ntouch k 100\ngat 100 k\ntouch nope 1\n",
			want:   "STORED\nv  (flags 42)\nTOUCHED\nv  (flags 42)\nNOT_FOUND\n",
		},
		{
			name:   "cas on a missing key",
			script: "cas nope v 1\n",
			want:   "NOT_FOUND\n",
		},
		{
			name:   "value with escapes",
			script: "set k \"a\\r\\nb\"\nget k\n",
			want:   "STORED\n\"a\\r\\nb\"\n",
		},
		{
			name:   "flush",
			script: "set k v\nflush\nget k\n",
			want:   "STORED\nOK\n(not found)\n",
		},
		{
			name:     "stats",
			script:   "stats\n",
			contains: "curr_connections  ",
		},
		{
			name:   "raw storage and raw get",
			script: "raw set r 0 0 5\nhello\nraw get r\nmg r v\nverbosity 1\n",
			want:   "STORED\nVALUE r 0 5\nhello\nEND\nVA 5\nhello\nOK\n",
		},
		{
			name:   "raw noreply then a reply stays in step",
			script: "raw set r 0 0 1 noreply\nx\nget r\n",
			want:   "x\n",
		},
		{
			name:   "quiet meta commands",
			script: "ms q1 2 q\nhi\nmg q1 v q\nmg missing v q\n",
			want:   "VA 2\nhi\n",
		},
		{
			name:   "comments blank lines CRLF and no final newline",
			script: "# setup\n\nset k v\r\n   \nget k",
			want:   "STORED\nv\n",
		},
		{
			name:   "exit stops reading",
			script: "set k v\nexit\nbogus\n",
			want:   "STORED\n",
		},
		{
			name:      "error reply fails",
			script:    "bogus\nset k v\n",
			want:      "ERROR\nSTORED\n",
			wantFails: true,
		},
		{
			name:      "client error fails",
			script:    "set k abc\nincr k\n",
			want:      "STORED\nCLIENT_ERROR cannot increment or decrement non-numeric value\n",
			wantFails: true,
		},
		{
			name:      "usage error fails and goes on",
			script:    "set k\nget k\n",
			want:      "(not found)\n",
			errOut:    "line 1: error: usage: set key value [ttl] [flags]",
			wantFails: true,
		},
		{
			name:      "raw data block of the wrong length is not sent",
			script:    "raw set k 0 0 5\nabc\nget k\n",
			want:      "(not found)\n",
			errOut:    "line 2: error: usage: data block is 3 bytes but the command says 5",
			wantFails: true,
		},
		{
			name:      "raw data block missing",
			script:    "raw set k 0 0 5\n",
			want:      "",
			errOut:    "needs a data block of 5 bytes",
			wantFails: true,
		},
		{
			name:      "show on plain memcached",
			script:    "show\nversion\n",
			contains:  "VERSION ",
			errOut:    "not a memcons peer",
			wantFails: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := memcachedtest.Start(t)
			out, errOut, err := runPipe(t, addr, tt.script)
			if tt.wantFails {
				assert.ErrorIs(t, err, ErrCommandFailed)
			} else {
				assert.NoError(t, err)
			}
			if tt.want != "" || tt.contains == "" {
				assert.Equal(t, tt.want, out)
			}
			assert.Contains(t, out, tt.contains)
			if tt.errOut == "" {
				assert.Empty(t, errOut)
			} else {
				assert.Contains(t, errOut, tt.errOut)
			}
		})
	}
}

func TestRun_CasWithUniqueFromGets(t *testing.T) {
	addr := memcachedtest.Start(t)
	out, _, err := runPipe(t, addr, "set k v\ngets k\n")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^v  \(cas (\d+)\)$`).FindStringSubmatch(out)
	require.NotNil(t, m, "gets output %q", out)

	out, errOut, err := runPipe(t, addr, "cas k w "+m[1]+"\ncas k x "+m[1]+"\nget k\n")
	require.NoError(t, err, errOut)
	assert.Equal(t, "STORED\nEXISTS\nw\n", out)
}

func TestRun_FailureCount(t *testing.T) {
	addr := memcachedtest.Start(t)
	_, _, err := runPipe(t, addr, "bogus\nset k\nget k\nversion\n")
	require.ErrorIs(t, err, ErrCommandFailed)
	assert.Contains(t, err.Error(), "2 of 4 commands failed")
}

func TestRun_Unreachable(t *testing.T) {
	addr := memcachedtest.FreeAddr(t)
	_, _, err := runPipe(t, addr, "version\n")
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrCommandFailed)
	assert.Contains(t, err.Error(), addr)
}

func TestRun_ReconnectsOnce(t *testing.T) {
	tests := []struct {
		name       string
		closeAfter int // requests answered per connection before the server hangs up
		script     string
		want       string
		wantFails  bool
		accepted   int
	}{
		{name: "dropped between commands", closeAfter: 1, script: "version\nversion\nversion\n",
			want: "VERSION fake\nVERSION fake\nVERSION fake\n", accepted: 3},
		{name: "server hangs up without answering", closeAfter: -1, script: "version\n",
			want: "", wantFails: true, accepted: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := memcachedtest.StartScripted(t, memcachedtest.Script{
				Reply:      func(string, string) string { return "VERSION fake\r\n" },
				CloseAfter: tt.closeAfter,
			})
			out, _, err := runPipe(t, f.Addr(), tt.script)
			if tt.wantFails {
				assert.ErrorIs(t, err, ErrCommandFailed)
			} else {
				assert.NoError(t, err)
			}
			assert.Equal(t, tt.want, out)
			assert.Equal(t, tt.accepted, f.Conns(), "connections")
		})
	}
}

func TestRun_Interactive(t *testing.T) {
	addr := memcachedtest.Start(t)
	history := filepath.Join(t.TempDir(), "sub", "history")
	var out, errOut bytes.Buffer
	err := Run(context.Background(), Config{
		Addr: addr, Timeout: 10 * time.Second, HistoryFile: history, Interactive: true,
		In:  strings.NewReader("raw set k 0 0 6\nsecret\nget k\nbogus\nset k\n"),
		Out: &out, Err: &errOut,
	})
	require.NoError(t, err, "interactive mode does not fail on error replies")
	assert.Contains(t, out.String(), "STORED\n")
	assert.Contains(t, out.String(), "secret\n")
	assert.Contains(t, out.String(), "ERROR\n")
	assert.Contains(t, errOut.String(), "error: usage: set key value")

	saved, err := os.ReadFile(history)
	require.NoError(t, err)
	assert.Equal(t, "raw set k 0 0 6\nget k\nbogus\nset k\n", string(saved), "data blocks stay out of the history")
}

func TestRun_InteractiveWithoutHistory(t *testing.T) {
	addr := memcachedtest.Start(t)
	var out bytes.Buffer
	err := Run(context.Background(), Config{
		Addr: addr, Interactive: true, In: strings.NewReader("version\nquit\n"), Out: &out,
	})
	require.NoError(t, err)
	assert.Contains(t, out.String(), "VERSION ")
}

func TestRun_CancelledContext(t *testing.T) {
	addr := memcachedtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Run(ctx, Config{Addr: addr, In: strings.NewReader("version\n"), Out: &bytes.Buffer{}})
	assert.ErrorIs(t, err, context.Canceled)
}
