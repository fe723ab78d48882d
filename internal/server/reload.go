package server

import (
	"time"

	"github.com/memcons/memcons/consistency/eventual"
	"github.com/memcons/memcons/consistency/ordered"
	"github.com/memcons/memcons/peer"
)

// The setters below change one live setting of a running peer each; package
// main's reload table calls them. They are called by one goroutine at a
// time (the reloader).

// SetIdleTimeout changes the client idle timeout, for open connections too.
func (s *Server) SetIdleTimeout(d time.Duration) error {
	l := s.ctrl.Limits()
	l.IdleTimeout = d
	return s.ctrl.SetLimits(l)
}

// SetMaxConns changes the client connection limit; connections over a
// lowered limit stay open, new ones are turned away.
func (s *Server) SetMaxConns(n int) error {
	l := s.ctrl.Limits()
	l.MaxConns = n
	return s.ctrl.SetLimits(l)
}

// SetMaxLineLength changes the longest command line accepted.
func (s *Server) SetMaxLineLength(n int) error {
	l := s.ctrl.Limits()
	l.MaxLineLength = n
	return s.ctrl.SetLimits(l)
}

// SetEventualTuning changes eventual mode's push and sync tuning (sync
// interval, push batch and delay); in the other modes it does nothing, as
// those settings do not apply to them.
func (s *Server) SetEventualTuning(c eventual.Config) error {
	m, ok := s.mode.(*eventual.Mode)
	if !ok {
		return nil
	}
	return m.SetTuning(eventual.Tuning{SyncInterval: c.SyncInterval, PushBatch: c.PushBatch, PushDelay: c.PushDelay})
}

// SetOrderedTimeouts changes the linearizable and sequential modes'
// leader wait and request timeout; in eventual mode it does nothing.
func (s *Server) SetOrderedTimeouts(c ordered.Config) error {
	m, ok := s.mode.(*ordered.Mode)
	if !ok {
		return nil
	}
	return m.SetTimeouts(ordered.Timeouts{LeaderWait: c.LeaderWait, RequestTimeout: c.RequestTimeout})
}

// SetSnapshotting changes when the linearizable and sequential modes
// snapshot (snapshot_threshold, snapshot_interval); in eventual mode it
// does nothing.
func (s *Server) SetSnapshotting(c ordered.Config) error {
	m, ok := s.mode.(*ordered.Mode)
	if !ok {
		return nil
	}
	return m.SetSnapshotting(c.Snapshotting())
}

// SetHeartbeatTiming changes the heartbeat interval and the silence after
// which a peer is marked down; the replica health probe keeps the interval
// it started with.
func (s *Server) SetHeartbeatTiming(interval, timeout time.Duration) error {
	return s.members.SetTiming(peer.Timing{Interval: interval, Timeout: timeout})
}
