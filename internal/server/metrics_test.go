package server

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
)

// TestStart_RefusesATakenMetricsAddr checks that a peer whose metrics
// address is taken does not start, with an error naming that address.
func TestStart_RefusesATakenMetricsAddr(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = taken.Close() }()
	client, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	peerLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)

	cfg := Config{ClusterName: "test", Mode: consistency.Eventual, Secret: "s3cret", Self: "a", Store: StoreMemory,
		DataDir: t.TempDir(), ClientListener: client, PeerListener: peerLn,
		Peers: []PeerAddrs{{Name: "a", ClientAddr: client.Addr().String(), PeerAddr: peerLn.Addr().String(),
			MetricsAddr: taken.Addr().String()}}}
	s, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = s.Run(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "metrics address "+taken.Addr().String())
	assert.Empty(t, s.MetricsAddr())
	_ = client.Close() // Start stopped before it took the listeners over
	_ = peerLn.Close()
}
