// Package memcachedtest is what tests need around memcached: a real
// memcached process on a free loopback port, stopped when the test ends
// (memcachedtest.go); the one raw text-protocol client for tests that
// check replies byte for byte or control which connection sends what
// (client.go); and the fake servers and proxy for failures a real
// memcached does not show (fake.go).
package memcachedtest

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
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
	addr, _ := StartStoppable(t, args...)
	return addr
}

// StartStoppable is Start that also returns stop, which kills memcached and
// waits for it to exit. stop is safe to call more than once, and is called
// at test cleanup. StartOn can start a new memcached on the same address.
func StartStoppable(t testing.TB, args ...string) (addr string, stop func()) {
	t.Helper()
	bin := Path(t)
	for attempt := 0; attempt < 5; attempt++ {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
		if stop, ok := launch(t, bin, addr, args); ok {
			return addr, stop
		}
	}
	t.Fatalf("memcached did not start after 5 attempts")
	return "", nil
}

// StartOn runs memcached on addr, typically the address of one that a test
// stopped, and returns its stop function (as StartStoppable's). It retries
// for a few seconds while the port is still taken.
func StartOn(t testing.TB, addr string, args ...string) (stop func()) {
	t.Helper()
	bin := Path(t)
	for attempt := 0; attempt < 20; attempt++ {
		if stop, ok := launch(t, bin, addr, args); ok {
			return stop
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("memcached did not start on %s after 20 attempts", addr)
	return nil
}

// launch starts memcached on addr; ok is false if it exited or did not
// listen in time (it is then already reaped).
func launch(t testing.TB, bin, addr string, args []string) (stop func(), ok bool) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("memcached address %q: %v", addr, err)
	}
	argv := append([]string{"-l", host, "-p", port, "-U", "0", "-m", "64"}, args...)
	if uidIsRoot() {
		argv = append(argv, "-u", "root")
	}
	cmd := exec.Command(bin, argv...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start memcached: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	kill := sync.OnceFunc(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	switch waitListening(addr, cmd.Process.Pid, done, 5*time.Second) {
	case listening:
		t.Cleanup(kill)
		return kill, true
	case timedOut:
		kill()
	case exited: // already reaped; the port was probably taken
	}
	return nil, false
}

type startResult int

const (
	listening startResult = iota
	timedOut
	exited
)

// waitListening waits until the memcached with process id pid answers on
// addr, the process exits (done yields), or limit passes. Answering on addr
// is not enough: another process may hold the port, or a dial to a port in
// the ephemeral range may connect to itself.
func waitListening(addr string, pid int, done <-chan error, limit time.Duration) startResult {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return exited
		default:
		}
		if answeredPid(addr) == pid {
			return listening
		}
		time.Sleep(20 * time.Millisecond)
	}
	return timedOut
}

// answeredPid asks the memcached on addr for its process id; 0 if nothing
// on addr answers `stats` with one.
func answeredPid(addr string) int {
	c, err := Dial(addr, 200*time.Millisecond)
	if err != nil {
		return 0
	}
	defer c.Close()
	c.SetTimeout(time.Second)
	st, err := c.Stats("")
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(st["pid"])
	return pid
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

// FreeAddrs returns n distinct loopback addresses whose ports were free a
// moment ago; all n are held open together so no two can be the same port.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("find free port: %v", err)
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs
}
