package server

import "github.com/memcons/memcons/consistency"

// newEventualMode builds eventual mode: local writes, push and sync.
func (s *Server) newEventualMode() (consistency.Mode, error) {
	return consistency.NewLocal(s.store, consistency.LocalConfig{
		Kind: s.cfg.Mode, ItemSizeMax: s.cfg.ItemSizeMax, Logger: s.log,
	}), nil
}
