package server

import (
	"context"
	"net"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/consistency/eventual"
	"github.com/memcons/memcons/peer"
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
		Dial: func(ctx context.Context, name string) (net.Conn, error) {
			return s.trans.Dial(ctx, name, peer.ChannelSync)
		},
		Up:     s.members.Up,
		Logger: s.log,
	})
	if err != nil {
		return nil, err
	}
	s.trans.Handle(peer.ChannelSync, m.ServeConn)
	return m, nil
}
