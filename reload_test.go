package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
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
