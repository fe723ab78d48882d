package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/memcons/memcons/cli"
)

const (
	defaultPeerAddr      = "127.0.0.1:8000"
	defaultClientTimeout = 5 * time.Second
	historyFileName      = ".memcons_history"
)

// runCLI starts the interactive client (or reads commands from stdin when
// it is not a terminal).
func runCLI(ctx context.Context, args []string, sio stdio) int {
	fs := newFlagSet("cli", sio)
	addr := fs.String("addr", defaultPeerAddr, "peer client address host:port")
	timeout := fs.Duration("timeout", defaultClientTimeout, "timeout of one request")
	history := fs.String("history", defaultHistoryFile(), "history file of the interactive prompt (empty: none)")
	if code, ok := parseFlags(fs, args, sio); !ok {
		return code
	}
	err := cli.Run(ctx, cli.Config{
		Addr:        *addr,
		Timeout:     *timeout,
		HistoryFile: *history,
		In:          sio.in,
		Out:         sio.out,
		Err:         sio.err,
		Interactive: sio.inTerminal,
	})
	if err != nil {
		fmt.Fprintf(sio.err, "memcons cli: %v\n", err)
		return exitError
	}
	return exitOK
}

// runShow prints the member table of the peer at --addr.
func runShow(ctx context.Context, args []string, sio stdio) int {
	fs := newFlagSet("show", sio)
	addr := fs.String("addr", defaultPeerAddr, "peer client address host:port")
	timeout := fs.Duration("timeout", defaultClientTimeout, "timeout of the request")
	if code, ok := parseFlags(fs, args, sio); !ok {
		return code
	}
	if err := cli.Show(ctx, *addr, *timeout, sio.out); err != nil {
		fmt.Fprintf(sio.err, "memcons show: %v\n", err)
		return exitError
	}
	return exitOK
}

func defaultHistoryFile() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, historyFileName)
}

// newFlagSet returns a flag set for a command that does not read the
// config file; its usage goes to stderr.
func newFlagSet(cmd string, sio stdio) *pflag.FlagSet {
	fs := pflag.NewFlagSet(cmd, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.SetOutput(sio.err)
	fs.Usage = func() {
		fmt.Fprintf(sio.err, "Usage: memcons %s [flags]\n\nFlags:\n%s", cmd, fs.FlagUsages())
	}
	return fs
}

// parseFlags parses args and rejects positional arguments; ok is false when
// the command should return code at once (after --help or a bad flag).
func parseFlags(fs *pflag.FlagSet, args []string, sio stdio) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK, false
		}
		fmt.Fprintf(sio.err, "memcons %s: %v\nRun 'memcons %s --help' for usage.\n", fs.Name(), err, fs.Name())
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(sio.err, "memcons %s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return exitUsage, false
	}
	return exitOK, true
}

// runWaitReady waits until the cluster whose peers listen at --addr can
// serve (for startup.sh), printing one line either way.
func runWaitReady(ctx context.Context, args []string, sio stdio) int {
	fs := newFlagSet("wait-ready", sio)
	addrs := fs.StringSlice("addr", nil, "every peer's client address host:port, comma-separated")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the cluster")
	timeout := fs.Duration("timeout", defaultClientTimeout, "timeout of one request")
	if code, ok := parseFlags(fs, args, sio); !ok {
		return code
	}
	if len(*addrs) == 0 {
		fmt.Fprintln(sio.err, "memcons wait-ready: --addr is required")
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	summary, err := cli.WaitReady(ctx, *addrs, *timeout)
	var nr *cli.NotReadyError
	switch {
	case errors.As(err, &nr):
		fmt.Fprintf(sio.err, "memcons wait-ready: not ready after %v: %s\n", *wait, nr.Why)
		return exitError
	case err != nil:
		fmt.Fprintf(sio.err, "memcons wait-ready: %v\n", err)
		return exitError
	}
	fmt.Fprintf(sio.out, "ready: %s\n", summary)
	return exitOK
}
