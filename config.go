package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/server"
)

// shippedSecret is the secret config.ini and docker-compose.yml ship with;
// serve warns when a peer runs with it.
const shippedSecret = "change-me"

const (
	// envPrefix starts every environment override: MEMCONS_<SECTION>_<KEY>.
	envPrefix = "MEMCONS"
	// clusterSection names the INI section holding cluster-wide keys.
	clusterSection = "cluster"
	// defaultConfigFile is read when --config is not given.
	defaultConfigFile = "config.ini"
	// runDirEnv names the run directory that startup.sh and stop.sh share;
	// a relative data_dir lives inside it.
	runDirEnv = "MEMCONS_RUN_DIR"
	// defaultRunDir is the run directory when runDirEnv is unset.
	defaultRunDir = "run"
)

// ErrUsage reports a command line that could not be parsed.
var ErrUsage = errors.New("bad command line")

// keySpec describes one configuration key inside a section.
type keySpec struct {
	name string
	def  string // default when neither file, env nor flag sets it
	help string
}

// clusterKeys lists every key of the [cluster] section with its default.
// A default of a setting that a package holds is that package's own
// (server.DefaultConfig), written the way the key is read.
func clusterKeys() []keySpec {
	d := server.DefaultConfig()
	return []keySpec{
		{"name", "memcons", "cluster name; peers refuse a peer of another cluster"},
		{"mode", string(consistency.Eventual), "consistency mode: linearizable, sequential or eventual"},
		{"secret", "", "shared secret peers prove membership with"},
		{"peers", "", "comma-separated peer names, each with its own [section]"},
		{"heartbeat_interval", formatDuration(d.HeartbeatInterval), "how often peers send heartbeats"},
		{"heartbeat_timeout", formatDuration(d.HeartbeatTimeout), "silence after which a peer is marked down"},
		{"data_dir", "data", "data directory; each peer uses <data_dir>/<name>; a relative one is inside the run directory ($MEMCONS_RUN_DIR, default ./run)"},
		{"item_size_max", formatSize(int64(d.ItemSizeMax)), "largest value accepted (k/m/g suffixes)"},
		{"max_connections", strconv.Itoa(d.MaxConns), "client connection limit per peer"},
		{"idle_timeout", formatDuration(d.IdleTimeout), "close idle client connections after this long (0 disables)"},
		{"max_line_length", strconv.Itoa(d.MaxLineLength), "longest command line accepted, bytes"},
		{"store", string(d.Store), "replica backend: memcached or memory"},
		{"memory_limit", formatSize(d.MemoryLimitBytes), "capacity of the embedded memory store (k/m/g suffixes)"},
		{"store_timeout", formatDuration(d.StoreTimeout), "timeout of one backend call"},
		{"store_conns", strconv.Itoa(d.StoreConns), "pipelined connections that carry get, set and delete to the replica"},
		{"election_timeout", formatDuration(d.Ordered.ElectionTimeout), "linearizable/sequential: a follower stands for election after 0.5-1.5x this much silence from the leader"},
		{"leader_wait", formatDuration(d.Ordered.LeaderWait), "linearizable/sequential: how long a request waits for a reachable leader"},
		{"request_timeout", formatDuration(d.Ordered.RequestTimeout), "linearizable/sequential: bound on one request (at least leader_wait)"},
		{"snapshot_threshold", strconv.FormatUint(d.Ordered.SnapshotThreshold, 10), "linearizable/sequential: new log entries that trigger a snapshot"},
		{"snapshot_interval", formatDuration(d.Ordered.SnapshotInterval), "linearizable/sequential: how often to check whether to snapshot"},
		{"sync_interval", formatDuration(d.Eventual.SyncInterval), "eventual mode: time between anti-entropy syncs with each peer"},
		{"recent_log_size", strconv.Itoa(d.Eventual.RecentLogSize), "eventual mode: recent writes kept for delta sync (also the tombstone limit)"},
		{"push_queue", strconv.Itoa(d.Eventual.PushQueue), "eventual mode: writes waiting to be pushed to one peer; more are left to sync"},
		{"push_batch", strconv.Itoa(d.Eventual.PushBatch), "eventual mode: most writes sent in one push"},
		{"push_delay", formatDuration(d.Eventual.PushDelay), "eventual mode: how long a push waits for more writes to share its batch"},
		{"pprof", formatOnOff(d.Pprof), "on: serve /debug/pprof/ beside /metrics on the peer's metrics_addr"},
		{"tls_cert", "", "PEM certificate chain of the TLS client port and, with peer_tls, the peer port (reloaded on SIGHUP)"},
		{"tls_key", "", "PEM private key of tls_cert"},
		{"tls_ca", "", "PEM CA: client certificates on the TLS client port must chain to it, and with peer_tls every peer's"},
		{"peer_tls", "off", "on: the peer port runs mutual TLS from tls_ca around the HMAC handshake"},
		{"log_level", "info", "log level: debug, info, warn or error (reloaded on SIGHUP; --log-level overrides)"},
	}
}

// removedClusterKeys maps each [cluster] key that memcons no longer has to
// why. A config file that still sets one is accepted with a one-line
// warning, as memcached still starts with options it made no-ops (-o
// modern, inline_ascii_resp): the key tuned something that is gone, so
// ignoring it changes nothing the operator relied on, and refusing it
// would stop a peer from starting after an upgrade over an unchanged
// config.ini. Flags for them no longer exist.
var removedClusterKeys = map[string]string{
	"store_max_idle": "removed, the replica client keeps no idle pool",
}

// peerKeys lists every key of a peer section.
func peerKeys() []keySpec {
	return []keySpec{
		{"client_addr", "", "host:port clients connect to (memcached text protocol); may be empty with client_tls_addr"},
		{"client_tls_addr", "", "host:port of the TLS client port (needs cluster.tls_cert and tls_key)"},
		{"peer_addr", "", "host:port other peers connect to"},
		{"replica_addr", "", "host:port of this peer's backing memcached"},
		{"metrics_addr", "", "host:port of the Prometheus /metrics endpoint over HTTP (empty: off)"},
	}
}

// rawConfig is the configuration after precedence (flag > env > file >
// default) was applied, before any value was parsed. It is the input of the
// pure buildConfig.
type rawConfig struct {
	// Name is the peer this process runs as (--name); empty when the
	// command does not need one.
	Name string
	// Cluster maps every cluster key to its resolved value.
	Cluster map[string]string
	// Sections maps each peer section that exists (in the file, or through
	// an env or flag override of one of its keys) to its resolved keys.
	Sections map[string]map[string]string
	// RunDir is the run directory ($MEMCONS_RUN_DIR); "" means ./run.
	RunDir string
	// Unknown lists keys found in the file that memcons does not know, as
	// "section.key" (or "key" outside any section).
	Unknown []string
	// Removed lists keys found in the file that memcons once had
	// (removedClusterKeys), as "section.key"; they are ignored.
	Removed []string
}

// configFlags defines the flags shared by every command that reads the
// config, plus one flag per key of every section in peers.
type configFlags struct {
	fs          *pflag.FlagSet
	configFile  *string
	name        *string
	consistency *string
}

func newConfigFlags(cmd string, peers []string, extra func(*pflag.FlagSet)) *configFlags {
	fs := pflag.NewFlagSet(cmd, pflag.ContinueOnError)
	fs.SortFlags = false
	c := &configFlags{
		fs:          fs,
		configFile:  fs.String("config", defaultConfigFile, "config file (INI)"),
		name:        fs.String("name", "", "name of this peer (a section of the config)"),
		consistency: fs.String("consistency", "", "alias of --cluster.mode"),
	}
	if extra != nil {
		extra(fs)
	}
	for _, k := range clusterKeys() {
		fs.String(clusterSection+"."+k.name, k.def, k.help)
	}
	for _, p := range peers {
		for _, k := range peerKeys() {
			fs.String(p+"."+k.name, "", p+": "+k.help)
		}
	}
	return c
}

// loadedConfig is what loadConfig returns: the resolved raw values and the
// fully parsed flag set (for command-specific flags and positional args).
type loadedConfig struct {
	raw   rawConfig
	flags *configFlags
	v     *viper.Viper
}

// loadConfig parses args in two passes: the first finds --config (ignoring
// flags it does not know yet), the file then names the peer sections, and
// the second pass defines a flag for every key of every section and parses
// args fully. extra defines command-specific flags on both passes. With
// --help it prints usage to stderr and returns pflag.ErrHelp; a bad command
// line returns an error matching ErrUsage.
func loadConfig(cmd string, args []string, stderr io.Writer, extra func(*pflag.FlagSet)) (*loadedConfig, error) {
	first := newConfigFlags(cmd, nil, extra)
	first.fs.ParseErrorsAllowlist.UnknownFlags = true
	first.fs.SetOutput(io.Discard)
	first.fs.Usage = func() {}
	err := first.fs.Parse(args)
	helpAsked := errors.Is(err, pflag.ErrHelp)
	if err != nil && !helpAsked {
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}

	v, err := newViper()
	if err != nil {
		return nil, err
	}
	setDefaults(v)
	fileSections, fileTop, err := readConfigFile(v, *first.configFile)
	if err != nil {
		if helpAsked {
			printUsage(stderr, first)
			return nil, pflag.ErrHelp
		}
		return nil, err
	}
	// cluster.peers may come from a flag, so bind the first pass's flags
	// before asking for it.
	if err := bindFlags(v, first); err != nil {
		return nil, err
	}
	peers := peerNames(fileSections, v.GetString(clusterSection+".peers"))

	second := newConfigFlags(cmd, peers, extra)
	second.fs.SetOutput(io.Discard)
	second.fs.Usage = func() {}
	if err := second.fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			printUsage(stderr, second)
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	// The second pass defines every flag of the first, so binding it
	// replaces each of the first pass's bindings.
	if err := bindFlags(v, second); err != nil {
		return nil, err
	}
	// A section named only in cluster.peers by the second pass (e.g. by an
	// env override) still counts; so does one in the file.
	peers = peerNames(fileSections, v.GetString(clusterSection+".peers"))
	raw := resolveRaw(v, *second.name, peers, fileSections, fileTop)
	raw.RunDir = os.Getenv(runDirEnv)
	return &loadedConfig{
		raw:   raw,
		flags: second,
		v:     v,
	}, nil
}

func setDefaults(v *viper.Viper) {
	for _, k := range clusterKeys() {
		v.SetDefault(clusterSection+"."+k.name, k.def)
	}
}

// readConfigFile loads path into v and returns the file's sections with
// their keys, and its keys outside any section.
func readConfigFile(v *viper.Viper, path string) (map[string][]string, []string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	m := map[string]any{}
	if err := (iniCodec{}).Decode(b, m); err != nil {
		return nil, nil, fmt.Errorf("read config %s: %w", path, err)
	}
	if err := v.ReadConfig(bytes.NewReader(b)); err != nil {
		return nil, nil, fmt.Errorf("read config %s: %w", path, err)
	}
	sections := map[string][]string{}
	var top []string
	for name, val := range m {
		sec, ok := val.(map[string]any)
		if !ok {
			top = append(top, name)
			continue
		}
		keys := make([]string, 0, len(sec))
		for k := range sec {
			keys = append(keys, strings.ToLower(k))
		}
		sections[strings.ToLower(name)] = keys
	}
	return sections, top, nil
}

// bindFlags makes every flag of c a source for the key of the same name;
// --consistency is bound to cluster.mode when given.
func bindFlags(v *viper.Viper, c *configFlags) error {
	var err error
	c.fs.VisitAll(func(f *pflag.Flag) {
		if strings.Contains(f.Name, ".") {
			err = errors.Join(err, v.BindPFlag(f.Name, f))
		}
	})
	if err != nil {
		return fmt.Errorf("bind flags: %w", err)
	}
	if !c.fs.Changed("consistency") {
		return nil
	}
	modeKey := clusterSection + ".mode"
	if c.fs.Changed(modeKey) && *c.consistency != c.fs.Lookup(modeKey).Value.String() {
		return &FieldError{Key: modeKey, Problem: fmt.Sprintf("--consistency %q conflicts with --%s %q",
			*c.consistency, modeKey, c.fs.Lookup(modeKey).Value.String())}
	}
	if err := v.BindPFlag(modeKey, c.fs.Lookup("consistency")); err != nil {
		return fmt.Errorf("bind flags: %w", err)
	}
	return nil
}

// peerNames returns every peer section name: those in the file (but
// [cluster]) and those listed in cluster.peers, sorted.
func peerNames(fileSections map[string][]string, listed string) []string {
	var names []string
	for s := range fileSections {
		if s != clusterSection {
			names = append(names, s)
		}
	}
	for _, p := range splitList(listed) {
		if p != "" && p != clusterSection {
			names = append(names, strings.ToLower(p))
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// splitList splits a comma-separated list and trims each element; it keeps
// empty elements so validation can report them.
func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

// resolveRaw reads every known key from v, which applies precedence.
func resolveRaw(v *viper.Viper, name string, peers []string, fileSections map[string][]string, fileTop []string) rawConfig {
	raw := rawConfig{
		Name:     name,
		Cluster:  map[string]string{},
		Sections: map[string]map[string]string{},
	}
	for _, k := range clusterKeys() {
		raw.Cluster[k.name] = v.GetString(clusterSection + "." + k.name)
	}
	for _, p := range peers {
		_, inFile := fileSections[p]
		sec := map[string]string{}
		for _, k := range peerKeys() {
			key := p + "." + k.name
			if v.IsSet(key) {
				sec[k.name] = v.GetString(key)
			}
		}
		if inFile || len(sec) > 0 {
			raw.Sections[p] = sec
		}
	}
	known := map[string]bool{}
	for _, k := range clusterKeys() {
		known[clusterSection+"."+k.name] = true
	}
	for s, keys := range fileSections {
		for _, k := range keys {
			if s == clusterSection && known[s+"."+k] {
				continue
			}
			if _, removed := removedClusterKeys[k]; s == clusterSection && removed {
				raw.Removed = append(raw.Removed, s+"."+k)
				continue
			}
			if s != clusterSection && slices.ContainsFunc(peerKeys(), func(ks keySpec) bool { return ks.name == k }) {
				continue
			}
			raw.Unknown = append(raw.Unknown, s+"."+k)
		}
	}
	raw.Unknown = append(raw.Unknown, fileTop...)
	slices.Sort(raw.Unknown)
	slices.Sort(raw.Removed)
	return raw
}

// removedKeyWarnings returns one line per removed key raw's file still
// sets: "cluster.store_max_idle: removed, ...; ignored".
func removedKeyWarnings(raw rawConfig) []string {
	lines := make([]string, 0, len(raw.Removed))
	for _, k := range raw.Removed {
		_, name, _ := strings.Cut(k, ".")
		lines = append(lines, fmt.Sprintf("%s: %s; ignored, delete it from the config", k, removedClusterKeys[name]))
	}
	return lines
}

// printUsage prints the flags of c, grouped as pflag lays them out.
func printUsage(w io.Writer, c *configFlags) {
	fmt.Fprintf(w, "Usage: memcons %s [flags]\n\nFlags (each key also reads env %s_<SECTION>_<KEY>):\n%s",
		c.fs.Name(), envPrefix, c.fs.FlagUsages())
}
