package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/certs"
	"github.com/memcons/memcons/internal/certs/certtest"
	"github.com/memcons/memcons/internal/memcachedtest"
)

// tlsPeer is a one-peer config over the memory store with TLS files f.
func tlsPeer(t *testing.T, f certs.Files, plain bool) Config {
	t.Helper()
	addrs := memcachedtest.FreeAddrs(t, 3)
	c := DefaultConfig()
	c.ClusterName, c.Mode, c.Secret, c.Self, c.Store = "test", consistency.Eventual, "s3cret", "a", StoreMemory
	c.DataDir = t.TempDir()
	c.TLSCert, c.TLSKey, c.TLSCA = f.Cert, f.Key, f.CA
	p := PeerAddrs{Name: "a", ClientTLSAddr: addrs[0], PeerAddr: addrs[1]}
	if plain {
		p.ClientAddr = addrs[2]
	}
	c.Peers = []PeerAddrs{p}
	return c
}

func TestServer_TLSClientPort(t *testing.T) {
	ca := certtest.NewCA(t, "test")
	pem, err := os.ReadFile(ca.File)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pem))
	noCA := ca.Issue("a")
	noCA.CA = ""
	tests := []struct {
		name  string
		files certs.Files
		plain bool // a plain client port beside the TLS one
	}{
		{"TLS only, no client certificates asked", noCA, false},
		{"beside the plain port", noCA, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := New(tlsPeer(t, tt.files, tt.plain))
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, srv.Start(ctx))
			t.Cleanup(func() { assert.NoError(t, srv.Close()) })

			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", srv.ClientTLSAddr(),
				&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
			require.NoError(t, err)
			defer func() { _ = c.Close() }()
			require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
			_, err = c.Write([]byte("set k 0 0 1\r\nv\r\nget k\r\n"))
			require.NoError(t, err)
			r := bufio.NewReader(c)
			for _, want := range []string{"STORED\r\n", "VALUE k 0 1\r\n", "v\r\n", "END\r\n"} {
				line, err := r.ReadString('\n')
				require.NoError(t, err)
				assert.Equal(t, want, line)
			}
			if !tt.plain {
				assert.Empty(t, srv.ClientAddr(), "no plain client port")
				return
			}
			mc, err := memcachedtest.Dial(srv.ClientAddr(), 10*time.Second)
			require.NoError(t, err)
			defer func() { _ = mc.Close() }()
			it, err := mc.Get("k")
			require.NoError(t, err)
			assert.Equal(t, "v", string(it.Value), "both ports serve the same data")
		})
	}
}

func TestServer_ReloadTLS(t *testing.T) {
	ca := certtest.NewCA(t, "test")
	f := ca.Issue("a")
	srv, err := New(tlsPeer(t, f, false))
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	broken := f
	broken.Key = ca.Issue("other").Key

	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantErr string
	}{
		{"same files again", func(*Config) {}, ""},
		{"a key that does not match", func(c *Config) { c.TLSKey = broken.Key }, "private key does not match"},
		{"turning TLS off", func(c *Config) { c.TLSCert, c.TLSKey, c.TLSCA = "", "", "" }, "needs a restart"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tlsPeer(t, f, false)
			tt.mutate(&cfg)
			err := srv.ReloadTLS(cfg)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			assert.Equal(t, f.Key, srv.certs.Files().Key, "the old certificates stay")
		})
	}
}
