// Package metrics is one peer's Prometheus instrumentation: a registry of
// its own (never the default one), the latency histograms the packages
// observe through instrument.Observer, collectors that read the packages'
// snapshots at scrape time, and the HTTP server of /metrics (and
// /debug/pprof/ when enabled) whose address can change while the peer runs.
package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/memcons/memcons/consistency/ordered"
	"github.com/memcons/memcons/controller"
	"github.com/memcons/memcons/internal/instrument"
)

// namespace starts every memcons series name.
const namespace = "memcons"

// latencyBuckets span a pipelined in-memory hit (tens of microseconds) to
// a request that waited out a leader election (seconds).
var latencyBuckets = prometheus.ExponentialBuckets(25e-6, 2.5, 14) // 25µs .. ~3.7s

// Metrics holds one peer's registry and the histograms its packages
// observe. Its methods are safe for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	commands map[string]prometheus.Observer // by command word
	replica  *prometheus.HistogramVec       // by replica operation
	apply    prometheus.Histogram
	snapshot prometheus.Histogram
	timing   atomic.Bool // replica calls are timed (Store)
}

var _ controller.Instruments = (*Metrics)(nil)

// New returns the metrics of one peer: the Go runtime and process
// collectors and every latency histogram, registered on a new registry.
func New() *Metrics {
	m := &Metrics{
		reg:      prometheus.NewRegistry(),
		commands: map[string]prometheus.Observer{},
	}
	cmd := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "command_duration_seconds",
		Help:    "Time from a parsed client command to its answer, by command; _count is the commands answered.",
		Buckets: latencyBuckets,
	}, []string{"command"})
	for _, name := range controller.CommandNames() {
		m.commands[name] = cmd.WithLabelValues(name) // resolved once, here
	}
	m.replica = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "replica_call_duration_seconds",
		Help:    "Time of one call to this peer's replica, by operation.",
		Buckets: latencyBuckets,
	}, []string{"op"})
	m.apply = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "raft_apply_duration_seconds",
		Help:    "Time to apply one batch of committed raft entries to the replica.",
		Buckets: latencyBuckets,
	})
	m.snapshot = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "raft_snapshot_duration_seconds",
		Help:    "Time to take one raft snapshot of the replica, dump and persist; _count is the snapshots taken.",
		Buckets: prometheus.ExponentialBuckets(1e-3, 4, 10), // 1ms .. ~4.4min
	})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		cmd, m.replica, m.apply, m.snapshot,
	)
	return m
}

// SetTiming turns the timing of replica calls on or off: the one
// measurement on the replica's hot path, so off while nobody scrapes.
func (m *Metrics) SetTiming(on bool) { m.timing.Store(on) }

// Registry returns the peer's registry, which the HTTP server gathers.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Register adds collectors (the sources of one peer) to the registry.
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// CommandLatency returns the histogram of the named command's latency.
func (m *Metrics) CommandLatency(command string) instrument.Observer {
	if o, ok := m.commands[command]; ok {
		return o
	}
	return nil
}

// Ordered returns the instruments of the linearizable and sequential modes.
func (m *Metrics) Ordered() ordered.Instruments {
	return ordered.Instruments{Apply: m.apply, Snapshot: m.snapshot}
}
