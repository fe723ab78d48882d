package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/internal/memcachedtest"
)

// TestScripts_StartupShowStop runs ./startup.sh and ./stop.sh as a newcomer
// would, on free loopback ports and a private run directory.
func TestScripts_StartupShowStop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts a whole cluster")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	stores := []string{"memory"}
	if _, err := exec.LookPath("memcached"); err == nil {
		stores = append(stores, "memcached")
	} else if os.Getenv("MEMCONS_REQUIRE_MEMCACHED") != "" {
		t.Fatal("memcached not installed")
	}
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			dir := t.TempDir()
			config := writeScriptConfig(t, dir)
			env := append(os.Environ(), "MEMCONS_RUN_DIR="+filepath.Join(dir, "run"))
			run := func(script string, args ...string) (string, error) {
				cmd := exec.Command("./"+script, args...)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			t.Cleanup(func() { _, _ = run("stop.sh") })

			out, err := run("startup.sh", "--config", config, "--consistency", "sequential", "--store", store)
			for attempt := 0; err != nil && strings.Contains(out, "already in use") && attempt < 3; attempt++ {
				// Another test's process took a port between choosing and
				// binding it: choose again.
				config = writeScriptConfig(t, dir)
				out, err = run("startup.sh", "--config", config, "--consistency", "sequential", "--store", store)
			}
			require.NoError(t, err, out)
			assert.Contains(t, out, "memcons is up: 3 peers, mode sequential, store "+store)
			pids := readPids(t, filepath.Join(dir, "run", "pids"))
			wantPids := 3
			if store == "memcached" {
				wantPids = 6
			}
			require.Len(t, pids, wantPids, "one pid file per process started")

			for i, addr := range scriptClientAddrs(config) {
				key := fmt.Sprintf("k%d", i)
				assert.Equal(t, "STORED\r\n", exchange(t, addr, "set "+key+" 0 0 1\r\nv\r\n"))
				assert.Equal(t, "VALUE "+key+" 0 1\r\nv\r\nEND\r\n", exchange(t, addr, "get "+key+"\r\n"))
			}

			out, err = run("startup.sh", "--config", config)
			require.Error(t, err, "a second cluster over a running one is refused")
			assert.Contains(t, out, "already running")

			out, err = run("stop.sh")
			require.NoError(t, err, out)
			for name, pid := range pids {
				assert.Contains(t, out, name+": stopped")
				assert.True(t, exited(pid), "%s (pid %d) is gone", name, pid)
			}
			out, err = run("stop.sh")
			require.NoError(t, err)
			assert.Contains(t, out, "nothing running")
		})
	}
}

// writeScriptConfig writes a three-peer config on free loopback ports.
func writeScriptConfig(t *testing.T, dir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[cluster]\nname = scripts\nmode = eventual\nsecret = s\npeers = peer1, peer2, peer3\n")
	fmt.Fprintf(&b, "heartbeat_interval = 100ms\nheartbeat_timeout = 2s\ndata_dir = %s\n", filepath.Join(dir, "data"))
	addrs := memcachedtest.FreeAddrs(t, 9)
	for i := range 3 {
		fmt.Fprintf(&b, "[peer%d]\nclient_addr = %s\npeer_addr = %s\nreplica_addr = %s\n", i+1,
			addrs[3*i], addrs[3*i+1], addrs[3*i+2])
	}
	path := filepath.Join(dir, "config.ini")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

func scriptClientAddrs(config string) []string {
	data, _ := os.ReadFile(config)
	var addrs []string
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "client_addr = "); ok {
			addrs = append(addrs, v)
		}
	}
	return addrs
}

func readPids(t *testing.T, dir string) map[string]int {
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	pids := map[string]int{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		var pid int
		_, err = fmt.Sscan(string(data), &pid)
		require.NoError(t, err)
		pids[strings.TrimSuffix(e.Name(), ".pid")] = pid
	}
	return pids
}

// exchange sends req and returns its reply byte for byte; an error reply
// is returned like any other.
func exchange(t *testing.T, addr, req string) string {
	c, err := memcachedtest.Dial(addr, 10*time.Second)
	require.NoError(t, err)
	defer c.Close()
	r, err := c.Do(req)
	if !errors.Is(err, memcachedtest.ErrReply) {
		require.NoError(t, err, "reply so far %q", r.Raw)
	}
	return r.Raw
}

// TestScripts_ModeSwitchNeedsReset starts a cluster in one mode, then
// asks for another on the same data: the peers refuse, naming the reset
// command, until ./startup.sh --reset erases the data. Every stop is quiet:
// each peer logs "stopped" once and no ERROR line once it began stopping.
func TestScripts_ModeSwitchNeedsReset(t *testing.T) {
	config, runDir, runCmd := scriptCluster(t)
	run := func(script string, args ...string) (string, error) { return runCmd("./"+script, args...) }
	start := func(args ...string) string {
		t.Helper()
		args = append([]string{"--config", config, "--store", "memory"}, args...)
		out, err := run("startup.sh", args...)
		require.NoError(t, err, out)
		return out
	}
	stop := func() {
		t.Helper()
		out, err := run("stop.sh")
		require.NoError(t, err, out)
		for _, name := range []string{"peer1", "peer2", "peer3"} {
			log, err := os.ReadFile(filepath.Join(runDir, "logs", name+".log"))
			require.NoError(t, err)
			_, stopping, found := strings.Cut(string(log), "msg=stopping")
			require.True(t, found, "%s logged that it was stopping:\n%s", name, log)
			assert.NotContains(t, stopping, "level=ERROR", "%s: a normal stop logs no ERROR", name)
			assert.Equal(t, 1, strings.Count(string(log), "msg=stopped"), "%s logs stopped once", name)
		}
	}

	out := start("--consistency", "sequential")
	assert.Contains(t, out, "MEMCONS_RUN_DIR="+runDir+" ./stop.sh", "the stop command names the run directory")
	assert.Contains(t, out, "ready: leader ")
	addr := scriptClientAddrs(config)[0]
	assert.Equal(t, "STORED\r\n", exchange(t, addr, "set kept 0 0 1\r\nv\r\n"))
	stop()

	out, err := run("startup.sh", "--config", config, "--store", "memory", "--consistency", "eventual")
	require.Error(t, err, "eventual mode over sequential data is refused")
	assert.Contains(t, out, "holds sequential mode data, not eventual")
	assert.Contains(t, out, "./startup.sh --reset --consistency eventual")

	out = start("--consistency", "sequential")
	assert.Equal(t, "VALUE kept 0 1\r\nv\r\nEND\r\n", exchange(t, addr, "get kept\r\n"), "the same mode keeps the data")
	stop()

	out = start("--consistency", "eventual", "--reset")
	assert.Contains(t, out, "peer1: erased ")
	assert.Contains(t, out, "ready: every peer finished its first sync")
	assert.Equal(t, "END\r\n", exchange(t, addr, "get kept\r\n"), "the reset erased the data")
	stop()

	out, err = run("stop.sh")
	require.NoError(t, err)
	assert.Contains(t, out, "nothing running: no pid files in "+filepath.Join(runDir, "pids"))
}

// exited reports whether pid is gone or has exited and waits to be reaped
// (a zombie: the scripts' processes are reparented to pid 1, which may reap
// them late).
func exited(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	_, rest, ok := strings.Cut(string(stat), ") ")
	return ok && strings.HasPrefix(rest, "Z")
}

// TestScripts_CorruptLogNamedThenReset damages one peer's raft log: the
// peer exits with one line naming the file and the remedy (no panic), and
// after `memcons reset` of that peer it rejoins and catches up.
func TestScripts_CorruptLogNamedThenReset(t *testing.T) {
	config, runDir, run := scriptCluster(t)
	dir := filepath.Dir(runDir)
	args := []string{"--config", config, "--store", "memory", "--consistency", "linearizable"}
	out, err := run("./startup.sh", args...)
	require.NoError(t, err, out)
	addrs := scriptClientAddrs(config)
	assert.Equal(t, "STORED\r\n", exchange(t, addrs[1], "set kept 0 0 1\r\nv\r\n"))
	out, err = run("./stop.sh")
	require.NoError(t, err, out)

	segs, err := filepath.Glob(filepath.Join(dir, "data", "peer1", "raft", "wal", "*.wal"))
	require.NoError(t, err)
	require.NotEmpty(t, segs)
	f, err := os.OpenFile(segs[0], os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("not a wal segment header"), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	out, err = run("./startup.sh", args...)
	require.Error(t, err, "a peer on a damaged log does not start")
	assert.NotContains(t, out, "panic:")
	var reason string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "memcons serve: ") {
			reason = line
			break
		}
	}
	require.NotEmpty(t, reason, "the peer says why in one line:\n%s", out)
	assert.Contains(t, reason, segs[0], "names the damaged file")
	assert.Contains(t, reason, "memcons reset --name peer1", "names the remedy")

	out, err = run(filepath.Join(runDir, "bin", "memcons"), "reset", "--config", config, "--name", "peer1")
	require.NoError(t, err, out)
	out, err = run("./startup.sh", args...)
	require.NoError(t, err, out)
	assert.Equal(t, "VALUE kept 0 1\r\nv\r\nEND\r\n", exchange(t, addrs[0], "get kept\r\n"), "the reset peer caught up")
}

// scriptCluster prepares a run of the scripts on free loopback ports in a
// private run directory (skipping where the scripts cannot run): the config,
// the run directory, and run, which runs a command from the repository root
// with MEMCONS_RUN_DIR set. Whatever the scripts started is stopped at the
// end of the test.
func scriptCluster(t *testing.T) (config, runDir string, run func(name string, args ...string) (string, error)) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and starts a whole cluster")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	dir := t.TempDir()
	config = writeScriptConfig(t, dir)
	runDir = filepath.Join(dir, "run")
	env := append(os.Environ(), "MEMCONS_RUN_DIR="+runDir)
	run = func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = run("./stop.sh") })
	return config, runDir, run
}
