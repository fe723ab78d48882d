package server

import "github.com/memcons/memcons/consistency"

// newOrderedMode builds linearizable or sequential mode on the Raft log.
func (s *Server) newOrderedMode() (consistency.Mode, error) {
	return consistency.NewLocal(s.store, consistency.LocalConfig{
		Kind: s.cfg.Mode, ItemSizeMax: s.cfg.ItemSizeMax, Logger: s.log,
	}), nil
}
