// Command memcons runs and talks to a replicated memcached cluster: `serve`
// runs one peer, `cli` and `show` talk to a running peer, `bench` loads the
// cluster.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // the command line was wrong
)

// stdio is where a command reads and writes; tests pass buffers.
type stdio struct {
	in  io.Reader
	out io.Writer
	err io.Writer
	// inTerminal reports whether in is an interactive terminal.
	inTerminal bool
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, sio stdio) int
	hidden  bool
}

func commands() []command {
	return []command{
		{name: "serve", summary: "run one peer of the cluster", run: runServe},
		{name: "cli", summary: "interactive client for a peer", run: runCLI},
		{name: "show", summary: "print the cluster's members as one peer sees them", run: runShow},
		{name: "bench", summary: "load the cluster and report throughput and latency", run: runBench},
		{name: "reset", summary: "erase a stopped peer's data (--name PEER, or --all) so it starts over", run: runReset},
		{name: "version", summary: "print the version", run: runVersion},
		{name: "help", summary: "print this help", run: runHelp},
		{name: "config-get", summary: "print resolved config keys (for scripts)", run: runConfigGet, hidden: true},
		{name: "wait-ready", summary: "wait until the cluster can serve (for scripts)", run: runWaitReady, hidden: true},
		{name: "config-check", summary: "validate the config without starting (for scripts)", run: runConfigCheck, hidden: true},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling so a second one
	// kills a process stuck in its drain.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], stdio{
		in:         os.Stdin,
		out:        os.Stdout,
		err:        os.Stderr,
		inTerminal: isTerminal(os.Stdin),
	})
	stop()
	os.Exit(code)
}

// run dispatches args to a subcommand and returns the exit code.
func run(ctx context.Context, args []string, sio stdio) int {
	if len(args) == 0 {
		usage(sio.err)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "--help":
		name = "help"
	case "-v", "--version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args[1:], sio)
		}
	}
	fmt.Fprintf(sio.err, "memcons: unknown command %q\n\n", args[0])
	usage(sio.err)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: memcons <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		if !c.hidden {
			fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'memcons <command> --help' for a command's flags.")
}

func runHelp(ctx context.Context, args []string, sio stdio) int {
	if len(args) > 0 && args[0] != "help" {
		return run(ctx, []string{args[0], "--help"}, sio)
	}
	usage(sio.out)
	return exitOK
}

func runVersion(_ context.Context, _ []string, sio stdio) int {
	fmt.Fprintln(sio.out, versionString())
	return exitOK
}

// versionString reports the module version and VCS revision the binary
// was built from, as the Go toolchain recorded them.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "memcons (unknown version)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && !strings.Contains(v, rev) {
		return fmt.Sprintf("memcons %s (%s%s, %s)", v, rev, modified, bi.GoVersion)
	}
	return fmt.Sprintf("memcons %s (%s)", v, bi.GoVersion)
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
