package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/memcons/memcons/bench"
)

// runBench loads the cluster for --duration (or --ops operations) and
// prints the report.
func runBench(ctx context.Context, args []string, sio stdio) int {
	fs := newFlagSet("bench", sio)
	addrs := fs.StringSlice("addr", []string{"127.0.0.1:8000", "127.0.0.1:8001", "127.0.0.1:8002"},
		"comma-separated peer client addresses; connections are spread over them")
	conns := fs.Int("conns", 32, "concurrent connections")
	duration := fs.Duration("duration", 10*time.Second, "how long to run (when --ops is 0)")
	ops := fs.Int("ops", 0, "stop after this many operations (0: run for --duration)")
	valueSize := fs.Int("value-size", 100, "value size in bytes")
	keys := fs.Int("keys", 10000, "number of distinct keys")
	setRatio := fs.Float64("set-ratio", 0.1, "fraction of operations that are sets (0..1)")
	seed := fs.Int64("seed", 1, "seed of the key and operation choice")
	quiet := fs.Bool("quiet", false, "print no progress while running, only the report")
	if code, ok := parseFlags(fs, args, sio); !ok {
		return code
	}
	if problem := benchFlagProblem(*addrs, *conns, *ops, *valueSize, *keys, *setRatio, *duration); problem != "" {
		fmt.Fprintf(sio.err, "memcons bench: %s\n", problem)
		return exitUsage
	}
	rep, err := bench.Run(ctx, bench.Config{
		Addrs:     *addrs,
		Conns:     *conns,
		Duration:  *duration,
		Ops:       *ops,
		ValueSize: *valueSize,
		Keys:      *keys,
		SetRatio:  *setRatio,
		Seed:      *seed,
		Progress:  benchProgress(sio.err, *quiet),
	})
	if err != nil {
		fmt.Fprintf(sio.err, "memcons bench: %v\n", err)
		return exitError
	}
	rep.Print(sio.out)
	return exitOK
}

// benchProgress reports to stderr: one redrawn line on a terminal, a line a
// second otherwise; nothing when quiet.
func benchProgress(stderr io.Writer, quiet bool) bench.ProgressConfig {
	if quiet {
		return bench.ProgressConfig{}
	}
	f, ok := stderr.(*os.File)
	return bench.ProgressConfig{W: stderr, Live: ok && isTerminal(f)}
}

// benchFlagProblem returns what is wrong with the bench flags, or "".
func benchFlagProblem(addrs []string, conns, ops, valueSize, keys int, setRatio float64, d time.Duration) string {
	switch {
	case len(addrs) == 0:
		return "--addr: at least one address is required"
	case conns < 1:
		return fmt.Sprintf("--conns: %d must be at least 1", conns)
	case ops < 0:
		return fmt.Sprintf("--ops: %d must not be negative", ops)
	case ops == 0 && d <= 0:
		return "--duration: must be positive when --ops is 0"
	case valueSize < 0:
		return fmt.Sprintf("--value-size: %d must not be negative", valueSize)
	case keys < 1:
		return fmt.Sprintf("--keys: %d must be at least 1", keys)
	case setRatio < 0 || setRatio > 1:
		return fmt.Sprintf("--set-ratio: %g is not within 0..1", setRatio)
	}
	return ""
}
