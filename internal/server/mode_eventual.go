package server

import (
	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/consistency/eventual"
)

// newEventualMode builds eventual mode: local writes, push and sync over
// peer.ChannelSync.
func (s *Server) newEventualMode() (consistency.Mode, error) {
	names := make([]string, 0, len(s.cfg.Peers))
	for _, p := range s.cfg.Peers {
		names = append(names, p.Name)
	}
	m, err := eventual.New(s.store, s.cfg.Eventual, eventual.Options{
		Self:        s.cfg.Self,
		Peers:       names,
		DataDir:     s.cfg.DataDir,
		ItemSizeMax: s.cfg.ItemSizeMax,
		PeerTimeout: s.cfg.HeartbeatTimeout,
		Trans:       s.trans,
		Up:          s.members.Up,
		Logger:      s.log,
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}
