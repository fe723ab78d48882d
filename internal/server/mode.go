package server

import (
	"fmt"

	"github.com/memcons/memcons/consistency"
)

// newMode builds the consistency mode the cluster was created with, over
// this peer's store and peer layer.
func (s *Server) newMode() (consistency.Mode, error) {
	switch s.cfg.Mode {
	case consistency.Eventual:
		return s.newEventualMode()
	case consistency.Linearizable, consistency.Sequential:
		return s.newOrderedMode()
	}
	return nil, fmt.Errorf("%w: mode %q", ErrConfig, s.cfg.Mode)
}
