package server

import (
	"time"
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
