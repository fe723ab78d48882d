package main

import (
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/consistency/eventual"
	"github.com/memcons/memcons/consistency/ordered"
	"github.com/memcons/memcons/controller"
	"github.com/memcons/memcons/internal/server"
	"github.com/memcons/memcons/kvcontroller"
	"github.com/memcons/memcons/peer"
)

// validRaw returns a fresh, valid three-peer configuration as peer1.
func validRaw() rawConfig {
	cluster := map[string]string{}
	for _, k := range clusterKeys() {
		cluster[k.name] = k.def
	}
	cluster["secret"] = "s3cret"
	cluster["peers"] = "peer1, peer2, peer3"
	return rawConfig{
		Name:    "peer1",
		Cluster: cluster,
		Sections: map[string]map[string]string{
			"peer1": {"client_addr": "127.0.0.1:8000", "peer_addr": "127.0.0.1:7000", "replica_addr": "127.0.0.1:11201"},
			"peer2": {"client_addr": "127.0.0.1:8001", "peer_addr": "127.0.0.1:7001", "replica_addr": "127.0.0.1:11202"},
			"peer3": {"client_addr": "127.0.0.1:8002", "peer_addr": "127.0.0.1:7002", "replica_addr": "127.0.0.1:11203"},
		},
	}
}

func TestBuildConfig_Valid(t *testing.T) {
	cfg, err := buildConfig(validRaw())
	require.NoError(t, err)
	assert.Equal(t, server.Config{
		ClusterName:       "memcons",
		Mode:              consistency.Eventual,
		Secret:            "s3cret",
		HeartbeatInterval: 500 * time.Millisecond,
		HeartbeatTimeout:  3 * time.Second,
		DataDir:           "run/data/peer1",
		ItemSizeMax:       1 << 20,
		MaxConns:          1024,
		IdleTimeout:       0,
		MaxLineLength:     8192,
		Store:             server.StoreMemcached,
		MemoryLimitBytes:  64 << 20,
		StoreTimeout:      time.Second,
		StoreConns:        1,
		Eventual: eventual.Config{
			SyncInterval: time.Second, RecentLogSize: 65536, PushQueue: 8192, PushBatch: 128, PushDelay: 10 * time.Millisecond,
		},
		Ordered: ordered.Config{
			ElectionTimeout: time.Second, LeaderWait: 3 * time.Second, RequestTimeout: 5 * time.Second,
			SnapshotThreshold: 8192, SnapshotInterval: 2 * time.Minute, StoreTimeout: time.Second,
		},
		Self: "peer1",
		Peers: []server.PeerAddrs{
			{Name: "peer1", ClientAddr: "127.0.0.1:8000", PeerAddr: "127.0.0.1:7000", ReplicaAddr: "127.0.0.1:11201"},
			{Name: "peer2", ClientAddr: "127.0.0.1:8001", PeerAddr: "127.0.0.1:7001", ReplicaAddr: "127.0.0.1:11202"},
			{Name: "peer3", ClientAddr: "127.0.0.1:8002", PeerAddr: "127.0.0.1:7002", ReplicaAddr: "127.0.0.1:11203"},
		},
	}, cfg)
}

func TestBuildConfig_AcceptsVariants(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *rawConfig)
		check  func(t *testing.T, cfg server.Config)
	}{
		{
			name: "memory store needs no replica_addr and ignores its clashes",
			mutate: func(r *rawConfig) {
				r.Cluster["store"] = "memory"
				delete(r.Sections["peer1"], "replica_addr")
				r.Sections["peer2"]["replica_addr"] = "127.0.0.1:8000"
			},
			check: func(t *testing.T, cfg server.Config) {
				assert.Equal(t, server.StoreMemory, cfg.Store)
				assert.Empty(t, cfg.Peers[0].ReplicaAddr)
			},
		},
		{
			name: "TLS only: client_addr empty beside client_tls_addr, peer TLS on",
			mutate: func(r *rawConfig) {
				r.Cluster["tls_cert"], r.Cluster["tls_key"], r.Cluster["tls_ca"] = "peer.pem", "peer-key.pem", "ca.pem"
				r.Cluster["peer_tls"] = "on"
				delete(r.Sections["peer1"], "client_addr")
				r.Sections["peer1"]["client_tls_addr"] = "127.0.0.1:8443"
			},
			check: func(t *testing.T, cfg server.Config) {
				assert.Empty(t, cfg.Peers[0].ClientAddr)
				assert.Equal(t, "127.0.0.1:8443", cfg.Peers[0].ClientTLSAddr)
				assert.True(t, cfg.PeerTLS)
				assert.Equal(t, "ca.pem", cfg.TLSCA)
			},
		},
		{
			name:   "log_level",
			mutate: func(r *rawConfig) { r.Cluster["log_level"] = "debug" },
			check: func(t *testing.T, cfg server.Config) {
				assert.Equal(t, slog.LevelDebug, cfg.LogLevel)
			},
		},
		{
			name: "same port on different hosts",
			mutate: func(r *rawConfig) {
				r.Sections["peer1"]["replica_addr"] = "memcached1:11211"
				r.Sections["peer2"]["replica_addr"] = "memcached2:11211"
				r.Sections["peer3"]["replica_addr"] = "memcached3:11211"
			},
			check: func(t *testing.T, cfg server.Config) {
				assert.Equal(t, "memcached2:11211", cfg.Peers[1].ReplicaAddr)
			},
		},
		{
			name: "relative data_dir inside the run directory",
			mutate: func(r *rawConfig) {
				r.RunDir = "/tmp/memcons-run"
				r.Cluster["data_dir"] = "state"
			},
			check: func(t *testing.T, cfg server.Config) {
				assert.Equal(t, "/tmp/memcons-run/state/peer1", cfg.DataDir)
			},
		},
		{
			name: "absolute data_dir ignores the run directory",
			mutate: func(r *rawConfig) {
				r.RunDir = "/tmp/memcons-run"
				r.Cluster["data_dir"] = "/var/lib/memcons"
			},
			check: func(t *testing.T, cfg server.Config) {
				assert.Equal(t, "/var/lib/memcons/peer1", cfg.DataDir)
			},
		},
		{
			name: "sizes, durations and peer order as written",
			mutate: func(r *rawConfig) {
				r.Cluster["item_size_max"] = "512K"
				r.Cluster["memory_limit"] = "2gb"
				r.Cluster["idle_timeout"] = "1m30s"
				r.Cluster["peers"] = "peer3,peer1,peer2"
				r.Cluster["mode"] = "linearizable"
				r.Name = "peer3"
			},
			check: func(t *testing.T, cfg server.Config) {
				assert.Equal(t, 512<<10, cfg.ItemSizeMax)
				assert.Equal(t, int64(2<<30), cfg.MemoryLimitBytes)
				assert.Equal(t, 90*time.Second, cfg.IdleTimeout)
				assert.Equal(t, consistency.Linearizable, cfg.Mode)
				assert.Equal(t, "peer3", cfg.Self)
				assert.Equal(t, "run/data/peer3", cfg.DataDir)
				assert.Equal(t, []string{"peer3", "peer1", "peer2"}, peerNamesOf(cfg.Peers))
			},
		},
		{
			name: "single peer cluster",
			mutate: func(r *rawConfig) {
				r.Cluster["peers"] = "peer1"
				delete(r.Sections, "peer2")
				delete(r.Sections, "peer3")
			},
			check: func(t *testing.T, cfg server.Config) { assert.Len(t, cfg.Peers, 1) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := validRaw()
			tt.mutate(&raw)
			cfg, err := buildConfig(raw)
			require.NoError(t, err)
			tt.check(t, cfg)
		})
	}
}

func peerNamesOf(peers []server.PeerAddrs) []string {
	names := make([]string, len(peers))
	for i, p := range peers {
		names[i] = p.Name
	}
	return names
}

func TestBuildConfig_Rejects(t *testing.T) {
	set := func(key, val string) func(r *rawConfig) {
		return func(r *rawConfig) { r.Cluster[key] = val }
	}
	setPeer := func(peer, key, val string) func(r *rawConfig) {
		return func(r *rawConfig) {
			if val == "" {
				delete(r.Sections[peer], key)
				return
			}
			r.Sections[peer][key] = val
		}
	}
	tests := []struct {
		name    string
		mutate  func(r *rawConfig)
		wantKey string
		want    string // substring of the message
	}{
		{"unknown mode", set("mode", "strong"), "cluster.mode", `unknown consistency mode "strong" (want linearizable, sequential or eventual)`},
		{"peer listed twice", set("peers", "peer1, peer2, peer3, peer2"), "cluster.peers", `"peer2" is listed twice`},
		{"no peers", set("peers", " "), "cluster.peers", "no peers listed"},
		{"empty peer name", set("peers", "peer1,,peer2,peer3"), "cluster.peers", "empty peer name"},
		{"bad peer name", func(r *rawConfig) { r.Cluster["peers"] += ", Peer 4" }, "cluster.peers", `bad peer name "Peer 4"`},
		{"peer named cluster", func(r *rawConfig) { r.Cluster["peers"] += ", cluster" }, "cluster.peers", `bad peer name "cluster"`},
		{"same host:port twice", setPeer("peer2", "client_addr", "127.0.0.1:8000"), "peer2.client_addr", "also used by peer1.client_addr"},
		{"no client port at all", setPeer("peer2", "client_addr", ""), "peer2.client_addr", "missing (set client_addr, client_tls_addr or both)"},
		{"TLS port on the plain port", func(r *rawConfig) {
			r.Cluster["tls_cert"], r.Cluster["tls_key"] = "peer.pem", "peer-key.pem"
			r.Sections["peer2"]["client_tls_addr"] = "127.0.0.1:8001"
		}, "peer2.client_tls_addr", "also used by peer2.client_addr"},
		{"same port on localhost alias", setPeer("peer2", "peer_addr", "localhost:7000"), "peer2.peer_addr", "also used by peer1.peer_addr"},
		{"replica port clashes with a client port", setPeer("peer3", "replica_addr", "127.0.0.1:8001"), "peer3.replica_addr", "also used by peer2.client_addr"},
		{"port clash within one peer", setPeer("peer1", "peer_addr", "127.0.0.1:8000"), "peer1.peer_addr", "also used by peer1.client_addr"},
		{"no cluster section", func(r *rawConfig) { r.Cluster = nil }, "cluster", "missing section [cluster]"},
		{"listed peer without section", func(r *rawConfig) { delete(r.Sections, "peer3") }, "peer3", "missing section [peer3]"},
		{"section not listed", func(r *rawConfig) { r.Sections["peer4"] = map[string]string{} }, "peer4", "not listed in cluster.peers"},
		{"missing client_addr", setPeer("peer1", "client_addr", ""), "peer1.client_addr", "missing"},
		{"missing peer_addr", setPeer("peer3", "peer_addr", ""), "peer3.peer_addr", "missing"},
		{"missing replica_addr with memcached store", setPeer("peer2", "replica_addr", ""), "peer2.replica_addr", "required when cluster.store is memcached"},
		{"address without port", setPeer("peer1", "client_addr", "127.0.0.1"), "peer1.client_addr", "bad address"},
		{"port out of range", setPeer("peer2", "peer_addr", "127.0.0.1:70000"), "peer2.peer_addr", "not 1-65535"},
		{"port zero", setPeer("peer2", "peer_addr", "127.0.0.1:0"), "peer2.peer_addr", "not 1-65535"},
		{"name missing", func(r *rawConfig) { r.Name = "" }, "name", "--name is required"},
		{"name not among peers", func(r *rawConfig) { r.Name = "peer7" }, "name", `"peer7" is not in cluster.peers`},
		{"bad duration", set("heartbeat_interval", "fast"), "cluster.heartbeat_interval", `bad duration "fast"`},
		{"duration without unit", set("store_timeout", "5"), "cluster.store_timeout", "bad duration"},
		{"zero heartbeat interval", set("heartbeat_interval", "0s"), "cluster.heartbeat_interval", "must be positive"},
		{"negative idle timeout", set("idle_timeout", "-1s"), "cluster.idle_timeout", "must not be negative"},
		{"heartbeat timeout equal to interval", set("heartbeat_timeout", "500ms"), "cluster.heartbeat_timeout", "must be more than cluster.heartbeat_interval (500ms), got 500ms"},
		{"heartbeat timeout below interval", set("heartbeat_timeout", "100ms"), "cluster.heartbeat_timeout", "must be more than cluster.heartbeat_interval (500ms), got 100ms"},
		{"zero store timeout", set("store_timeout", "0s"), "cluster.store_timeout", "must be positive"},
		{"bad size suffix", set("item_size_max", "1x"), "cluster.item_size_max", `bad size "1x"`},
		{"item size too large", set("item_size_max", "2g"), "cluster.item_size_max", "must be between 1024 and 1073741824, got 2147483648"},
		{"item size too small", set("item_size_max", "100"), "cluster.item_size_max", "must be between 1024 and"},
		{"bad memory limit", set("memory_limit", "lots"), "cluster.memory_limit", "bad size"},
		{"zero memory limit", set("memory_limit", "0"), "cluster.memory_limit", "must be between 1 and 1099511627776, got 0"},
		{"bad max connections", set("max_connections", "many"), "cluster.max_connections", `bad integer "many"`},
		{"zero max connections", set("max_connections", "0"), "cluster.max_connections", "must be between 1 and 1048576, got 0"},
		{"tiny max line length", set("max_line_length", "100"), "cluster.max_line_length", "must be between 512 and 1048576, got 100"},
		{"zero store conns", set("store_conns", "0"), "cluster.store_conns", "must be between 1 and 64, got 0"},
		{"zero sync interval", set("sync_interval", "0s"), "cluster.sync_interval", "at least 1ms"},
		{"bad sync interval", set("sync_interval", "often"), "cluster.sync_interval", "bad duration"},
		{"zero recent log size", set("recent_log_size", "0"), "cluster.recent_log_size", "must be between 1 and 16777216, got 0"},
		{"bad push queue", set("push_queue", "big"), "cluster.push_queue", `bad integer "big"`},
		{"zero push batch", set("push_batch", "0"), "cluster.push_batch", "must be between 1 and 65536, got 0"},
		{"zero push delay", set("push_delay", "0s"), "cluster.push_delay", "between 1µs and 1s"},
		{"push delay above sync interval", func(r *rawConfig) { r.Cluster["sync_interval"], r.Cluster["push_delay"] = "100ms", "500ms" },
			"cluster.push_delay", "must be at most cluster.sync_interval (100ms), got 500ms"},
		{"no comparison with a key that did not parse", func(r *rawConfig) {
			r.Cluster["heartbeat_interval"], r.Cluster["heartbeat_timeout"] = "fast", "100ms"
		}, "cluster.heartbeat_interval", `bad duration "fast"`},
		{"negative snapshot threshold", set("snapshot_threshold", "-1"), "cluster.snapshot_threshold", `bad integer "-1"`},
		{"negative store timeout", set("store_timeout", "-1s"), "cluster.store_timeout", "must be positive, got -1s"},
		{"cluster name too long", set("name", strings.Repeat("n", 256)), "cluster.name", "must be at most 255 bytes, got 256"},
		{"peer name too long", func(r *rawConfig) {
			long := strings.Repeat("p", 256)
			r.Cluster["peers"] += ", " + long
			r.Sections[long] = map[string]string{"client_addr": "127.0.0.1:8009", "peer_addr": "127.0.0.1:7009", "replica_addr": "127.0.0.1:11209"}
		}, "cluster.peers", "must be 1 to 255 bytes"},
		{"bad push delay", set("push_delay", "soon"), "cluster.push_delay", "bad duration"},
		{"tiny election timeout", set("election_timeout", "1ms"), "cluster.election_timeout", "at least 10ms"},
		{"zero leader wait", set("leader_wait", "0s"), "cluster.leader_wait", "must be positive"},
		{"request timeout below leader wait", set("request_timeout", "1s"), "cluster.request_timeout", "at least cluster.leader_wait"},
		{"zero snapshot threshold", set("snapshot_threshold", "0"), "cluster.snapshot_threshold", "must be between 1 and 1073741824, got 0"},
		{"bad snapshot interval", set("snapshot_interval", "soon"), "cluster.snapshot_interval", "bad duration"},
		{"unknown store", set("store", "redis"), "cluster.store", `must be memcached or memory, got "redis"`},
		{"empty secret", set("secret", ""), "cluster.secret", "must not be empty"},
		{"empty cluster name", set("name", ""), "cluster.name", "must not be empty"},
		{"empty data dir", set("data_dir", ""), "cluster.data_dir", "must not be empty"},
		{"unknown key in file", func(r *rawConfig) { r.Unknown = []string{"cluster.colour"} }, "cluster.colour", "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := validRaw()
			tt.mutate(&raw)

			_, problems := parseConfig(raw)
			require.Len(t, problems, 1, "problems: %v", problems)
			assert.Equal(t, tt.wantKey, problems[0].Key)
			assert.True(t, strings.HasPrefix(problems[0].Error(), tt.wantKey+": "), problems[0].Error())
			assert.Contains(t, problems[0].Error(), tt.want)
			assert.NotContains(t, problems[0].Error(), "\n", "one line per problem")

			_, err := buildConfig(raw)
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrInvalidConfig))
			assert.Equal(t, problems[0].Error(), err.Error())
		})
	}
}

func TestBuildConfig_ReportsEveryProblem(t *testing.T) {
	raw := validRaw()
	raw.Cluster["mode"] = "x"
	raw.Cluster["store_timeout"] = "soon"
	_, err := buildConfig(raw)
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 2)
	assert.True(t, strings.HasPrefix(lines[0], "cluster.mode: "), lines[0])
	assert.True(t, strings.HasPrefix(lines[1], "cluster.store_timeout: "), lines[1])
	var fe *FieldError
	require.True(t, errors.As(err, &fe))
	assert.True(t, errors.Is(fe, consistency.ErrUnknownMode), "mode problem wraps the consistency sentinel")
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "0", want: 0},
		{in: "1024", want: 1024},
		{in: "1k", want: 1 << 10},
		{in: "1K", want: 1 << 10},
		{in: "1m", want: 1 << 20},
		{in: "64MB", want: 64 << 20},
		{in: " 2g ", want: 2 << 30},
		{in: "", wantErr: true},
		{in: "m", wantErr: true},
		{in: "-1k", wantErr: true},
		{in: "1.5m", wantErr: true},
		{in: "1t", wantErr: true},
		{in: "99999999999999999g", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSize(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestFieldKeys_NameRealFieldsAndDocumentedKeys keeps the one table from a
// package's field to the user's key honest: each path is a field of the
// struct Validate names, and each key is one the user can write.
func TestFieldKeys_NameRealFieldsAndDocumentedKeys(t *testing.T) {
	structs := map[string]reflect.Type{}
	for _, typ := range []reflect.Type{
		reflect.TypeFor[server.Config](),
		reflect.TypeFor[peer.TransportConfig](),
		reflect.TypeFor[peer.MembershipConfig](),
		reflect.TypeFor[controller.Config](),
		reflect.TypeFor[kvcontroller.MemcachedOptions](),
		reflect.TypeFor[kvcontroller.MemStoreOptions](),
		reflect.TypeFor[ordered.Config](),
		reflect.TypeFor[eventual.Config](),
	} {
		structs[typ.String()] = typ
	}
	cluster := map[string]bool{}
	for _, k := range clusterKeys() {
		cluster[k.name] = true
	}
	for path, key := range fieldKeys {
		pkg, rest, _ := strings.Cut(path, ".")
		name, rest, _ := strings.Cut(rest, ".")
		typ, ok := structs[pkg+"."+name]
		if !assert.True(t, ok, "%s: unknown struct", path) {
			continue
		}
		fieldName, _, _ := strings.Cut(rest, "[")
		_, ok = typ.FieldByName(fieldName)
		assert.True(t, ok, "%s: %s has no field %s", path, typ, fieldName)

		section, k, _ := strings.Cut(key, ".")
		switch section {
		case "name":
		case clusterSection:
			assert.True(t, cluster[k], "%s: %s is not a documented key", path, key)
		case "%s":
			assert.True(t, slices.ContainsFunc(peerKeys(), func(ks keySpec) bool { return ks.name == k }),
				"%s: %s is not a peer key", path, key)
		default:
			t.Errorf("%s: key %q is neither cluster.*, <peer>.* nor name", path, key)
		}
	}
	assert.Equal(t, "peer2.peer_addr", keyOf("peer.TransportConfig.Peers[peer2]"))
	assert.Equal(t, "cluster.peers", keyOf("peer.MembershipConfig.Peers[3].Name"))
	assert.Equal(t, "x.Config.Y[1]", keyOf("x.Config.Y[1]"), "an unknown field keeps its path")
}

func TestFormatSizeAndDuration(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1000: "1000", 1 << 10: "1k", 1 << 20: "1m", 64 << 20: "64m", 3 << 29: "1536m", 2 << 30: "2g"} {
		assert.Equal(t, want, formatSize(n))
		back, err := parseSize(want)
		require.NoError(t, err)
		assert.Equal(t, n, back)
	}
	for d, want := range map[time.Duration]string{0: "0s", 10 * time.Millisecond: "10ms", 3 * time.Second: "3s",
		2 * time.Minute: "2m", 90 * time.Minute: "1h30m", 2 * time.Hour: "2h"} {
		assert.Equal(t, want, formatDuration(d))
		back, err := time.ParseDuration(want)
		require.NoError(t, err)
		assert.Equal(t, d, back)
	}
}
