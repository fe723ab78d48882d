package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// heldAddr returns a loopback address whose port the test holds until it
// ends, so that a serve that got as far as binding it would fail there.
func heldAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().String()
}

// badConfigFixture is a valid three-peer config file over held ports and an
// empty run directory that serve would create peer1's data directory in.
type badConfigFixture struct {
	file   string
	runDir string
	addrs  map[string]string // "peer1.client_addr" -> its held address
}

func newBadConfigFixture(t *testing.T) badConfigFixture {
	t.Helper()
	f := badConfigFixture{runDir: filepath.Join(t.TempDir(), "run"), addrs: map[string]string{}}
	var b strings.Builder
	b.WriteString("[cluster]\nsecret = s3cret\npeers = peer1, peer2, peer3\n")
	for _, p := range []string{"peer1", "peer2", "peer3"} {
		fmt.Fprintf(&b, "[%s]\n", p)
		for _, k := range peerKeys() {
			if k.name == "client_tls_addr" {
				continue // needs certificates; the plain fixture has none
			}
			f.addrs[p+"."+k.name] = heldAddr(t)
			fmt.Fprintf(&b, "%s = %s\n", k.name, f.addrs[p+"."+k.name])
		}
	}
	f.file = writeConfig(t, b.String())
	return f
}

// run runs cmd on the fixture's file with args, as peer1, with ctx.
func (f badConfigFixture) run(ctx context.Context, cmd string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(ctx, append([]string{cmd, "--config", f.file, "--name", "peer1"}, args...),
		stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

// TestConfigCheck_AgreesWithServe gives every documented key a bad value and
// checks that config-check and serve refuse it with the same one line, and
// that serve does so before it creates the data directory or binds a port.
func TestConfigCheck_AgreesWithServe(t *testing.T) {
	isolateEnv(t)
	f := newBadConfigFixture(t)
	t.Setenv(runDirEnv, f.runDir)

	tests := []struct {
		key  string   // the documented key the row is for
		args []string // flags that set the bad value (and any key it is compared with)
		want string   // the one problem line, after "memcons <command>: "
	}{
		{"name", []string{"--cluster.name="}, "cluster.name: must not be empty"},
		{"mode", []string{"--cluster.mode=strong"},
			`cluster.mode: unknown consistency mode "strong" (want linearizable, sequential or eventual)`},
		{"secret", []string{"--cluster.secret="}, "cluster.secret: must not be empty"},
		{"peers", []string{"--cluster.peers=peer1, peer2, peer3, peer2"}, `cluster.peers: peer "peer2" is listed twice`},
		{"heartbeat_interval", []string{"--cluster.heartbeat_interval=0s"}, "cluster.heartbeat_interval: must be positive, got 0s"},
		{"heartbeat_timeout", []string{"--cluster.heartbeat_timeout=500ms"},
			"cluster.heartbeat_timeout: must be more than cluster.heartbeat_interval (500ms), got 500ms"},
		{"data_dir", []string{"--cluster.data_dir="}, "cluster.data_dir: must not be empty"},
		{"item_size_max", []string{"--cluster.item_size_max=2g"},
			"cluster.item_size_max: must be between 1024 and 1073741824, got 2147483648"},
		{"max_connections", []string{"--cluster.max_connections=0"}, "cluster.max_connections: must be between 1 and 1048576, got 0"},
		{"idle_timeout", []string{"--cluster.idle_timeout=-1s"}, "cluster.idle_timeout: must not be negative, got -1s"},
		{"max_line_length", []string{"--cluster.max_line_length=100"}, "cluster.max_line_length: must be between 512 and 1048576, got 100"},
		{"store", []string{"--cluster.store=redis"}, `cluster.store: must be memcached or memory, got "redis"`},
		{"memory_limit", []string{"--cluster.memory_limit=0"}, "cluster.memory_limit: must be between 1 and 1099511627776, got 0"},
		{"store_timeout", []string{"--cluster.store_timeout=0s"}, "cluster.store_timeout: must be positive, got 0s"},
		{"store_conns", []string{"--cluster.store_conns=65"}, "cluster.store_conns: must be between 1 and 64, got 65"},
		{"election_timeout", []string{"--cluster.election_timeout=1ms"}, "cluster.election_timeout: must be at least 10ms, got 1ms"},
		{"leader_wait", []string{"--cluster.leader_wait=0s"}, "cluster.leader_wait: must be positive, got 0s"},
		{"request_timeout", []string{"--cluster.request_timeout=1s"},
			"cluster.request_timeout: must be at least cluster.leader_wait (3s), got 1s"},
		{"snapshot_threshold", []string{"--cluster.snapshot_threshold=0"},
			"cluster.snapshot_threshold: must be between 1 and 1073741824, got 0"},
		{"snapshot_interval", []string{"--cluster.snapshot_interval=100µs"}, "cluster.snapshot_interval: must be at least 1ms, got 100µs"},
		{"sync_interval", []string{"--cluster.sync_interval=0s"}, "cluster.sync_interval: must be at least 1ms, got 0s"},
		{"recent_log_size", []string{"--cluster.recent_log_size=0"}, "cluster.recent_log_size: must be between 1 and 16777216, got 0"},
		{"push_queue", []string{"--cluster.push_queue=big"}, `cluster.push_queue: bad integer "big"`},
		{"push_batch", []string{"--cluster.push_batch=0"}, "cluster.push_batch: must be between 1 and 65536, got 0"},
		{"push_delay", []string{"--cluster.push_delay=2s"}, "cluster.push_delay: must be between 1µs and 1s, got 2s"},
		{"push_delay", []string{"--cluster.sync_interval=100ms", "--cluster.push_delay=500ms"},
			"cluster.push_delay: must be at most cluster.sync_interval (100ms), got 500ms"},
		{"tls_cert", []string{"--cluster.tls_cert=peer.pem"}, "cluster.tls_key: must be set when cluster.tls_cert is"},
		{"tls_key", []string{"--cluster.tls_key=peer-key.pem"}, "cluster.tls_cert: must be set when cluster.tls_key is"},
		{"tls_ca", []string{"--cluster.tls_ca=ca.pem"},
			"cluster.tls_ca: needs cluster.tls_cert and cluster.tls_key (the CA checks certificates presented to this peer's own)"},
		{"peer_tls", []string{"--cluster.peer_tls=maybe"}, `cluster.peer_tls: bad switch "maybe" (want on or off)`},
		{"peer_tls", []string{"--cluster.peer_tls=on"},
			"cluster.peer_tls: needs cluster.tls_cert, cluster.tls_key and cluster.tls_ca (the cluster CA)"},
		{"log_level", []string{"--cluster.log_level=loud"}, `cluster.log_level: unknown level "loud" (want debug, info, warn or error)`},
		{"client_tls_addr", []string{"--peer1.client_tls_addr=" + heldAddr(t)},
			"peer1.client_tls_addr: needs cluster.tls_cert and cluster.tls_key"},
		{"client_tls_addr", []string{"--peer1.client_tls_addr=127.0.0.1"},
			`peer1.client_tls_addr: bad address "127.0.0.1": want host:port: address 127.0.0.1: missing port in address`},
		{"client_addr", []string{"--peer1.client_addr=127.0.0.1"},
			`peer1.client_addr: bad address "127.0.0.1": want host:port: address 127.0.0.1: missing port in address`},
		{"peer_addr", []string{"--peer2.peer_addr=" + f.addrs["peer1.client_addr"]},
			fmt.Sprintf("peer2.peer_addr: port %s on host \"127.0.0.1\" is also used by peer1.client_addr", port(t, f.addrs["peer1.client_addr"]))},
		{"replica_addr", []string{"--peer1.replica_addr="}, "peer1.replica_addr: missing (required when cluster.store is memcached)"},
		{"metrics_addr", []string{"--peer1.metrics_addr=127.0.0.1:http"},
			`peer1.metrics_addr: bad address "127.0.0.1:http": port "http" is not 1-65535`},
		{"metrics_addr", []string{"--peer3.metrics_addr=" + f.addrs["peer3.client_addr"]},
			fmt.Sprintf("peer3.metrics_addr: port %s on host \"127.0.0.1\" is also used by peer3.client_addr", port(t, f.addrs["peer3.client_addr"]))},
		{"metrics_addr", []string{"--peer2.metrics_addr=" + f.addrs["peer1.peer_addr"]},
			fmt.Sprintf("peer2.metrics_addr: port %s on host \"127.0.0.1\" is also used by peer1.peer_addr", port(t, f.addrs["peer1.peer_addr"]))},
		{"pprof", []string{"--cluster.pprof=maybe"}, `cluster.pprof: bad switch "maybe" (want on or off)`},
	}

	documented, covered := map[string]bool{}, map[string]bool{}
	for _, k := range append(clusterKeys(), peerKeys()...) {
		documented[k.name] = true
	}
	for _, tt := range tests {
		assert.True(t, documented[tt.key], "row for %q, which is not a documented key", tt.key)
		covered[tt.key] = true
	}
	for k := range documented {
		assert.True(t, covered[k], "documented key %q has no bad value in the table", k)
	}

	// A cancelled context: a serve that got past validation stops at once
	// rather than serving; the data directory would then exist.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range tests {
		t.Run(tt.key+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := f.run(ctx, "config-check", tt.args...)
			assert.Equal(t, exitError, code)
			assert.Empty(t, out)
			assert.Equal(t, "memcons config-check: "+tt.want+"\n", errOut)

			code, out, errOut = f.run(ctx, "serve", tt.args...)
			assert.Equal(t, exitError, code)
			assert.Empty(t, out)
			assert.Equal(t, "memcons serve: "+tt.want+"\n", errOut, "serve refuses with config-check's line")
			assert.NoDirExists(t, f.runDir, "serve refused before creating the data directory")
		})
	}

	t.Run("the fixture itself is valid, and serve then goes further", func(t *testing.T) {
		code, out, errOut := f.run(ctx, "config-check")
		require.Equal(t, exitOK, code, errOut)
		assert.Contains(t, out, "ok: ")
		code, _, errOut = f.run(ctx, "serve")
		assert.Equal(t, exitError, code, "the replica never answers a cancelled start")
		assert.NotContains(t, errOut, "shipped", "no warning for a secret of the user's")
		assert.DirExists(t, filepath.Join(f.runDir, "data", "peer1"), "serve got past validation")
		require.NoError(t, os.RemoveAll(f.runDir))
	})
}

func TestServe_WarnsOfTheShippedSecret(t *testing.T) {
	isolateEnv(t)
	f := newBadConfigFixture(t)
	t.Setenv(runDirEnv, f.runDir) // serve creates peer1's data directory there, not in the checkout
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code, _, errOut := f.run(ctx, "serve", "--cluster.secret="+shippedSecret)
	assert.Equal(t, exitError, code, "the replica never answers a cancelled start")
	assert.Contains(t, errOut, `level=WARN msg="cluster.secret is the shipped \"change-me\": anyone who reaches a peer port can join`)
	for _, path := range []string{"config.ini", "docker-compose.yml"} {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Contains(t, string(b), shippedSecret, "%s ships the secret serve warns of", path)
	}
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	return p
}
