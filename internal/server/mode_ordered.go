package server

import (
	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/consistency/ordered"
)

// newOrderedMode builds linearizable or sequential mode on the Raft log.
func (s *Server) newOrderedMode() (consistency.Mode, error) {
	cfg := s.cfg.orderedConfig()
	cfg.Logger = s.log
	cfg.Stopping = s.stopping.Load
	cfg.Up = s.members.Up
	cfg.Instruments = s.metrics.Ordered()
	return ordered.New(s.store, s.trans, cfg)
}
