package main

import (
	"bufio"
	"fmt"
	"net"
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
				assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "%s (pid %d) is gone", name, pid)
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

// exchange sends req and reads one reply ending in a line that memcached
// ends replies with.
func exchange(t *testing.T, addr, req string) string {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = c.Write([]byte(req))
	require.NoError(t, err)
	r := bufio.NewReader(c)
	var out strings.Builder
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err, "reply so far %q", out.String())
		out.WriteString(line)
		if line == "END\r\n" || line == "STORED\r\n" || strings.HasSuffix(line, "ERROR\r\n") {
			return out.String()
		}
	}
}
