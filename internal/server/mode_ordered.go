package server

import (
	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/consistency/ordered"
)

// newOrderedMode builds linearizable or sequential mode on the Raft log.
func (s *Server) newOrderedMode() (consistency.Mode, error) {
	cfg := s.cfg.Ordered
	cfg.Kind = s.cfg.Mode
	cfg.Self = s.cfg.Self
	cfg.Peers = nil
	for _, p := range s.cfg.Peers {
		cfg.Peers = append(cfg.Peers, p.Name)
	}
	cfg.DataDir = s.cfg.DataDir
	cfg.ItemSizeMax = s.cfg.ItemSizeMax
	if cfg.StoreTimeout == 0 {
		cfg.StoreTimeout = s.cfg.StoreTimeout
	}
	cfg.Logger = s.log
	return ordered.New(s.store, s.trans, cfg)
}
