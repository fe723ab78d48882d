package controller

import (
	"time"
)

// Limits are the connection limits of a Server that can change while it
// runs (on a config reload); a connection reads them at each command.
type Limits struct {
	MaxConns      int           // as Config.MaxConns
	IdleTimeout   time.Duration // as Config.IdleTimeout
	MaxLineLength int           // as Config.MaxLineLength
}

// limits returns the limits in force: cfg's until SetLimits (and for a
// Server not made by New, as tests make).
func (s *Server) limits() *Limits {
	if l := s.live.Load(); l != nil {
		return l
	}
	return &Limits{MaxConns: s.cfg.MaxConns, IdleTimeout: s.cfg.IdleTimeout, MaxLineLength: s.cfg.MaxLineLength}
}

// SetLimits replaces the limits for every connection, open ones included:
// an idle connection gets the new IdleTimeout from its next read on, and a
// lower MaxConns turns away new connections (open ones stay). It refuses a
// value Config.Validate refuses, keeping the limits it had.
func (s *Server) SetLimits(l Limits) error {
	cfg := s.cfg
	cfg.MaxConns, cfg.IdleTimeout, cfg.MaxLineLength = l.MaxConns, l.IdleTimeout, l.MaxLineLength
	if err := cfg.Validate(); err != nil {
		return err
	}
	old := s.limits()
	s.live.Store(&l)
	if l.IdleTimeout != old.IdleTimeout {
		s.rearmIdle(l.IdleTimeout)
	}
	return nil
}

// rearmIdle gives every open connection a read deadline from the new idle
// timeout at once, so one already waiting does not keep the old one. A
// connection that loaded the old limits just before may set its deadline
// after this; that read then keeps the old timeout, the next one has the
// new.
func (s *Server) rearmIdle(t time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return // Shutdown's wake-up deadlines must stay
	}
	var deadline time.Time
	if t > 0 {
		deadline = time.Now().Add(t)
	}
	for c := range s.conns {
		_ = c.nc.SetReadDeadline(deadline)
	}
}

// Limits returns the limits in force.
func (s *Server) Limits() Limits { return *s.limits() }
