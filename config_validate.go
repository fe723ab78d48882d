package main

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/consistency/ordered"
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

const (
	minItemSize   = 1 << 10
	maxItemSize   = 1 << 30
	minLineLength = 512
	maxLineLength = 1 << 20
)

// peerNameRE is what a peer name may look like: it is also an INI section,
// a flag prefix and part of an environment variable name.
var peerNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// buildConfig turns resolved raw values into the peer's server.Config. It
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

// duration parses key; ok is false when it is missing or malformed.
func (p *fieldParser) duration(key string) (time.Duration, bool) {
	d, err := time.ParseDuration(p.str(key))
	if err != nil {
		p.fail(clusterSection+"."+key, "bad duration %q (want e.g. 500ms, 3s, 1m)", p.str(key))
		return 0, false
	}
	if d < 0 {
		p.fail(clusterSection+"."+key, "must not be negative, got %s", d)
		return 0, false
	}
	return d, true
}

func (p *fieldParser) size(key string, lo, hi int64) int64 {
	n, err := parseSize(p.str(key))
	if err != nil {
		p.fail(clusterSection+"."+key, "bad size %q (want a number with an optional k, m or g suffix)", p.str(key))
		return 0
	}
	if n < lo || n > hi {
		p.fail(clusterSection+"."+key, "%d is out of range [%d, %d]", n, lo, hi)
	}
	return n
}

func (p *fieldParser) integer(key string, lo, hi int) int {
	n, err := strconv.Atoi(p.str(key))
	if err != nil {
		p.fail(clusterSection+"."+key, "bad integer %q", p.str(key))
		return 0
	}
	if n < lo || n > hi {
		p.fail(clusterSection+"."+key, "%d is out of range [%d, %d]", n, lo, hi)
	}
	return n
}

func parseConfig(raw rawConfig) (server.Config, []*FieldError) {
	p := &fieldParser{raw: raw}
	for _, k := range raw.Unknown {
		p.fail(k, "unknown key")
	}
	if raw.Cluster == nil {
		p.fail(clusterSection, "missing section [%s]", clusterSection)
		return server.Config{}, p.problems
	}

	cfg := server.Config{
		ClusterName: p.nonEmpty("name"),
		Secret:      p.nonEmpty("secret"),
	}
	if kind, err := consistency.ParseKind(p.str("mode")); err != nil {
		p.problems = append(p.problems, &FieldError{Key: clusterSection + ".mode", Err: err})
	} else {
		cfg.Mode = kind
	}

	hbi, okI := p.duration("heartbeat_interval")
	hbt, okT := p.duration("heartbeat_timeout")
	switch {
	case okI && hbi == 0:
		p.fail(clusterSection+".heartbeat_interval", "must be positive")
	case okI && okT && hbt <= hbi:
		p.fail(clusterSection+".heartbeat_timeout", "%s must be longer than cluster.heartbeat_interval %s", hbt, hbi)
	}
	cfg.HeartbeatInterval, cfg.HeartbeatTimeout = hbi, hbt
	cfg.IdleTimeout, _ = p.duration("idle_timeout")
	if st, ok := p.duration("store_timeout"); ok && st == 0 {
		p.fail(clusterSection+".store_timeout", "must be positive")
	} else {
		cfg.StoreTimeout = st
	}

	cfg.ItemSizeMax = int(p.size("item_size_max", minItemSize, maxItemSize))
	cfg.MemoryLimitBytes = p.size("memory_limit", 1, 1<<40)
	cfg.MaxConns = p.integer("max_connections", 1, 1<<20)
	cfg.MaxLineLength = p.integer("max_line_length", minLineLength, maxLineLength)
	cfg.StoreConns = p.integer("store_conns", 1, 64)
	p.ordered(&cfg.Ordered)
	if si, ok := p.duration("sync_interval"); ok && si < time.Millisecond {
		p.fail(clusterSection+".sync_interval", "must be at least 1ms, got %s", si)
	} else {
		cfg.Eventual.SyncInterval = si
	}
	cfg.Eventual.RecentLogSize = p.integer("recent_log_size", 1, 1<<24)
	cfg.Eventual.PushQueue = p.integer("push_queue", 1, 1<<24)
	cfg.Eventual.PushBatch = p.integer("push_batch", 1, 1<<16)
	if pd, ok := p.duration("push_delay"); ok && (pd < time.Microsecond || pd > time.Second) {
		p.fail(clusterSection+".push_delay", "must be between 1µs and 1s, got %s", pd)
	} else {
		cfg.Eventual.PushDelay = pd
	}

	switch s := server.StoreKind(p.str("store")); s {
	case server.StoreMemcached, server.StoreMemory:
		cfg.Store = s
	default:
		p.fail(clusterSection+".store", "unknown store %q (want memcached or memory)", s)
	}

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
	return cfg, p.problems
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
		peers = append(peers, server.PeerAddrs{
			Name:        n,
			ClientAddr:  p.addr(n, sec, "client_addr", true),
			PeerAddr:    p.addr(n, sec, "peer_addr", true),
			ReplicaAddr: p.addr(n, sec, "replica_addr", store == server.StoreMemcached),
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
			if k == "replica_addr" {
				p.fail(key, "missing (required when cluster.store is memcached)")
			} else {
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
			{"peer_addr", pa.PeerAddr},
		}
		if store == server.StoreMemcached {
			addrs = append(addrs, struct{ k, a string }{"replica_addr", pa.ReplicaAddr})
		}
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
	return "" // listed, but its section is broken: already reported
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

// ordered parses the linearizable and sequential modes' raft settings.
func (p *fieldParser) ordered(o *ordered.Config) {
	if et, ok := p.duration("election_timeout"); ok && et < 10*time.Millisecond {
		p.fail(clusterSection+".election_timeout", "must be at least 10ms, got %s", et)
	} else {
		o.ElectionTimeout = et
	}
	lw, okW := p.duration("leader_wait")
	rt, okR := p.duration("request_timeout")
	switch {
	case okW && lw == 0:
		p.fail(clusterSection+".leader_wait", "must be positive")
	case okR && rt == 0:
		p.fail(clusterSection+".request_timeout", "must be positive")
	case okW && okR && rt < lw:
		p.fail(clusterSection+".request_timeout", "%s must be at least cluster.leader_wait %s", rt, lw)
	}
	o.LeaderWait, o.RequestTimeout = lw, rt
	o.SnapshotThreshold = uint64(p.integer("snapshot_threshold", 1, 1<<30))
	if si, ok := p.duration("snapshot_interval"); ok && si < time.Millisecond {
		p.fail(clusterSection+".snapshot_interval", "must be at least 1ms, got %s", si)
	} else {
		o.SnapshotInterval = si
	}
}
