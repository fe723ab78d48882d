package peer

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/internal/certs"
	"github.com/memcons/memcons/internal/certs/certtest"
)

// loadTLS loads f as a TLS source for a transport.
func loadTLS(t *testing.T, f certs.Files) *certs.Source {
	t.Helper()
	s, err := certs.Load(f)
	require.NoError(t, err)
	return s
}

func TestTransport_TLS(t *testing.T) {
	ca := certtest.NewCA(t, "cluster")
	other := certtest.NewCA(t, "other")
	good := func(name string) TLSConfigs { return loadTLS(t, ca.Issue(name)) }
	foreign := other.Issue("a") // signed by another CA, trusting the cluster's
	foreign.CA = ca.File
	distrustful := ca.Issue("a") // signed by the cluster CA, trusting another
	distrustful.CA = other.File
	tests := []struct {
		name     string
		acceptor TLSConfigs // b's TLS; nil is plain
		dialer   TLSConfigs // a's TLS; nil is plain
		wantOK   bool
		wantLog  string // b's log line
	}{
		{name: "both TLS from the cluster CA", acceptor: good("b"), dialer: good("a"), wantOK: true},
		{name: "plain dialer refused by a TLS peer", acceptor: good("b"),
			wantLog: "peer handshake refused: plain connection on a TLS peer port (this peer has cluster.peer_tls = on, the dialing peer has it off)"},
		{name: "TLS dialer refused by a plain peer", dialer: good("a"),
			wantLog: "peer handshake refused: TLS connection on a plain peer port"},
		{name: "dialer's certificate from another CA", acceptor: good("b"),
			dialer:  loadTLS(t, foreign),
			wantLog: certs.ErrUntrusted.Error()},
		{name: "dialer trusts another CA", acceptor: good("b"),
			dialer:  loadTLS(t, distrustful),
			wantLog: "peer TLS handshake refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCluster(t, "a", "b")
			_, logs := startAcceptor(t, c, func(cfg *TransportConfig) { cfg.TLS = tt.acceptor })
			cfg := c.transportConfig("a")
			cfg.TLS = tt.dialer
			a, err := NewTransport(cfg)
			require.NoError(t, err)
			t.Cleanup(func() { _ = a.Close() })

			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			conn, err := a.Dial(ctx, "b", ChannelHeartbeat)
			if !tt.wantOK {
				if conn != nil {
					_ = conn.Close()
				}
				require.Error(t, err)
				waitLog(t, logs, tt.wantLog)
				return
			}
			require.NoError(t, err)
			defer func() { _ = conn.Close() }()
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(waitLimit)))
			line := make([]byte, 2)
			_, err = io.ReadFull(conn, line)
			require.NoError(t, err)
			assert.Equal(t, "a\n", string(line), "the HMAC handshake ran inside TLS and named the dialer")
		})
	}
}

// TestTransport_TLSReload swaps the acceptor's certificates for ones from
// another CA: dialers of the old CA are refused from then on, a dialer of
// the new one is let in, without restarting the transport.
func TestTransport_TLSReload(t *testing.T) {
	oldCA, newCA := certtest.NewCA(t, "old"), certtest.NewCA(t, "new")
	bTLS := loadTLS(t, oldCA.Issue("b"))
	c := newTestCluster(t, "a", "b")
	_, logs := startAcceptor(t, c, func(cfg *TransportConfig) { cfg.TLS = bTLS })
	dial := func(f certs.Files) error {
		cfg := c.transportConfig("a")
		cfg.TLS = loadTLS(t, f)
		a, err := NewTransport(cfg)
		require.NoError(t, err)
		defer func() { _ = a.Close() }()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		conn, err := a.Dial(ctx, "b", ChannelHeartbeat)
		if conn != nil {
			_ = conn.Close()
		}
		return err
	}
	require.NoError(t, dial(oldCA.Issue("a")), "before the reload")
	require.NoError(t, bTLS.Reload(newCA.Issue("b")))
	require.Error(t, dial(oldCA.Issue("a")), "a peer of the old CA after the reload")
	waitLog(t, logs, "peer TLS handshake refused")
	require.NoError(t, dial(newCA.Issue("a")), "a peer of the new CA")
}
