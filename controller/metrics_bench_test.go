package controller

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/internal/instrument"
)

// histograms are Instruments backed by a real prometheus histogram per
// command, as internal/metrics builds them.
type histograms map[string]prometheus.Observer

func (h histograms) CommandLatency(cmd string) instrument.Observer { return h[cmd] }

func newHistograms() histograms {
	vec := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "bench_command_duration_seconds", Help: "bench",
		Buckets: prometheus.ExponentialBuckets(25e-6, 2.5, 14),
	}, []string{"command"})
	h := histograms{}
	for _, name := range CommandNames() {
		h[name] = vec.WithLabelValues(name)
	}
	return h
}

// BenchmarkServer_PipelineMetrics is BenchmarkServer_Pipeline without and
// with per-command latency histograms; run it with -count to alternate
// the two in one run.
func BenchmarkServer_PipelineMetrics(b *testing.B) {
	for _, tt := range []struct {
		name string
		in   Instruments
	}{{"metrics=off", nil}, {"metrics=on", newHistograms()}} {
		b.Run(tt.name, func(b *testing.B) {
			_, addr := startServer(b, Config{}, nil, Options{Instruments: tt.in}, nil)
			c := dial(b, addr)
			var req bytes.Buffer
			req.WriteString("set bench 0 0 10\r\n0123456789\r\n")
			for range 99 {
				req.WriteString("get bench\r\n")
			}
			reply := "STORED\r\n" + repeat("VALUE bench 0 10\r\n0123456789\r\nEND\r\n", 99)
			buf := make([]byte, len(reply))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_, err := c.Write(req.Bytes())
				require.NoError(b, err)
				_, err = io.ReadFull(c, buf)
				require.NoError(b, err)
			}
			b.StopTimer()
			require.Equal(b, reply, string(buf))
		})
	}
}

// BenchmarkConn_HandleOverhead measures what timing adds to one command of
// a batch: conn.handle around a handler that does nothing, without
// Instruments (one nil-map lookup) and with a prometheus histogram
// (lookup, one clock reading, one Observe). No socket, so the machine's
// load moves it less than the pipeline benchmark.
func BenchmarkConn_HandleOverhead(b *testing.B) {
	spec := &command{name: "bench", handle: func(*conn, *pending) error { return nil }}
	hist := newHistograms()
	on := latencyMap{spec: hist["get"]}
	for _, tt := range []struct {
		name    string
		latency latencyMap
		first   bool // every command first of its batch: two clock readings
	}{
		{"metrics=off", nil, false},
		{"metrics=on", on, false},
		{"metrics=on,first-of-batch", on, true},
	} {
		b.Run(tt.name, func(b *testing.B) {
			srv := &Server{started: time.Now()}
			if tt.latency != nil {
				srv.latency.Store(&tt.latency)
			}
			c := &conn{srv: srv}
			p := &pending{spec: spec}
			b.ReportAllocs()
			for b.Loop() {
				if tt.first {
					c.mark = 0
				}
				_ = c.handle(p)
			}
		})
	}
}
