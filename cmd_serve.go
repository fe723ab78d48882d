package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/datadir"
	"github.com/memcons/memcons/internal/server"
)

// runServe loads the config, builds this peer's server.Config and runs the
// peer until ctx is cancelled (SIGINT/SIGTERM), then drains it.
func runServe(ctx context.Context, args []string, sio stdio) int {
	var logLevel *string
	lc, code, ok := loadForCommand("serve", args, sio, func(fs *pflag.FlagSet) {
		logLevel = fs.String("log-level", "info", "log level: debug, info, warn or error")
	})
	if !ok {
		return code
	}
	if extra := lc.flags.fs.Args(); len(extra) > 0 {
		fmt.Fprintf(sio.err, "memcons serve: unexpected arguments %q\n", extra)
		return exitUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(sio.err, "memcons serve: --log-level: unknown level %q (want debug, info, warn or error)\n", *logLevel)
		return exitUsage
	}
	cfg, err := buildConfig(lc.raw)
	if err != nil {
		printProblems(sio, "serve", err)
		return exitError
	}
	cfg.Logger = slog.New(slog.NewTextHandler(sio.err, &slog.HandlerOptions{Level: level})).
		With("self", cfg.Self)
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		fmt.Fprintf(sio.err, "memcons serve: create data directory: %v\n", err)
		return exitError
	}
	cfg.Logger.Info("starting", "mode", cfg.Mode, "store", cfg.Store, "cluster", cfg.ClusterName,
		"data_dir", cfg.DataDir, "version", versionString())
	if cfg.Secret == shippedSecret {
		cfg.Logger.Warn(fmt.Sprintf("cluster.secret is the shipped %q: anyone who reaches a peer port can join; set [cluster] secret or MEMCONS_CLUSTER_SECRET", shippedSecret))
	}
	srv, err := server.New(cfg)
	if err != nil {
		cfg.Logger.Error("cannot start", "err", err)
		return exitError
	}
	if err := srv.Run(ctx); err != nil {
		switch {
		case errors.Is(err, datadir.ErrMismatch):
			// The message already says how to reset.
			fmt.Fprintf(sio.err, "memcons serve: %v\n", err)
		case errors.Is(err, consistency.ErrDataDir):
			fmt.Fprintf(sio.err, "memcons serve: %v; to start over, move %s away or %s\n",
				err, cfg.DataDir, datadir.ResetHint(cfg.Self))
		default:
			cfg.Logger.Error("stopped with error", "err", err)
		}
		return exitError
	}
	return exitOK
}

// loadForCommand runs loadConfig and turns its failures into an exit code;
// ok is false when the command should return code at once.
func loadForCommand(cmd string, args []string, sio stdio, extra func(*pflag.FlagSet)) (lc *loadedConfig, code int, ok bool) {
	lc, err := loadConfig(cmd, args, sio.err, extra)
	switch {
	case err == nil:
		for _, w := range removedKeyWarnings(lc.raw) {
			fmt.Fprintf(sio.err, "memcons %s: warning: %s\n", cmd, w)
		}
		return lc, exitOK, true
	case errors.Is(err, pflag.ErrHelp):
		return nil, exitOK, false
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(sio.err, "memcons %s: %v\nRun 'memcons %s --help' for usage.\n", cmd, err, cmd)
		return nil, exitUsage, false
	default:
		printProblems(sio, cmd, err)
		return nil, exitError, false
	}
}

// printProblems prints each line of err (a joined error lists one
// configuration problem a line) after the command's name.
func printProblems(sio stdio, cmd string, err error) {
	for line := range strings.SplitSeq(err.Error(), "\n") {
		fmt.Fprintf(sio.err, "memcons %s: %s\n", cmd, line)
	}
}
