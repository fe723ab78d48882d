// Package memcachedtest starts a real memcached process on a free loopback
// port for tests, and stops it when the test ends.
package memcachedtest

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Path returns the memcached binary, or skips the test unless the
// MEMCONS_REQUIRE_MEMCACHED environment variable demands it.
func Path(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("memcached")
	if err != nil {
		if requireMemcached() {
			t.Fatalf("memcached not installed but MEMCONS_REQUIRE_MEMCACHED is set: %v", err)
		}
		t.Skipf("memcached not installed: %v", err)
	}
	return p
}

// Start runs memcached on a free loopback port with extra arguments and
// returns its address; the process is killed (by its PID) at test cleanup.
func Start(t testing.TB, args ...string) string {
	t.Helper()
	bin := Path(t)
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(t)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		argv := append([]string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "64"}, args...)
		if uidIsRoot() {
			argv = append(argv, "-u", "root")
		}
		cmd := exec.Command(bin, argv...)
		if err := cmd.Start(); err != nil {
			t.Fatalf("start memcached: %v", err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if waitListening(addr, done, 5*time.Second) {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-done
			})
			return addr
		}
		_ = cmd.Process.Kill()
		<-done
	}
	t.Fatalf("memcached did not start after 5 attempts")
	return ""
}

func waitListening(addr string, done <-chan error, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr returns a loopback address whose port was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}
