package main

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/field"
	"github.com/memcons/memcons/internal/server"
)

// ErrInvalidConfig is matched (errors.Is) by every configuration problem.
var ErrInvalidConfig = errors.New("invalid configuration")

// FieldError is one configuration problem, naming the key it is about.
type FieldError struct {
	Key     string // "cluster.mode", "peer1.client_addr", "name", ...
	Problem string // what is wrong, for people
	Err     error  // underlying cause, if any
}

// Error returns "key: problem".
func (e *FieldError) Error() string {
	if e.Problem == "" && e.Err != nil {
		return e.Key + ": " + e.Err.Error()
	}
	return e.Key + ": " + e.Problem
}

// Unwrap returns the underlying cause.
func (e *FieldError) Unwrap() error { return e.Err }

// Is reports that every FieldError is an ErrInvalidConfig.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidConfig }

// fieldKeys is the one table from a configuration field whose rule its
// package holds (as field.Error names it: struct and field) to the key a
// user sets it with, so that the package's problem is reported on that key.
// "[]" stands for any element of a field; "%s" in a key is that element.
var fieldKeys = map[string]string{
	"server.Config.Mode":                          "cluster.mode",
	"server.Config.Store":                         "cluster.store",
	"peer.TransportConfig.ClusterName":            "cluster.name",
	"peer.TransportConfig.Mode":                   "cluster.mode",
	"peer.TransportConfig.Secret":                 "cluster.secret",
	"peer.TransportConfig.Self":                   "name",
	"peer.TransportConfig.Peers":                  "cluster.peers",
	"peer.TransportConfig.Peers[]":                "%s.peer_addr",
	"peer.MembershipConfig.Interval":              "cluster.heartbeat_interval",
	"peer.MembershipConfig.Timeout":               "cluster.heartbeat_timeout",
	"peer.MembershipConfig.Self":                  "name",
	"peer.MembershipConfig.Peers":                 "cluster.peers",
	"peer.MembershipConfig.Peers[].Name":          "cluster.peers",
	"controller.Config.MaxConns":                  "cluster.max_connections",
	"controller.Config.IdleTimeout":               "cluster.idle_timeout",
	"controller.Config.MaxLineLength":             "cluster.max_line_length",
	"controller.Config.ItemSizeMax":               "cluster.item_size_max",
	"kvcontroller.MemStoreOptions.LimitBytes":     "cluster.memory_limit",
	"kvcontroller.MemcachedOptions.Timeout":       "cluster.store_timeout",
	"kvcontroller.MemcachedOptions.PipelineConns": "cluster.store_conns",
	"ordered.Config.ElectionTimeout":              "cluster.election_timeout",
	"ordered.Config.LeaderWait":                   "cluster.leader_wait",
	"ordered.Config.RequestTimeout":               "cluster.request_timeout",
	"ordered.Config.SnapshotThreshold":            "cluster.snapshot_threshold",
	"ordered.Config.SnapshotInterval":             "cluster.snapshot_interval",
	"ordered.Config.StoreTimeout":                 "cluster.store_timeout",
	"eventual.Config.SyncInterval":                "cluster.sync_interval",
	"eventual.Config.RecentLogSize":               "cluster.recent_log_size",
	"eventual.Config.PushQueue":                   "cluster.push_queue",
	"eventual.Config.PushBatch":                   "cluster.push_batch",
	"eventual.Config.PushDelay":                   "cluster.push_delay",
	"server.Config.TLSCert":                       "cluster.tls_cert",
	"server.Config.TLSKey":                        "cluster.tls_key",
	"server.Config.TLSCA":                         "cluster.tls_ca",
	"server.Config.PeerTLS":                       "cluster.peer_tls",
	"server.Config.Peers[].ClientTLSAddr":         "%s.client_tls_addr",
}

// keyOf returns the key fieldKeys gives path ("eventual.Config.PushDelay",
// "peer.TransportConfig.Peers[peer2]"), or path itself for a field the
// table does not know.
func keyOf(path string) string {
	if k, ok := fieldKeys[path]; ok {
		return k
	}
	open := strings.IndexByte(path, '[')
	n := strings.IndexByte(path[max(open, 0):], ']')
	if open < 0 || n < 0 {
		return path
	}
	elem := path[open+1 : open+n]
	k, ok := fieldKeys[path[:open+1]+path[open+n:]]
	switch {
	case !ok:
		return path
	case strings.Contains(k, "%s"):
		return fmt.Sprintf(k, elem)
	}
	return k
}

// peerNameRE is what a peer name may look like: it is also an INI section,
// a flag prefix and part of an environment variable name.
var peerNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// buildConfig turns resolved raw values into the peer's server.Config and
// checks it with server.Config.Validate, the rules of the packages it
// configures: config-check, serve and reset all refuse what it refuses. It
// is pure: it does no IO. On failure the error joins one *FieldError per
// problem, in a stable order.
func buildConfig(raw rawConfig) (server.Config, error) {
	cfg, problems := parseConfig(raw)
	if len(problems) > 0 {
		errs := make([]error, len(problems))
		for i, p := range problems {
			errs[i] = p
		}
		return server.Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

// fieldParser collects problems while parsing keys of the [cluster] section.
type fieldParser struct {
	raw      rawConfig
	problems []*FieldError
	// unset lists keys left at their default without a problem of their
	// own, because another key's problem already explains them.
	unset map[string]bool
}

func (p *fieldParser) fail(key, format string, args ...any) {
	p.problems = append(p.problems, &FieldError{Key: key, Problem: fmt.Sprintf(format, args...)})
}

func (p *fieldParser) str(key string) string { return strings.TrimSpace(p.raw.Cluster[key]) }

func (p *fieldParser) nonEmpty(key string) string {
	s := p.str(key)
	if s == "" {
		p.fail(clusterSection+"."+key, "must not be empty")
	}
	return s
}

// The parsers below check syntax only and leave *dst alone on a problem:
// the rules a value must meet are its package's, checked by Validate.

func (p *fieldParser) duration(key string, dst *time.Duration) {
	d, err := time.ParseDuration(p.str(key))
	if err != nil {
		p.fail(clusterSection+"."+key, "bad duration %q (want e.g. 500ms, 3s, 1m)", p.str(key))
		return
	}
	*dst = d
}

func (p *fieldParser) size(key string) (int64, bool) {
	n, err := parseSize(p.str(key))
	if err != nil {
		p.fail(clusterSection+"."+key, "bad size %q (want a number with an optional k, m or g suffix)", p.str(key))
		return 0, false
	}
	return n, true
}

func (p *fieldParser) int(key string, dst *int) {
	n, err := strconv.Atoi(p.str(key))
	if err != nil {
		p.fail(clusterSection+"."+key, "bad integer %q", p.str(key))
		return
	}
	*dst = n
}

func (p *fieldParser) uint(key string, dst *uint64) {
	n, err := strconv.ParseUint(p.str(key), 10, 64)
	if err != nil {
		p.fail(clusterSection+"."+key, "bad integer %q (want 0 or more)", p.str(key))
		return
	}
	*dst = n
}

func (p *fieldParser) onOff(key string, dst *bool) {
	switch strings.ToLower(p.str(key)) {
	case "on", "true", "yes", "1":
		*dst = true
	case "off", "false", "no", "0", "":
		*dst = false
	default:
		p.fail(clusterSection+"."+key, "bad switch %q (want on or off)", p.str(key))
	}
}

func (p *fieldParser) logLevel(key string, dst *slog.Level) {
	if err := dst.UnmarshalText([]byte(p.str(key))); err != nil {
		p.fail(clusterSection+"."+key, "unknown level %q (want debug, info, warn or error)", p.str(key))
	}
}

// formatOnOff writes b the way onOff reads it.
func formatOnOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// parseConfig parses raw over server.DefaultConfig and then validates the
// result (validate); it returns every problem found.
func parseConfig(raw rawConfig) (server.Config, []*FieldError) {
	p := &fieldParser{raw: raw, unset: map[string]bool{}}
	for _, k := range raw.Unknown {
		p.fail(k, "unknown key")
	}
	if raw.Cluster == nil {
		p.fail(clusterSection, "missing section [%s]", clusterSection)
		return server.Config{}, p.problems
	}

	cfg := server.DefaultConfig()
	cfg.ClusterName = p.str("name")
	cfg.Secret = p.str("secret")
	if kind, err := consistency.ParseKind(p.str("mode")); err != nil {
		p.problems = append(p.problems, &FieldError{Key: clusterSection + ".mode", Err: err})
	} else {
		cfg.Mode = kind
	}

	p.duration("heartbeat_interval", &cfg.HeartbeatInterval)
	p.duration("heartbeat_timeout", &cfg.HeartbeatTimeout)
	p.duration("idle_timeout", &cfg.IdleTimeout)
	p.duration("store_timeout", &cfg.StoreTimeout)
	if n, ok := p.size("item_size_max"); ok {
		cfg.ItemSizeMax = int(n)
	}
	if n, ok := p.size("memory_limit"); ok {
		cfg.MemoryLimitBytes = n
	}
	p.int("max_connections", &cfg.MaxConns)
	p.int("max_line_length", &cfg.MaxLineLength)
	p.int("store_conns", &cfg.StoreConns)
	p.duration("election_timeout", &cfg.Ordered.ElectionTimeout)
	p.duration("leader_wait", &cfg.Ordered.LeaderWait)
	p.duration("request_timeout", &cfg.Ordered.RequestTimeout)
	p.uint("snapshot_threshold", &cfg.Ordered.SnapshotThreshold)
	p.duration("snapshot_interval", &cfg.Ordered.SnapshotInterval)
	p.duration("sync_interval", &cfg.Eventual.SyncInterval)
	p.int("recent_log_size", &cfg.Eventual.RecentLogSize)
	p.int("push_queue", &cfg.Eventual.PushQueue)
	p.int("push_batch", &cfg.Eventual.PushBatch)
	p.duration("push_delay", &cfg.Eventual.PushDelay)
	cfg.Store = server.StoreKind(p.str("store"))
	cfg.TLSCert, cfg.TLSKey, cfg.TLSCA = p.str("tls_cert"), p.str("tls_key"), p.str("tls_ca")
	p.onOff("peer_tls", &cfg.PeerTLS)
	p.logLevel("log_level", &cfg.LogLevel)
	p.onOff("pprof", &cfg.Pprof)

	dataDir := p.nonEmpty("data_dir")
	cfg.Peers = p.peers(cfg.Store)
	cfg.Self = p.self(cfg.Peers)
	if dataDir != "" && cfg.Self != "" {
		if !filepath.IsAbs(dataDir) {
			run := p.raw.RunDir
			if run == "" {
				run = defaultRunDir
			}
			dataDir = filepath.Join(run, dataDir)
		}
		cfg.DataDir = filepath.Join(dataDir, cfg.Self)
	}
	p.validate(cfg)
	return cfg, p.problems
}

// validate runs cfg.Validate and reports each problem on the key its field
// is set with (fieldKeys). It leaves out a problem on a key that already
// has one, or whose rule compares with such a key, and a problem two
// packages report alike on one key (store_timeout) is reported once.
func (p *fieldParser) validate(cfg server.Config) {
	skip := maps.Clone(p.unset)
	for _, fe := range p.problems {
		skip[fe.Key] = true
	}
	fields, rest := field.All(cfg.Validate())
	seen := map[string]bool{}
	for _, f := range fields {
		key := keyOf(f.Path())
		if skip[key] || slices.ContainsFunc(f.Refs(), func(r string) bool { return skip[keyOf(r)] }) {
			continue
		}
		fe := &FieldError{Key: key, Problem: f.Rule(keyOf), Err: f}
		if !seen[fe.Error()] {
			seen[fe.Error()] = true
			p.problems = append(p.problems, fe)
		}
	}
	for _, err := range rest {
		p.problems = append(p.problems, &FieldError{Key: "config", Err: err})
	}
}

// peers parses cluster.peers and every listed peer's section.
func (p *fieldParser) peers(store server.StoreKind) []server.PeerAddrs {
	const key = clusterSection + ".peers"
	names := splitList(p.raw.Cluster["peers"])
	if len(names) == 0 {
		p.fail(key, "no peers listed")
		return nil
	}
	seen := map[string]bool{}
	var peers []server.PeerAddrs
	for _, n := range names {
		switch {
		case n == "":
			p.fail(key, "empty peer name in %q", p.raw.Cluster["peers"])
			continue
		case !peerNameRE.MatchString(n) || n == clusterSection:
			p.fail(key, "bad peer name %q (want lower-case letters, digits, '-' or '_', not %q)", n, clusterSection)
			continue
		case seen[n]:
			p.fail(key, "peer %q is listed twice", n)
			continue
		}
		seen[n] = true
		sec, ok := p.raw.Sections[n]
		if !ok {
			p.fail(n, "missing section [%s] for a peer listed in cluster.peers", n)
			continue
		}
		tlsAddr := p.addr(n, sec, "client_tls_addr", false)
		peers = append(peers, server.PeerAddrs{
			Name:          n,
			ClientAddr:    p.addr(n, sec, "client_addr", tlsAddr == "" && strings.TrimSpace(sec["client_tls_addr"]) == ""),
			ClientTLSAddr: tlsAddr,
			PeerAddr:      p.addr(n, sec, "peer_addr", true),
			ReplicaAddr:   p.addr(n, sec, "replica_addr", store == server.StoreMemcached),
			MetricsAddr:   p.addr(n, sec, "metrics_addr", false),
		})
	}
	for _, s := range slices.Sorted(maps.Keys(p.raw.Sections)) {
		if !seen[s] && !slices.Contains(names, s) {
			p.fail(s, "section [%s] is not listed in cluster.peers", s)
		}
	}
	p.portClashes(peers, store)
	return peers
}

// addr checks section key k of peer n; required says whether it may be
// missing.
func (p *fieldParser) addr(n string, sec map[string]string, k string, required bool) string {
	key := n + "." + k
	a := strings.TrimSpace(sec[k])
	if a == "" {
		if required {
			switch k {
			case "replica_addr":
				p.fail(key, "missing (required when cluster.store is memcached)")
			case "client_addr":
				p.fail(key, "missing (set client_addr, client_tls_addr or both)")
			default:
				p.fail(key, "missing")
			}
		}
		return ""
	}
	if _, _, err := splitAddr(a); err != nil {
		p.fail(key, "bad address %q: %v", a, err)
		return ""
	}
	return a
}

// portClashes reports an address whose port is already used on the same
// host by another address of any peer.
func (p *fieldParser) portClashes(peers []server.PeerAddrs, store server.StoreKind) {
	owner := map[string]string{} // normalized host:port -> key that uses it
	for _, pa := range peers {
		addrs := []struct{ k, a string }{
			{"client_addr", pa.ClientAddr},
			{"client_tls_addr", pa.ClientTLSAddr},
			{"peer_addr", pa.PeerAddr},
		}
		if store == server.StoreMemcached {
			addrs = append(addrs, struct{ k, a string }{"replica_addr", pa.ReplicaAddr})
		}
		addrs = append(addrs, struct{ k, a string }{"metrics_addr", pa.MetricsAddr})
		for _, x := range addrs {
			if x.a == "" {
				continue
			}
			host, port, err := splitAddr(x.a)
			if err != nil {
				continue
			}
			id := net.JoinHostPort(host, strconv.Itoa(port))
			key := pa.Name + "." + x.k
			if prev, dup := owner[id]; dup {
				p.fail(key, "port %d on host %q is also used by %s", port, host, prev)
				continue
			}
			owner[id] = key
		}
	}
}

// self checks --name against the listed peers.
func (p *fieldParser) self(peers []server.PeerAddrs) string {
	name := strings.ToLower(strings.TrimSpace(p.raw.Name))
	if name == "" {
		p.fail("name", "--name is required (one of cluster.peers)")
		return ""
	}
	for _, pa := range peers {
		if pa.Name == name {
			return name
		}
	}
	listedNames := splitList(p.raw.Cluster["peers"])
	if len(listedNames) > 0 && !slices.Contains(listedNames, name) {
		p.fail("name", "peer %q is not in cluster.peers (%s)", name, strings.Join(listedNames, ", "))
	}
	p.unset["name"] = true // listed, but its section is broken: already reported
	return ""
}

// splitAddr splits host:port, lower-cases the host, maps localhost to
// 127.0.0.1 and checks the port is 1-65535.
func splitAddr(a string) (string, int, error) {
	host, ps, err := net.SplitHostPort(a)
	if err != nil {
		return "", 0, fmt.Errorf("want host:port: %w", err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not 1-65535", ps)
	}
	host = strings.ToLower(host)
	if host == "localhost" {
		host = "127.0.0.1"
	}
	return host, port, nil
}

// formatSize writes n the way parseSize reads it, with the largest suffix
// that divides it: 1m, 64m, 512k, 1000.
func formatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"g", 30}, {"m", 20}, {"k", 10}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// formatDuration writes d the way config.ini does: 500ms, 3s, 2m, 1h30m.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// parseSize parses a byte count with an optional k, m or g suffix (powers
// of 1024, case-insensitive, an optional trailing b): "1m", "64M", "512kb".
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q too large", s)
	}
	return n * mult, nil
}
