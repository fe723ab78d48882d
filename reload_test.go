package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/internal/certs"
	"github.com/memcons/memcons/internal/certs/certtest"
	"github.com/memcons/memcons/internal/memcachedtest"
	"github.com/memcons/memcons/internal/server"
)

// processWait bounds every wait on the serve process: generous, the
// machine is loaded and the binary may run under -race.
const processWait = 30 * time.Second

// buildBinary builds memcons into a temporary directory and returns its path.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "memcons")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// lockedBuffer collects a process's output for a test to poll.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveProcess is a `memcons serve` run by a test.
type serveProcess struct {
	cmd    *exec.Cmd
	log    *lockedBuffer
	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

func startServe(t *testing.T, bin, config string) *serveProcess {
	t.Helper()
	p := &serveProcess{log: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "--config", config, "--name", "peer1")
	p.cmd.Env = append(os.Environ(), "MEMCONS_RUN_DIR="+t.TempDir())
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill() // our own child, by its PID
			<-p.exited
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", p.log)
		}
	})
	return p
}

// waitLog waits until the process logged every one of want.
func (p *serveProcess) waitLog(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(processWait)
	for {
		log := p.log.String()
		missing := ""
		for _, w := range want {
			if !strings.Contains(log, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		select {
		case <-p.exited:
			t.Fatalf("serve exited (%v) before logging %q", p.err, missing)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never logged %q", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *serveProcess) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
}

// reloadConfig is the one-peer config the SIGHUP test rewrites.
type reloadConfig struct {
	clientAddr, tlsAddr, peerAddr string
	idleTimeout                   string
	files                         certs.Files
}

func (c reloadConfig) write(t *testing.T, path string) {
	t.Helper()
	content := fmt.Sprintf(`[cluster]
secret = s3cret
peers = peer1
store = memory
idle_timeout = %s
tls_cert = %s
tls_key = %s
[peer1]
client_addr = %s
client_tls_addr = %s
peer_addr = %s
`, c.idleTimeout, c.files.Cert, c.files.Key, c.clientAddr, c.tlsAddr, c.peerAddr)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

// version asks addr for its version over a fresh connection.
func version(t *testing.T, addr string) string {
	t.Helper()
	c, err := memcachedtest.Dial(addr, processWait)
	require.NoError(t, err)
	defer func() { _ = c.Close() }()
	line, err := c.Simple("version")
	require.NoError(t, err)
	return line
}

// tlsSerial connects to the TLS port and returns the serial number of the
// certificate it presents.
func tlsSerial(t *testing.T, addr string, roots *x509.CertPool) string {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: processWait}, Config: &tls.Config{RootCAs: roots}}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	defer func() { _ = c.Close() }()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o600))
}

// TestServe_SIGHUPReloadsLiveKeys runs `memcons serve` as a process and
// sends it SIGHUP after changing its config file: a live key (idle_timeout)
// applies, to a connection already open too; a key that needs a restart
// (client_addr) is refused with a line naming it and the peer keeps its old
// address; a renewed certificate at the same path is served from then on;
// a config that does not validate changes nothing; the peer keeps serving
// throughout, and SIGTERM still drains and exits 0.
func TestServe_SIGHUPReloadsLiveKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	ca := certtest.NewCA(t, "test")
	roots := x509.NewCertPool()
	pem, err := os.ReadFile(ca.File)
	require.NoError(t, err)
	require.True(t, roots.AppendCertsFromPEM(pem))

	addrs := memcachedtest.FreeAddrs(t, 4)
	live := certtest.NewCA(t, "unused").Issue("peer1") // paths the config names
	first := ca.Issue("peer1")
	copyFile(t, first.Cert, live.Cert)
	copyFile(t, first.Key, live.Key)
	cfg := reloadConfig{clientAddr: addrs[0], tlsAddr: addrs[1], peerAddr: addrs[2], idleTimeout: "0s", files: live}
	path := filepath.Join(t.TempDir(), "config.ini")
	cfg.write(t, path)

	p := startServe(t, bin, path)
	p.waitLog(t, "msg=serving")
	require.Equal(t, "VERSION", strings.Fields(version(t, addrs[0]))[0])
	serialBefore := tlsSerial(t, addrs[1], roots)

	idle, err := net.DialTimeout("tcp", addrs[0], processWait)
	require.NoError(t, err)
	defer func() { _ = idle.Close() }()
	_, err = idle.Write([]byte("version\r\n"))
	require.NoError(t, err)
	require.NoError(t, idle.SetReadDeadline(time.Now().Add(processWait)))
	_, err = bufio.NewReader(idle).ReadString('\n')
	require.NoError(t, err, "the idle connection works before the reload")

	renewed := ca.Issue("peer1")
	copyFile(t, renewed.Cert, live.Cert)
	copyFile(t, renewed.Key, live.Key)
	cfg.idleTimeout, cfg.clientAddr = "1s", addrs[3]
	cfg.write(t, path)
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t,
		`msg="config reload: changed" self=peer1 key=cluster.idle_timeout from=0s to=1s`,
		`msg="config reload: peer1.client_addr needs a restart; keeping the running value" self=peer1 key=peer1.client_addr running=`+addrs[0]+` file=`+addrs[3],
		`msg="TLS certificates reloaded"`)

	t.Run("idle_timeout applies to a connection already open", func(t *testing.T) {
		start := time.Now()
		_, err := idle.Read(make([]byte, 1))
		require.Error(t, err)
		assert.True(t, errors.Is(err, io.EOF) || isConnReset(err), "closed by the peer, got %v after %v", err, time.Since(start))
	})
	t.Run("client_addr keeps its running value", func(t *testing.T) {
		assert.Equal(t, "VERSION", strings.Fields(version(t, addrs[0]))[0])
		_, err := net.DialTimeout("tcp", addrs[3], time.Second)
		assert.Error(t, err, "nothing listens on the refused new address")
	})
	t.Run("the renewed certificate is served", func(t *testing.T) {
		assert.NotEqual(t, serialBefore, tlsSerial(t, addrs[1], roots))
	})
	t.Run("a bad config changes nothing", func(t *testing.T) {
		cfg.idleTimeout = "-1s"
		cfg.write(t, path)
		p.signal(t, syscall.SIGHUP)
		p.waitLog(t, `msg="config reload refused; keeping the running config" self=peer1 problem="cluster.idle_timeout: must not be negative, got -1s"`)
		assert.Equal(t, "VERSION", strings.Fields(version(t, addrs[0]))[0])
	})

	p.signal(t, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(processWait):
		t.Fatal("serve did not exit after SIGTERM")
	}
	require.NoError(t, p.err, "SIGTERM drains and exits 0")
	assert.Contains(t, p.log.String(), "msg=stopped")
	assert.NotContains(t, p.log.String(), "level=ERROR msg=\"config reload: cannot apply")
}

func isConnReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET)
}

// TestReloader_LiveAndRestartKeys runs the reloader of a real one-peer
// server over a config file it rewrites: each live key is applied and
// logged as changed, each other key is refused with one line naming it and
// keeps its running value (so a second reload refuses it again).
func TestReloader_LiveAndRestartKeys(t *testing.T) {
	isolateEnv(t)
	addrs := memcachedtest.FreeAddrs(t, 2)
	base := map[string]string{
		"secret": "s3cret", "peers": "peer1", "store": "memory", "data_dir": t.TempDir(),
	}
	metricsAddr := memcachedtest.FreeAddr(t)
	// write puts the keys named "peer1.x" in [peer1], the others in [cluster].
	write := func(path string, keys map[string]string) {
		var b strings.Builder
		b.WriteString("[cluster]\n")
		var peer1 strings.Builder
		for k, v := range keys {
			if pk, ok := strings.CutPrefix(k, "peer1."); ok {
				fmt.Fprintf(&peer1, "%s = %s\n", pk, v)
				continue
			}
			fmt.Fprintf(&b, "%s = %s\n", k, v)
		}
		fmt.Fprintf(&b, "[peer1]\nclient_addr = %s\npeer_addr = %s\n%s", addrs[0], addrs[1], peer1.String())
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	}
	tests := []struct {
		key, value string
		want       string // the line logged
	}{
		{"idle_timeout", "5s", `msg="config reload: changed" key=cluster.idle_timeout from=0s to=5s`},
		{"max_connections", "10", `msg="config reload: changed" key=cluster.max_connections from=1024 to=10`},
		{"max_line_length", "4096", `msg="config reload: changed" key=cluster.max_line_length from=8192 to=4096`},
		{"log_level", "debug", `msg="config reload: changed" key=cluster.log_level from=info to=debug`},
		{"sync_interval", "2s", `msg="config reload: changed" key=cluster.sync_interval from=1s to=2s`},
		{"push_batch", "64", `msg="config reload: changed" key=cluster.push_batch from=128 to=64`},
		{"push_delay", "20ms", `msg="config reload: changed" key=cluster.push_delay from=10ms to=20ms`},
		{"leader_wait", "4s", `msg="config reload: changed" key=cluster.leader_wait from=3s to=4s`},
		{"request_timeout", "6s", `msg="config reload: changed" key=cluster.request_timeout from=5s to=6s`},
		{"snapshot_threshold", "100", `msg="config reload: changed" key=cluster.snapshot_threshold from=8192 to=100`},
		{"snapshot_interval", "30s", `msg="config reload: changed" key=cluster.snapshot_interval from=2m to=30s`},
		{"pprof", "on", `msg="config reload: changed" key=cluster.pprof from=off to=on`},
		{"peer1.metrics_addr", metricsAddr, `msg="config reload: changed" key=peer1.metrics_addr from="" to=` + metricsAddr},
		{"mode", "linearizable", `msg="config reload: cluster.mode needs a restart; keeping the running value" key=cluster.mode running=eventual file=linearizable`},
		{"secret", "other", `msg="config reload: cluster.secret needs a restart; keeping the running value" key=cluster.secret running=(hidden) file=(hidden)`},
		{"item_size_max", "2m", `msg="config reload: cluster.item_size_max needs a restart; keeping the running value" key=cluster.item_size_max running=1m file=2m`},
		{"heartbeat_interval", "100ms", `msg="config reload: changed" key=cluster.heartbeat_interval from=500ms to=100ms`},
		{"heartbeat_timeout", "5s", `msg="config reload: changed" key=cluster.heartbeat_timeout from=3s to=5s`},
		{"election_timeout", "2s", `msg="config reload: cluster.election_timeout needs a restart; keeping the running value"`},
		{"data_dir", "/elsewhere", `msg="config reload: cluster.data_dir needs a restart; keeping the running value"`},
		{"name", "other", `msg="config reload: cluster.name needs a restart; keeping the running value"`},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.ini")
			cluster := map[string]string{}
			for k, v := range base {
				cluster[k] = v
			}
			cluster["data_dir"] = t.TempDir()
			write(path, cluster)
			args := []string{"--config", path, "--name", "peer1"}
			lc, err := loadConfig("serve", args, io.Discard, nil)
			require.NoError(t, err)
			cfg, err := buildConfig(lc.raw)
			require.NoError(t, err)
			log := &lockedBuffer{}
			level := new(slog.LevelVar)
			cfg.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: level}))
			srv, err := server.New(cfg)
			require.NoError(t, err)
			t.Cleanup(func() { _ = srv.Close() })
			r := newReloader(args, nil, srv, cfg.Logger, level, false, lc.raw)

			cluster[tt.key] = tt.value
			write(path, cluster)
			r.reload()
			assert.Contains(t, log.String(), tt.want)
			key := tt.key
			if !strings.Contains(key, ".") {
				key = "cluster." + key
			}
			assert.Equal(t, 1, strings.Count(log.String(), "key="+key+" "), "one line for the key:\n%s", log)
			if strings.Contains(tt.want, "needs a restart") {
				r.reload()
				assert.Equal(t, 2, strings.Count(log.String(), "key="+key+" "), "refused again, the running value kept:\n%s", log)
			} else {
				r.reload()
				assert.Equal(t, 1, strings.Count(log.String(), "key="+key+" "), "applied once, nothing left to change:\n%s", log)
			}
			switch tt.key {
			case "log_level":
				assert.Equal(t, slog.LevelDebug, level.Level())
			case "peer1.metrics_addr":
				assert.Equal(t, metricsAddr, srv.MetricsAddr(), "the metrics endpoint moved")
			}
		})
	}
}

// TestLiveKeys_AreDocumentedKeys keeps the reload table to keys that exist.
func TestLiveKeys_AreDocumentedKeys(t *testing.T) {
	known := map[string]bool{}
	for _, k := range clusterKeys() {
		known[clusterSection+"."+k.name] = true
	}
	for _, k := range peerKeys() {
		known["%s."+k.name] = true
	}
	seen := map[string]bool{}
	for _, lk := range liveKeys {
		require.NotNil(t, lk.apply)
		for _, k := range lk.keys {
			assert.True(t, known[k], "live key %q is not a documented key", k)
			assert.False(t, seen[k], "live key %q is listed twice", k)
			seen[k] = true
		}
	}
}
