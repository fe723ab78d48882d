package controller

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/internal/instrument"
)

// countingObserver counts its observations and keeps the largest.
type countingObserver struct {
	mu  sync.Mutex
	n   int
	max float64
}

func (o *countingObserver) Observe(v float64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n++
	o.max = max(o.max, v)
}

// countingInstruments hands out one countingObserver per command.
type countingInstruments map[string]*countingObserver

func (ci countingInstruments) CommandLatency(cmd string) instrument.Observer {
	if o, ok := ci[cmd]; ok {
		return o
	}
	return nil
}

// TestServer_InstrumentsTimeEachAnsweredCommand sends a pipeline and checks
// that each answered command is timed once under its own word, that a
// refused line is timed under none, and that Counts agrees with `stats`.
func TestServer_InstrumentsTimeEachAnsweredCommand(t *testing.T) {
	ci := countingInstruments{}
	for _, name := range CommandNames() {
		ci[name] = &countingObserver{}
	}
	srv, addr := startServer(t, Config{}, nil, Options{Instruments: ci}, nil)
	c := dial(t, addr)
	req := "set a 0 0 1\r\nx\r\nget a\r\nget a b\r\ngets a\r\ndelete b\r\nincr a 1\r\nversion\r\nbogus\r\n"
	<-sendAll(c, []byte(req))
	_, _, err := readUntil(c, []byte("ERROR\r\n"))
	require.NoError(t, err)

	want := map[string]int{"set": 1, "get": 2, "gets": 1, "delete": 1, "incr": 1, "version": 1}
	for _, name := range CommandNames() {
		o := ci[name]
		o.mu.Lock()
		assert.Equal(t, want[name], o.n, "%s timed once per command", name)
		if o.n > 0 {
			assert.Positive(t, o.max, "%s latency is a positive number of seconds", name)
			assert.Less(t, o.max, ioTimeout.Seconds(), "%s latency is in seconds", name)
		}
		o.mu.Unlock()
	}

	got := srv.Counts()
	for _, tt := range []struct {
		name      string
		got, want uint64
	}{
		{"get hits", got.Hits["get"], 3},
		{"get misses", got.Misses["get"], 1},
		{"delete misses", got.Misses["delete"], 1},
		{"incr misses (a is not a number)", got.Misses["incr"], 0},
		{"cmd_get (keys)", got.CmdGet, 4},
		{"cmd_set", got.CmdSet, 1},
		{"error replies (incr on x, bogus)", got.Errors, 2},
		{"connections", got.TotalConns, 1},
		{"current connections", got.CurrConns, 1},
	} {
		assert.Equal(t, tt.want, tt.got, tt.name)
	}
	assert.Positive(t, got.BytesRead)
	// The write is counted once the socket took it, which may be after the
	// client read it.
	waitFor(t, "bytes written counted", func() bool { return srv.Counts().BytesWritten > 0 })
}

// TestServer_SetInstrumentsStartsAndStopsTiming checks that a server
// without Instruments times nothing, and that SetInstruments turns timing
// on and off while a connection is served.
func TestServer_SetInstrumentsStartsAndStopsTiming(t *testing.T) {
	srv, addr := startServer(t, Config{}, nil, Options{}, nil)
	c := dial(t, addr)
	ci := countingInstruments{"version": &countingObserver{}}
	version := func() {
		t.Helper()
		<-sendAll(c, []byte("version\r\n"))
		_, _, err := readUntil(c, []byte("\r\n"))
		require.NoError(t, err)
	}
	for _, step := range []struct {
		in   Instruments
		want int // observations after this step's command
	}{{nil, 0}, {ci, 1}, {ci, 2}, {nil, 2}} {
		srv.SetInstruments(step.in)
		version()
		ci["version"].mu.Lock()
		assert.Equal(t, step.want, ci["version"].n)
		ci["version"].mu.Unlock()
	}
}
