package main

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/memcons/memcons/internal/server"
)

// liveKey is a group of config keys a running peer can change, and how.
type liveKey struct {
	keys []string // "cluster.idle_timeout", or "%s.key" for the peer's own section
	// always applies the group on every reload, changed or not (TLS files
	// are re-read: a renewed certificate keeps its path).
	always bool
	apply  func(r *reloader, next server.Config) error
}

// liveKeys is the one table of what SIGHUP can change; every other key
// needs a restart, and a reload that changes one keeps its running value.
var liveKeys = []liveKey{
	{keys: []string{"cluster.idle_timeout"}, apply: func(r *reloader, c server.Config) error {
		return r.srv.SetIdleTimeout(c.IdleTimeout)
	}},
	{keys: []string{"cluster.max_connections"}, apply: func(r *reloader, c server.Config) error {
		return r.srv.SetMaxConns(c.MaxConns)
	}},
	{keys: []string{"cluster.max_line_length"}, apply: func(r *reloader, c server.Config) error {
		return r.srv.SetMaxLineLength(c.MaxLineLength)
	}},
	{keys: []string{"cluster.heartbeat_interval", "cluster.heartbeat_timeout"}, apply: func(r *reloader, c server.Config) error {
		return r.srv.SetHeartbeatTiming(c.HeartbeatInterval, c.HeartbeatTimeout)
	}},
	{keys: []string{"cluster.log_level"}, apply: func(r *reloader, c server.Config) error {
		if !r.levelFlag { // --log-level beats the file, as every flag does
			r.level.Set(c.LogLevel)
		}
		return nil
	}},
	{keys: []string{"cluster.sync_interval", "cluster.push_batch", "cluster.push_delay"}, apply: func(r *reloader, c server.Config) error {
		return r.srv.SetEventualTuning(c.Eventual)
	}},
	{keys: []string{"cluster.leader_wait", "cluster.request_timeout"}, apply: func(r *reloader, c server.Config) error {
		return r.srv.SetOrderedTimeouts(c.Ordered)
	}},
	{keys: []string{"cluster.snapshot_threshold", "cluster.snapshot_interval"}, apply: func(r *reloader, c server.Config) error {
		return r.srv.SetSnapshotting(c.Ordered)
	}},
	{keys: []string{"%s.metrics_addr"}, apply: func(r *reloader, c server.Config) error {
		self, err := c.SelfAddrs()
		if err != nil {
			return err
		}
		return r.srv.SetMetricsAddr(self.MetricsAddr)
	}},
	{keys: []string{"cluster.pprof"}, apply: func(r *reloader, c server.Config) error {
		r.srv.SetPprof(c.Pprof)
		return nil
	}},
	{keys: []string{"cluster.tls_cert", "cluster.tls_key", "cluster.tls_ca"}, always: true,
		apply: func(r *reloader, c server.Config) error { return r.srv.ReloadTLS(c) }},
}

// hiddenKeys are never logged with their values.
var hiddenKeys = map[string]bool{"cluster.secret": true}

// reloader re-reads the config on SIGHUP and applies what may change live.
type reloader struct {
	args      []string             // serve's command line, re-parsed each time
	extra     func(*pflag.FlagSet) // serve's own flags
	srv       *server.Server       // the running peer
	log       *slog.Logger         // the peer's logger
	level     *slog.LevelVar       // the logger's level
	levelFlag bool                 // --log-level was given
	self      string               // this peer's name
	running   map[string]string    // every key's value in force, "section.key"
}

// newReloader returns a reloader for a peer started from raw.
func newReloader(args []string, extra func(*pflag.FlagSet), srv *server.Server, log *slog.Logger,
	level *slog.LevelVar, levelFlag bool, raw rawConfig) *reloader {
	return &reloader{
		args: args, extra: extra, srv: srv, log: log, level: level, levelFlag: levelFlag,
		self: raw.Name, running: flatten(raw),
	}
}

// notifyHUP takes SIGHUP from the process (its default ends it) until the
// returned stop is called; serve calls it first thing, so that a SIGHUP
// never ends a peer.
func notifyHUP() (hup <-chan os.Signal, stop func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	return c, func() { signal.Stop(c) }
}

// watch reloads on every signal from hup until ctx ends.
func (r *reloader) watch(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload()
		}
	}
}

// reload reads the config again and applies each changed live key; a
// changed key that needs a restart is refused with one line and keeps its
// running value. A config that does not load or validate changes nothing.
func (r *reloader) reload() {
	r.log.Info("config reload (SIGHUP)")
	lc, err := loadConfig("serve", r.args, io.Discard, r.extra)
	if err != nil {
		r.logProblems("config reload failed; keeping the running config", err)
		return
	}
	raw := lc.raw
	next, err := buildConfig(raw)
	if err != nil {
		r.logProblems("config reload refused; keeping the running config", err)
		return
	}
	file := flatten(raw)
	changed := map[string]bool{}
	for _, k := range slices.Sorted(maps.Keys(union(r.running, file))) {
		if r.running[k] != file[k] {
			changed[k] = true
		}
	}
	for _, lk := range liveKeys {
		var keys []string
		for _, k := range lk.keys {
			k = strings.ReplaceAll(k, "%s", r.self)
			if changed[k] {
				keys = append(keys, k)
			}
			delete(changed, k)
		}
		if len(keys) == 0 && !lk.always {
			continue
		}
		if err := lk.apply(r, next); err != nil {
			r.log.Error("config reload: cannot apply; keeping the running value", "keys", strings.Join(keys, ","), "err", err)
			continue
		}
		for _, k := range keys {
			r.log.Info("config reload: changed", "key", k, "from", r.shown(k, r.running[k]), "to", r.shown(k, file[k]))
			r.running[k] = file[k]
		}
	}
	for _, k := range slices.Sorted(maps.Keys(changed)) {
		r.log.Warn("config reload: "+k+" needs a restart; keeping the running value",
			"key", k, "running", r.shown(k, r.running[k]), "file", r.shown(k, file[k]))
	}
}

// shown is v as a log line may show it.
func (r *reloader) shown(key, v string) string {
	if hiddenKeys[key] {
		return "(hidden)"
	}
	return v
}

func (r *reloader) logProblems(msg string, err error) {
	for line := range strings.SplitSeq(err.Error(), "\n") {
		r.log.Error(msg, "problem", line)
	}
}

// flatten returns every key of raw as "section.key" -> value.
func flatten(raw rawConfig) map[string]string {
	m := map[string]string{}
	for k, v := range raw.Cluster {
		m[clusterSection+"."+k] = strings.TrimSpace(v)
	}
	for s, keys := range raw.Sections {
		for k, v := range keys {
			m[s+"."+k] = strings.TrimSpace(v)
		}
	}
	return m
}

func union(a, b map[string]string) map[string]bool {
	u := map[string]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}
