package server

import (
	"fmt"

	"github.com/memcons/memcons/consistency/eventual"
	"github.com/memcons/memcons/consistency/ordered"
	"github.com/memcons/memcons/internal/metrics"
)

// newMetrics builds the peer's metrics and its HTTP server, which is
// listening only once Start runs and only with a metrics address. They are
// built even without one, so that a reload may turn them on later: the
// counters then count from the peer's start, the command and replica call
// latencies (measured on the hot paths, so off with the endpoint) from the
// moment it was turned on.
func (s *Server) newMetrics() {
	s.metrics = metrics.New()
	s.metricsHTTP = metrics.NewHTTPServer(s.metrics.Registry(), s.cfg.Pprof, s.log)
}

// registerMetrics adds the collectors that read the built parts at scrape
// time; it runs once the controller exists.
func (s *Server) registerMetrics() error {
	err := s.metrics.Register(
		metrics.Info(s.cfg.Self, string(s.cfg.Mode), string(s.cfg.Store)),
		metrics.Controller(s.ctrl.Counts),
		metrics.Peers(s.members.Members),
		metrics.Replica(func() bool { return s.health.status() == "ok" }),
	)
	switch m := s.mode.(type) {
	case *eventual.Mode:
		err = s.metrics.Register(metrics.Eventual(m.Stats))
	case *ordered.Mode:
		err = s.metrics.Register(metrics.Ordered(m.Stats))
	}
	if err != nil {
		return fmt.Errorf("server %s: metrics: %w", s.cfg.Self, err)
	}
	return nil
}

// SetMetricsAddr moves the metrics endpoint to addr ("" turns it off)
// while the peer runs; on error it keeps serving where it was. A config
// reload calls it with the new metrics_addr.
func (s *Server) SetMetricsAddr(addr string) error {
	if err := s.metricsHTTP.SetAddr(addr); err != nil {
		return fmt.Errorf("server %s: %w", s.cfg.Self, err)
	}
	// The latencies of client commands and replica calls are measured on
	// their hot paths: only while the endpoint is on.
	if addr == "" {
		s.ctrl.SetInstruments(nil)
	} else {
		s.ctrl.SetInstruments(s.metrics)
	}
	s.metrics.SetTiming(addr != "")
	return nil
}

// SetPprof turns /debug/pprof/ on the metrics endpoint on or off.
func (s *Server) SetPprof(on bool) { s.metricsHTTP.SetPprof(on) }

// MetricsAddr returns the address the metrics endpoint listens on, or ""
// when it is off.
func (s *Server) MetricsAddr() string { return s.metricsHTTP.Addr() }
