package testcluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/cli"
	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/certs"
	"github.com/memcons/memcons/internal/certs/certtest"
	"github.com/memcons/memcons/internal/memcachedtest"
	"github.com/memcons/memcons/internal/server"
)

// tlsCluster is a three-peer linearizable cluster with TLS on every port:
// a TLS client port beside the plain one, and mutual TLS between peers.
type tlsCluster struct {
	*Cluster
	ca      *certtest.CA
	client  certs.Files // a client certificate from the cluster CA
	tlsAddr []string    // each peer's TLS client port
}

func startTLSCluster(t *testing.T, store server.StoreKind) *tlsCluster {
	t.Helper()
	tc := &tlsCluster{ca: certtest.NewCA(t, "cluster")}
	tc.client = tc.ca.Issue("client")
	tc.tlsAddr = memcachedtest.FreeAddrs(t, 3)
	files := map[string]certs.Files{}
	for i := range 3 {
		name := fmt.Sprintf("peer%d", i+1)
		files[name] = tc.ca.Issue(name)
	}
	tc.Cluster = Start(t, Options{Mode: consistency.Linearizable, Store: store, Configure: func(c *server.Config) {
		peers := append([]server.PeerAddrs(nil), c.Peers...)
		for i := range peers {
			peers[i].ClientTLSAddr = tc.tlsAddr[i]
		}
		c.Peers = peers
		f := files[c.Self]
		c.TLSCert, c.TLSKey, c.TLSCA, c.PeerTLS = f.Cert, f.Key, f.CA, true
	}})
	require.NoError(t, tc.WaitAllUp(slack), "peers authenticate each other over mutual TLS")
	return tc
}

// clientTLS is the TLS config of a client holding tc.client.
func (tc *tlsCluster) clientTLS(t *testing.T) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(tc.client.Cert, tc.client.Key)
	require.NoError(t, err)
	pem, err := os.ReadFile(tc.ca.File)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pem))
	return &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// pymemcacheScript runs set, get (through every peer), gets, cas and incr
// through each peer given, over TLS with a client certificate.
const pymemcacheScript = `
import ssl, sys
from pymemcache.client.base import Client
ca, cert, key, prefix = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
clients = []
for a in sys.argv[5:]:
    host, port = a.rsplit(":", 1)
    clients.append(Client((host, int(port)), tls_context=ctx, default_noreply=False, timeout=20, connect_timeout=20))
def check(what, got, want):
    if got != want:
        print("%s: got %r, want %r" % (what, got, want))
        sys.exit(1)
for i, c in enumerate(clients):
    k = "%s%d" % (prefix, i)
    check("set via %d" % i, c.set(k, b"v1"), True)
    for j, o in enumerate(clients):
        check("get via %d of a set via %d" % (j, i), o.get(k), b"v1")
    v, cas = c.gets(k)
    check("gets", v, b"v1")
    check("cas", c.cas(k, b"v2", cas), True)
    check("cas with a stale unique", c.cas(k, b"v3", cas), False)
    check("get after cas", clients[(i + 1) % len(clients)].get(k), b"v2")
    check("set counter", c.set(k + "n", b"10"), True)
    check("incr", c.incr(k + "n", 5), 15)
print("ok")
`

// debianPython is where Debian's python3-pymemcache is importable from;
// python3 on PATH may be another installation.
func debianPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import pymemcache").Run() == nil {
			return py
		}
	}
	if os.Getenv("MEMCONS_REQUIRE_MEMCACHED") == "1" {
		t.Fatal("pymemcache is not installed (Debian: apt-get install python3-pymemcache)")
	}
	t.Skip("pymemcache is not installed (Debian: apt-get install python3-pymemcache)")
	return ""
}

func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("MEMCONS_REQUIRE_MEMCACHED") == "1" {
			t.Fatalf("%s is not installed", name)
		}
		t.Skipf("%s is not installed", name)
	}
}

// TestTLS_ClientPort runs real TLS memcache clients through every peer of
// a cluster whose peers also talk mutual TLS, and checks that the TLS port
// refuses what memcached -Z with a CA refuses.
func TestTLS_ClientPort(t *testing.T) {
	for _, store := range []server.StoreKind{server.StoreMemory, server.StoreMemcached} {
		t.Run(string(store), func(t *testing.T) {
			tc := startTLSCluster(t, store)
			tests := []struct {
				name string
				run  func(t *testing.T)
			}{
				{"pymemcache with tls_context: set, get, cas, incr through every peer", func(t *testing.T) {
					py := debianPython(t)
					script := filepath.Join(t.TempDir(), "tls_client.py")
					require.NoError(t, os.WriteFile(script, []byte(pymemcacheScript), 0o600))
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					defer cancel()
					args := append([]string{script, tc.ca.File, tc.client.Cert, tc.client.Key, "py" + string(store)}, tc.tlsAddr...)
					out, err := exec.CommandContext(ctx, py, args...).CombinedOutput()
					require.NoError(t, err, "pymemcache: %s", out)
					assert.Equal(t, "ok\n", string(out))
				}},
				{"gomemcache through its dial hook", func(t *testing.T) {
					d := &tls.Dialer{Config: tc.clientTLS(t)}
					for i, addr := range tc.tlsAddr {
						mc := memcache.New(addr)
						mc.Timeout = clientTimeout
						mc.DialContext = d.DialContext
						t.Cleanup(func() { _ = mc.Close() })
						key := fmt.Sprintf("go%s%d", store, i)
						require.NoError(t, mc.Set(&memcache.Item{Key: key, Value: []byte("10")}))
						it, err := mc.Get(key)
						require.NoError(t, err)
						assert.Equal(t, "10", string(it.Value))
						it.Value = []byte("20")
						require.NoError(t, mc.CompareAndSwap(it))
						n, err := mc.Increment(key, 3)
						require.NoError(t, err)
						assert.Equal(t, uint64(23), n)
					}
				}},
				{"openssl s_client", func(t *testing.T) {
					requireTool(t, "openssl")
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					cmd := exec.CommandContext(ctx, "openssl", "s_client", "-connect", tc.tlsAddr[0], "-quiet",
						"-verify_return_error", "-CAfile", tc.ca.File, "-cert", tc.client.Cert, "-key", tc.client.Key)
					cmd.Stdin = strings.NewReader("set ossl 0 0 2\r\nhi\r\nget ossl\r\nquit\r\n")
					out, err := cmd.CombinedOutput()
					require.NoError(t, err, "s_client: %s", out)
					assert.Contains(t, string(out), "STORED\r\nVALUE ossl 0 2\r\nhi\r\nEND\r\n")
				}},
				{"a plain client on the TLS port gets no reply", func(t *testing.T) {
					c, err := net.DialTimeout("tcp", tc.tlsAddr[1], clientTimeout)
					require.NoError(t, err)
					defer func() { _ = c.Close() }()
					require.NoError(t, c.SetDeadline(time.Now().Add(clientTimeout)))
					_, err = c.Write([]byte("version\r\n"))
					require.NoError(t, err)
					got, err := bufio.NewReader(c).ReadString('\n')
					assert.NotContains(t, got, "VERSION")
					assert.False(t, isTimeout(err), "the peer closes the connection rather than waiting: %v", err)
				}},
				{"a TLS client without a certificate is refused (tls_ca is set)", func(t *testing.T) {
					cfg := tc.clientTLS(t)
					cfg.Certificates = nil
					c, err := tls.DialWithDialer(&net.Dialer{Timeout: clientTimeout}, "tcp", tc.tlsAddr[2], cfg)
					if err == nil {
						defer func() { _ = c.Close() }()
						require.NoError(t, c.SetDeadline(time.Now().Add(clientTimeout)))
						_, _ = c.Write([]byte("version\r\n"))
						_, err = bufio.NewReader(c).ReadString('\n')
					}
					require.Error(t, err)
					assert.Contains(t, err.Error(), "certificate required")
				}},
				{"the plain port serves beside the TLS one, the same data", func(t *testing.T) {
					mc := memcache.New(tc.tlsAddr[0])
					mc.Timeout = clientTimeout
					mc.DialContext = (&tls.Dialer{Config: tc.clientTLS(t)}).DialContext
					t.Cleanup(func() { _ = mc.Close() })
					require.NoError(t, mc.Set(&memcache.Item{Key: "both", Value: []byte("ports")}))
					it, err := newMemcache(t, tc.ClientAddr(1)).Get("both")
					require.NoError(t, err)
					assert.Equal(t, "ports", string(it.Value))
				}},
				{"show lists every peer's TLS port", func(t *testing.T) {
					var out bytes.Buffer
					require.NoError(t, cli.Show(context.Background(), tc.ClientAddr(2), clientTimeout, &out))
					for i := range 3 {
						var row string
						for _, line := range strings.Split(out.String(), "\n") {
							if f := strings.Fields(line); len(f) > 2 && f[0] == tc.Name(i) {
								row = line
								break
							}
						}
						require.NotEmpty(t, row, "a row for %s in\n%s", tc.Name(i), out.String())
						assert.Equal(t, []string{tc.Name(i), tc.ClientAddr(i), tc.tlsAddr[i]}, strings.Fields(row)[:3], "%s", out.String())
					}
				}},
			}
			for _, tt := range tests {
				t.Run(tt.name, tt.run)
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestTLS_PeerRefusesImpostor replaces peer3 of a peer-TLS cluster by one
// that is plain or whose certificate another CA signed: the other two
// refuse it with a line saying why, and keep it down.
func TestTLS_PeerRefusesImpostor(t *testing.T) {
	other := certtest.NewCA(t, "other")
	tests := []struct {
		name    string
		mutate  func(*server.Config)
		logLine string
	}{
		{"plain peer", func(c *server.Config) { c.PeerTLS = false },
			"peer handshake refused: plain connection on a TLS peer port"},
		{"certificate from another CA", func(c *server.Config) {
			f := other.Issue("peer3")
			c.TLSCert, c.TLSKey = f.Cert, f.Key
		}, certs.ErrUntrusted.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := startTLSCluster(t, server.StoreMemory)
			tc.Kill(2)
			require.NoError(t, tc.WaitState(0, 2, false, tc.opts.HeartbeatTimeout+slack))
			tt.mutate(&tc.cfgs[2])
			tc.cfgs[2].DataDir = t.TempDir()
			tc.Restart(2)
			require.Eventually(t, func() bool {
				return strings.Contains(tc.Log(0), tt.logLine) && strings.Contains(tc.Log(1), tt.logLine)
			}, slack, 20*time.Millisecond, "peers log why they refuse the impostor")
			for _, observer := range []int{0, 1} {
				for _, m := range tc.Server(observer).Members() {
					if m.Name == "peer3" {
						assert.False(t, m.Up, "%s sees the impostor down", tc.Name(observer))
					}
				}
			}
		})
	}
}
