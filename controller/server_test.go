package controller

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/field"
	"github.com/memcons/memcons/internal/memcachedtest"
)

// roundTrip sends req on a buffered connection and reads reply lines until
// one satisfies done.
func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, req string, done func(line string) bool) string {
	t.Helper()
	if req != "" { // an empty Write on a net.Pipe waits for a reader
		_, err := io.WriteString(c, req)
		require.NoError(t, err)
	}
	var out strings.Builder
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err, "reply so far %q", out.String())
		out.WriteString(line)
		if done(line) {
			return out.String()
		}
	}
}

func isLine(want string) func(string) bool {
	return func(line string) bool { return line == want+"\r\n" }
}

// TestServer_CasRoundTrip runs gets then cas with the unique it showed,
// against memcons and against memcached.
func TestServer_CasRoundTrip(t *testing.T) {
	targets := map[string]func(t *testing.T) string{
		"memcons": func(t *testing.T) string {
			_, addr := startServer(t, Config{}, nil, Options{}, nil)
			return addr
		},
		"memcached": func(t *testing.T) string { return memcachedtest.Start(t) },
	}
	casRE := regexp.MustCompile(`^VALUE k 0 1 (\d+)\r\n`)
	for name, start := range targets {
		t.Run(name, func(t *testing.T) {
			c := dial(t, start(t))
			r := bufio.NewReader(c)
			require.Equal(t, "STORED\r\n", roundTrip(t, c, r, "set k 0 0 1\r\nx\r\n", isLine("STORED")))
			got := roundTrip(t, c, r, "gets k\r\n", isLine("END"))
			m := casRE.FindStringSubmatch(got)
			require.NotNil(t, m, "gets reply %q", got)
			unique := m[1]

			assert.Equal(t, "STORED\r\n", roundTrip(t, c, r, "cas k 0 0 1 "+unique+"\r\ny\r\n", isLine("STORED")))
			assert.Equal(t, "EXISTS\r\n", roundTrip(t, c, r, "cas k 0 0 1 "+unique+"\r\nz\r\n", isLine("EXISTS")))
			got = roundTrip(t, c, r, "gets k\r\n", isLine("END"))
			m = casRE.FindStringSubmatch(got)
			require.NotNil(t, m, "gets reply %q", got)
			assert.NotEqual(t, unique, m[1], "a successful cas gives a new unique")
			assert.Contains(t, got, "\r\ny\r\n")
		})
	}
}

func TestServer_ModeErrorReplies(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"non-numeric", fmt.Errorf("incr %q: %w", "k", consistency.ErrNonNumeric), "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"},
		{"too large for the store", fmt.Errorf("store: %w", consistency.ErrTooLarge), "SERVER_ERROR out of memory storing object\r\n"},
		{"unavailable", fmt.Errorf("%w: no quorum", consistency.ErrUnavailable), "SERVER_ERROR unavailable: retry later\r\n"},
		{"detail stays in the log", errors.New("line one\r\nline two\nthree"), "SERVER_ERROR internal error: see the peer's log\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mode := &fakeMode{err: tc.err}
			var logBuf syncBuffer
			logger := slog.New(slog.NewTextHandler(&logBuf, nil))
			srv, addr := startServer(t, Config{Logger: logger}, mode, Options{}, nil)
			c := dial(t, addr)
			r := bufio.NewReader(c)
			for _, req := range []string{"incr k 1\r\n", "get k\r\n", "set k 0 0 1\r\nx\r\n", "flush_all\r\n"} {
				assert.Equal(t, tc.want, roundTrip(t, c, r, req, func(string) bool { return true }), req)
			}
			// noreply hides the error but the command still ran.
			before := mode.calls.Load()
			assert.Equal(t, "ERROR\r\n", roundTrip(t, c, r, "delete k noreply\r\nget\r\n", isLine("ERROR")), "reply after noreply")
			assert.Equal(t, before+1, mode.calls.Load())
			assert.EqualValues(t, 6, srv.Counters().Errors)
			if strings.HasPrefix(tc.want, "SERVER_ERROR") && tc.want != replyOutOfMemory+"\r\n" {
				assert.Contains(t, logBuf.String(), fmt.Sprintf("err=%q", tc.err.Error()), "the detail is logged")
			} else {
				assert.NotContains(t, logBuf.String(), "request failed", "memcached's own replies are not logged")
			}
		})
	}
}

func TestServer_UnexpectedStatus(t *testing.T) {
	mode := &fakeMode{res: consistency.Result{Status: consistency.StatusNone}}
	_, addr := startServer(t, Config{}, mode, Options{}, nil)
	c := dial(t, addr)
	got := roundTrip(t, c, bufio.NewReader(c), "delete k\r\n", func(string) bool { return true })
	assert.Equal(t, replyInternal+"\r\n", got, "the status goes to the log, not the reply")
}

func TestServer_CountersTrackPipeline(t *testing.T) {
	mode := &fakeMode{
		res:     consistency.Result{Status: consistency.StatusDeleted},
		hold:    make(chan struct{}),
		entered: make(chan struct{}, 1),
	}
	// Over a pipe the four commands reach the server in one read.
	l := newPipeListener()
	srv, _ := startServer(t, Config{}, mode, Options{}, l)
	c, err := l.Dial()
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_, err = io.WriteString(c, "delete a\r\ndelete b\r\ndelete c\r\nfoo\r\n")
	require.NoError(t, err)
	<-mode.entered
	waitFor(t, "the three deletes in flight together", func() bool {
		got := srv.Counters()
		return got.InFlight == 3 && got.Queued == 1
	})
	close(mode.hold)
	r := bufio.NewReader(c)
	got := roundTrip(t, c, r, "", isLine("ERROR"))
	assert.Equal(t, "DELETED\r\nDELETED\r\nDELETED\r\nERROR\r\n", got)
	waitFor(t, "pipeline drained", func() bool {
		got := srv.Counters()
		return got == RequestCounters{Completed: 4, Errors: 1}
	})
}

func TestServer_Stats(t *testing.T) {
	extra := fakeStoreStats{
		st: StoreStats{CurrItems: 7, TotalItems: 9, LimitBytes: 1024},
		groups: map[string][]Stat{
			"items": {{"items:1:number", "7"}},
			"slabs": {{"1:chunk_size", "96"}, {"active_slabs", "1"}},
		},
	}
	cluster := clusterFunc(func() []Stat { return []Stat{{"peer_a", "up leader"}, {"bad\nname", "x\r\ny"}} })
	_, addr := startServer(t, Config{MaxConns: 10, ItemSizeMax: 4096}, nil, Options{Cluster: cluster, Extra: extra}, nil)
	c := dial(t, addr)
	r := bufio.NewReader(c)
	roundTrip(t, c, r, "set a 0 0 1\r\n1\r\nget a b\r\nincr a 1\r\nincr b 1\r\ndecr a 1\r\ndelete b\r\ntouch a 10\r\ngat 0 a b\r\ncas a 0 0 1 1\r\nx\r\nflush_all\r\n", isLine("OK"))

	stats := statLines(t, roundTrip(t, c, r, "stats\r\n", isLine("END")))
	for name, want := range map[string]string{
		"cmd_get": "2", "get_hits": "1", "get_misses": "1", "get_expired": "0",
		"cmd_set": "2", "cmd_flush": "1", "cmd_touch": "3", "touch_hits": "2", "touch_misses": "1",
		"incr_hits": "1", "incr_misses": "1", "decr_hits": "1", "decr_misses": "0",
		"delete_hits": "0", "delete_misses": "1", "cas_badval": "1", "cas_hits": "0", "cas_misses": "0",
		"curr_connections": "1", "total_connections": "1", "rejected_connections": "0",
		"max_connections": "10", "version": DefaultVersion, "pointer_size": "64",
		"curr_items": "7", "total_items": "9", "limit_maxbytes": "1024",
	} {
		assert.Equal(t, want, stats[name], name)
	}
	for _, name := range []string{"pid", "uptime", "time", "bytes_read", "bytes_written", "threads"} {
		assert.Regexp(t, `^\d+$`, stats[name], name)
	}

	settings := statLines(t, roundTrip(t, c, r, "stats settings\r\n", isLine("END")))
	assert.Equal(t, "10", settings["maxconns"])
	assert.Equal(t, "4096", settings["item_size_max"])
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	assert.Equal(t, port, settings["tcpport"])

	assert.Equal(t, "STAT items:1:number 7\r\nEND\r\n", roundTrip(t, c, r, "stats items\r\n", isLine("END")))
	assert.Equal(t, "STAT 1:chunk_size 96\r\nSTAT active_slabs 1\r\nEND\r\n", roundTrip(t, c, r, "stats slabs\r\n", isLine("END")))
	assert.Equal(t, "ERROR\r\n", roundTrip(t, c, r, "stats nosuchgroup\r\n", isLine("ERROR")))
	assert.Equal(t, "STAT peer_a up leader\r\nSTAT bad name x y\r\nEND\r\n", roundTrip(t, c, r, "stats cluster\r\n", isLine("END")))
	assert.Equal(t, "RESET\r\n", roundTrip(t, c, r, "stats reset\r\n", isLine("RESET")))
	stats = statLines(t, roundTrip(t, c, r, "stats\r\n", isLine("END")))
	assert.Equal(t, "0", stats["cmd_get"])
	assert.Equal(t, "1", stats["curr_connections"])
}

// TestServer_StatsAddUpConnections checks that the counts each connection
// keeps reach `stats` while it is open and after it closes, and that `stats
// reset` from one connection zeroes another's.
func TestServer_StatsAddUpConnections(t *testing.T) {
	srv, addr := startServer(t, Config{}, nil, Options{}, nil)
	get := func(c net.Conn, r *bufio.Reader) {
		roundTrip(t, c, r, "get a b\r\n", isLine("END"))
	}
	cmdGet := func(c net.Conn, r *bufio.Reader) string {
		return statLines(t, roundTrip(t, c, r, "stats\r\n", isLine("END")))["cmd_get"]
	}
	a, b := dial(t, addr), dial(t, addr)
	ra, rb := bufio.NewReader(a), bufio.NewReader(b)
	get(a, ra)
	get(b, rb)
	assert.Equal(t, "4", cmdGet(b, rb), "both open connections' gets")

	require.NoError(t, a.Close())
	waitFor(t, "a to close", func() bool { return srv.counters.currConns.Load() == 1 })
	assert.Equal(t, "4", cmdGet(b, rb), "a closed connection's gets stay counted")

	c := dial(t, addr)
	rc := bufio.NewReader(c)
	get(c, rc)
	assert.Equal(t, "RESET\r\n", roundTrip(t, b, rb, "stats reset\r\n", isLine("RESET")))
	assert.Equal(t, "0", cmdGet(c, rc), "reset from b zeroes c's and the closed a's")
	get(c, rc)
	assert.Equal(t, "2", cmdGet(b, rb))
}

// statLines maps the STAT lines of a stats reply to their values.
func statLines(t *testing.T, reply string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(reply, "END\r\n"), "\r\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, " ", 3)
		require.Len(t, f, 3, "line %q", line)
		require.Equal(t, "STAT", f[0])
		out[f[1]] = f[2]
	}
	return out
}

// fakeStoreStats answers the store's stats with fixed figures and lines.
type fakeStoreStats struct {
	st     StoreStats
	groups map[string][]Stat
}

func (f fakeStoreStats) StoreStats(context.Context) (StoreStats, error) { return f.st, nil }

func (f fakeStoreStats) GroupStats(_ context.Context, group string) ([]Stat, error) {
	return f.groups[group], nil
}

type clusterFunc func() []Stat

func (f clusterFunc) ClusterStats() []Stat { return f() }

func TestServer_ConnectionLimit(t *testing.T) {
	srv, addr := startServer(t, Config{MaxConns: 2}, nil, Options{}, nil)
	var held []net.Conn
	for range 2 {
		c := dial(t, addr)
		roundTrip(t, c, bufio.NewReader(c), "version\r\n", func(string) bool { return true })
		held = append(held, c)
	}
	extra := dial(t, addr)
	got, err := io.ReadAll(extra)
	require.NoError(t, err)
	assert.Equal(t, "ERROR Too many open connections\r\n", string(got))

	require.NoError(t, held[0].Close())
	waitFor(t, "a slot to free", func() bool { return srv.counters.currConns.Load() == 1 })
	c := dial(t, addr)
	assert.Equal(t, "END\r\n", roundTrip(t, c, bufio.NewReader(c), "get k\r\n", isLine("END")))
	assert.EqualValues(t, 1, srv.counters.rejectedConns.Load())
}

func TestServer_IdleTimeoutCloses(t *testing.T) {
	srv, addr := startServer(t, Config{IdleTimeout: 100 * time.Millisecond}, nil, Options{}, nil)
	c := dial(t, addr)
	r := bufio.NewReader(c)
	assert.Equal(t, "END\r\n", roundTrip(t, c, r, "get k\r\n", isLine("END")))
	start := time.Now()
	_, err := r.ReadByte()
	assert.ErrorIs(t, err, io.EOF)
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	waitFor(t, "connection to go", func() bool { return srv.counters.currConns.Load() == 0 })
}

func TestServer_CloseStopsEverything(t *testing.T) {
	mode := &fakeMode{hold: make(chan struct{}), entered: make(chan struct{}, 1)}
	srv, l, served := serveUnmanaged(t, Config{}, mode)
	c := dial(t, l.Addr().String())
	_, err := io.WriteString(c, "get k\r\n")
	require.NoError(t, err)
	<-mode.entered // a request is inside the mode

	require.NoError(t, srv.Close())
	require.NoError(t, <-served)
	require.NoError(t, srv.Close(), "second Close")
	_, err = io.ReadAll(c)
	assert.NoError(t, err, "client sees a clean close")
	assert.ErrorIs(t, srv.Serve(l), ErrServerClosed)
}

func TestServer_ListenAndServe(t *testing.T) {
	addr := memcachedtest.FreeAddr(t)
	srv, err := New(Config{Addr: addr}, newLocalMode(t), Options{})
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	waitFor(t, "listening", func() bool { return srv.Addr() != nil })
	assert.Equal(t, addr, srv.Addr().String())
	c := dial(t, addr)
	assert.Equal(t, "VERSION 1.6.18-memcons\r\n", roundTrip(t, c, bufio.NewReader(c), "version\r\n", func(string) bool { return true }))
	require.NoError(t, srv.Close())
	require.NoError(t, <-served)
}

func TestNew_Config(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero is defaults", Config{}, true},
		{"negative conns", Config{MaxConns: -1}, false},
		{"negative idle", Config{IdleTimeout: -time.Second}, false},
		{"tiny line", Config{MaxLineLength: 8}, false},
		{"line below a storage command", Config{MaxLineLength: 511}, false},
		{"shortest line", Config{MaxLineLength: 512}, true},
		{"huge line", Config{MaxLineLength: 2 << 20}, false},
		{"tiny items", Config{ItemSizeMax: 100}, false},
		{"huge items", Config{ItemSizeMax: 2 << 30}, false},
		{"too many conns", Config{MaxConns: 2 << 20}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, &fakeMode{}, Options{})
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrInvalidConfig)
			}
		})
	}
	_, err := New(Config{}, nil, Options{})
	assert.ErrorIs(t, err, ErrInvalidConfig)
}

func TestConfig_Validate(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	assert.Equal(t, 8192, DefaultConfig().MaxLineLength, "the default package main documents")
	fields, rest := field.All(Config{IdleTimeout: -time.Second}.Validate())
	assert.Empty(t, rest)
	var got []string
	for _, f := range fields {
		got = append(got, f.Error())
	}
	assert.Equal(t, []string{
		"invalid controller config: MaxConns must be between 1 and 1048576, got 0",
		"invalid controller config: IdleTimeout must not be negative, got -1s",
		"invalid controller config: MaxLineLength must be between 512 and 1048576, got 0",
		"invalid controller config: ItemSizeMax must be between 1024 and 1073741824, got 0",
	}, got, "a zero field is an error: only New reads it as the default")
}

func TestServer_ShutdownDrainsInFlightRequests(t *testing.T) {
	mode := &fakeMode{res: consistency.Result{Status: consistency.StatusStored}, hold: make(chan struct{}), entered: make(chan struct{}, 1)}
	srv, l, served := serveUnmanaged(t, Config{IdleTimeout: time.Minute}, mode)

	busy := dial(t, l.Addr().String())
	idle := dial(t, l.Addr().String())
	// Make sure the idle connection has been accepted: one still in the
	// listen backlog is reset, not closed, when the listener closes.
	_, err := io.WriteString(idle, "version\r\n")
	require.NoError(t, err)
	line, err := bufio.NewReader(idle).ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, line, "VERSION")
	_, err = io.WriteString(busy, "set k 0 0 1\r\nx\r\n")
	require.NoError(t, err)
	<-mode.entered // the set is inside the mode

	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.Shutdown(context.Background()) }()
	_, err = io.ReadAll(idle)
	require.NoError(t, err, "an idle connection closes cleanly at once")
	close(mode.hold)

	got, err := io.ReadAll(busy)
	require.NoError(t, err)
	assert.Equal(t, "STORED\r\n", string(got), "the in-flight request is answered before the close")
	require.NoError(t, <-shutdown)
	require.NoError(t, <-served)
}

func TestServer_ShutdownGivesUpAtDeadline(t *testing.T) {
	mode := &fakeMode{hold: make(chan struct{}), entered: make(chan struct{}, 1)}
	srv, l, served := serveUnmanaged(t, Config{}, mode)
	c := dial(t, l.Addr().String())
	_, err := io.WriteString(c, "get k\r\n")
	require.NoError(t, err)
	<-mode.entered

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, srv.Shutdown(ctx), context.Canceled)
	require.NoError(t, <-served)
}

// serveUnmanaged serves mode on a loopback listener and leaves stopping the
// server to the test; served yields Serve's result.
func serveUnmanaged(t *testing.T, cfg Config, mode consistency.Executor) (*Server, net.Listener, <-chan error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv, err := New(cfg, mode, Options{})
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	return srv, l, served
}

func TestStoreBase_CountsFromTheLastReset(t *testing.T) {
	st := func(total, evictions uint64) StoreStats {
		return StoreStats{CurrItems: 3, TotalItems: total, Evictions: evictions}
	}
	for _, tc := range []struct {
		name      string
		base, now StoreStats
		want      StoreStats
	}{
		{"never reset", StoreStats{}, st(9, 2), st(9, 2)},
		{"reset, then more stored", st(9, 2), st(12, 2), st(3, 0)},
		{"reset, nothing since", st(9, 2), st(9, 2), st(0, 0)},
		{"the store started over", st(9, 2), st(4, 0), st(4, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b storeBase
			b.set(tc.base)
			assert.Equal(t, tc.want, b.since(tc.now))
		})
	}
}
