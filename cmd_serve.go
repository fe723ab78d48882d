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
// peer until ctx is cancelled (SIGINT/SIGTERM), then drains it. SIGHUP
// reloads the config (reload.go).
func runServe(ctx context.Context, args []string, sio stdio) int {
	hup, stopHUP := notifyHUP()
	defer stopHUP()
	var logLevel *string
	lc, code, ok := loadForCommand("serve", args, sio, func(fs *pflag.FlagSet) { logLevel = serveFlags(fs) })
	if !ok {
		return code
	}
	if extra := lc.flags.fs.Args(); len(extra) > 0 {
		fmt.Fprintf(sio.err, "memcons serve: unexpected arguments %q\n", extra)
		return exitUsage
	}
	var flagLevel slog.Level
	if err := flagLevel.UnmarshalText([]byte(*logLevel)); *logLevel != "" && err != nil {
		fmt.Fprintf(sio.err, "memcons serve: --log-level: unknown level %q (want debug, info, warn or error)\n", *logLevel)
		return exitUsage
	}
	cfg, err := buildConfig(lc.raw)
	if err != nil {
		printProblems(sio, "serve", err)
		return exitError
	}
	level := new(slog.LevelVar)
	level.Set(cfg.LogLevel)
	if *logLevel != "" {
		level.Set(flagLevel)
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
	// SIGHUP reloads the config for as long as the peer runs.
	rctx, stopReload := context.WithCancel(ctx)
	reloaded := make(chan struct{})
	r := newReloader(args, func(fs *pflag.FlagSet) { serveFlags(fs) }, srv, cfg.Logger, level, *logLevel != "", lc.raw)
	go func() {
		defer close(reloaded)
		r.watch(rctx, hup)
	}()
	err = srv.Run(ctx)
	stopReload()
	<-reloaded
	if err != nil {
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

// serveFlags defines serve's own flags and returns --log-level's value.
func serveFlags(fs *pflag.FlagSet) *string {
	return fs.String("log-level", "", "log level: debug, info, warn or error (default cluster.log_level)")
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
