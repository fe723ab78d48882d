package memcachedtest

import (
	"os/exec"
	"testing"
)

// Tool returns the path of the command-line tool name (promtool, ...),
// or skips the test without it unless MEMCONS_REQUIRE_MEMCACHED demands
// every tool the tests use; install says how to get it.
func Tool(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if requireMemcached() {
			t.Fatalf("%s not installed (%s) but MEMCONS_REQUIRE_MEMCACHED is set: %v", name, install, err)
		}
		t.Skipf("%s not installed (%s): %v", name, install, err)
	}
	return p
}
