package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"
)

// TestMain fails the package's run when a test left a run directory in the
// checkout that was not there before: startup.sh keeps peer data there, and
// a newcomer's next ./startup.sh would find a test's data (in another mode)
// instead of an empty cluster.
func TestMain(m *testing.M) {
	_, err := os.Stat("run")
	had := err == nil
	code := m.Run()
	if _, err := os.Stat("run"); !had && !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintln(os.Stderr, "FAIL: a test created run/ in the checkout; set MEMCONS_RUN_DIR to a temporary directory")
		_ = os.RemoveAll("run")
		code = 1
	}
	os.Exit(code)
}
