package crashtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// binary is the memcons executable TestMain built for this run.
var binary string

// TestMain builds memcons once for every test of the package, with the
// race detector when the tests have it (MEMCONS_CRASHTEST_RACE=1 or 0
// overrides); MEMCONS_CRASHTEST_BINARY names a memcons executable to test
// instead, such as an older build.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if binary = os.Getenv("MEMCONS_CRASHTEST_BINARY"); binary != "" {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "memcons-crashtest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "memcons")
	args := []string{"build", "-o", binary}
	race := raceEnabled
	switch os.Getenv("MEMCONS_CRASHTEST_RACE") {
	case "1":
		race = true
	case "0":
		race = false
	}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "github.com/memcons/memcons")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "crashtest: go %s: %v\n%s", strings.Join(args, " "), err, out)
		return 1
	}
	return m.Run()
}

// workDir returns a directory for one test's configs, data and logs. It is
// removed when the test passes and kept, with its path logged, when it
// fails (or always with MEMCONS_CRASHTEST_KEEP set). It is made under
// MEMCONS_CRASHTEST_DIR, else under /dev/shm when it can be, else under
// the system's temporary directory. A SIGKILL keeps what a process wrote,
// synced or not, so tmpfs keeps exactly what a crashed peer leaves,
// without the seconds-long fsync stalls of a busy shared disk that delay
// elections.
func workDir(t *testing.T) string {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	pattern := "memcons-" + name + "-"
	var dir string
	var err error
	if parent := os.Getenv("MEMCONS_CRASHTEST_DIR"); parent != "" {
		dir, err = os.MkdirTemp(parent, pattern)
	} else if dir, err = os.MkdirTemp("/dev/shm", pattern); err != nil {
		dir, err = os.MkdirTemp("", pattern)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("MEMCONS_CRASHTEST_KEEP") != "" {
			t.Logf("logs and data directories kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return dir
}
