package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testINI = `
[cluster]
mode = sequential ; a comment
secret = s3cret
peers = peer1, peer2, peer3
[peer1]
client_addr = 127.0.0.1:8000
peer_addr = 127.0.0.1:7000
replica_addr = 127.0.0.1:11201
[peer2]
client_addr = 127.0.0.1:8001
peer_addr = 127.0.0.1:7001
replica_addr = 127.0.0.1:11202
[peer3]
client_addr = 127.0.0.1:8002
peer_addr = 127.0.0.1:7002
replica_addr = 127.0.0.1:11203
`

// isolateEnv blanks every MEMCONS_ variable of the test process so only
// what a test sets is seen (viper ignores empty variables).
func isolateEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, envPrefix+"_") {
			t.Setenv(k, "")
		}
	}
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.ini")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func load(t *testing.T, args ...string) (*loadedConfig, string, error) {
	t.Helper()
	var stderr bytes.Buffer
	lc, err := loadConfig("serve", args, &stderr, nil)
	return lc, stderr.String(), err
}

func TestLoadConfig_Precedence(t *testing.T) {
	withoutMode := strings.Replace(testINI, "mode = sequential ; a comment\n", "", 1)
	tests := []struct {
		name  string
		file  string
		env   map[string]string
		flags []string
		want  string
	}{
		{name: "default", file: withoutMode, want: "eventual"},
		{name: "file over default", file: testINI, want: "sequential"},
		{name: "env over file", file: testINI, env: map[string]string{"MEMCONS_CLUSTER_MODE": "linearizable"}, want: "linearizable"},
		{name: "empty env is ignored", file: testINI, env: map[string]string{"MEMCONS_CLUSTER_MODE": ""}, want: "sequential"},
		{name: "flag over env", file: testINI, env: map[string]string{"MEMCONS_CLUSTER_MODE": "linearizable"}, flags: []string{"--cluster.mode", "eventual"}, want: "eventual"},
		{name: "consistency alias over env", file: testINI, env: map[string]string{"MEMCONS_CLUSTER_MODE": "linearizable"}, flags: []string{"--consistency=eventual"}, want: "eventual"},
		{name: "consistency alias agreeing with cluster.mode", file: testINI, flags: []string{"--consistency=eventual", "--cluster.mode=eventual"}, want: "eventual"},
		{name: "flag over default", file: withoutMode, flags: []string{"--cluster.mode", "linearizable"}, want: "linearizable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"--config", writeConfig(t, tt.file), "--name", "peer1"}, tt.flags...)
			lc, _, err := load(t, args...)
			require.NoError(t, err)
			assert.Equal(t, tt.want, lc.raw.Cluster["mode"])
		})
	}
}

func TestLoadConfig_PeerKeyPrecedence(t *testing.T) {
	const key = "MEMCONS_PEER2_CLIENT_ADDR"
	tests := []struct {
		name  string
		env   string
		flags []string
		want  string
	}{
		{name: "file", want: "127.0.0.1:8001"},
		{name: "env over file", env: "127.0.0.1:9001", want: "127.0.0.1:9001"},
		{name: "flag over env", env: "127.0.0.1:9001", flags: []string{"--peer2.client_addr", "127.0.0.1:9101"}, want: "127.0.0.1:9101"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			if tt.env != "" {
				t.Setenv(key, tt.env)
			}
			args := append([]string{"--config", writeConfig(t, testINI), "--name", "peer1"}, tt.flags...)
			lc, _, err := load(t, args...)
			require.NoError(t, err)
			assert.Equal(t, tt.want, lc.raw.Sections["peer2"]["client_addr"])
			cfg, err := buildConfig(lc.raw)
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg.Peers[1].ClientAddr)
		})
	}
}

func TestLoadConfig_TwoPassFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  func(path string) []string
		check func(t *testing.T, raw rawConfig)
	}{
		{
			name: "peer flag before --config, value as next argument",
			args: func(p string) []string {
				return []string{"--peer3.peer_addr", "127.0.0.1:9999", "--config", p, "--name", "peer2"}
			},
			check: func(t *testing.T, raw rawConfig) {
				assert.Equal(t, "127.0.0.1:9999", raw.Sections["peer3"]["peer_addr"])
				assert.Equal(t, "peer2", raw.Name)
			},
		},
		{
			name: "peer flag with = form",
			args: func(p string) []string {
				return []string{"--peer1.replica_addr=127.0.0.1:12000", "--config=" + p, "--name=peer1"}
			},
			check: func(t *testing.T, raw rawConfig) {
				assert.Equal(t, "127.0.0.1:12000", raw.Sections["peer1"]["replica_addr"])
			},
		},
		{
			name: "peer added by flags alone",
			args: func(p string) []string {
				return []string{"--config", p, "--name", "peer4", "--cluster.peers", "peer1,peer2,peer3,peer4",
					"--peer4.client_addr", "127.0.0.1:8003", "--peer4.peer_addr", "127.0.0.1:7003",
					"--peer4.replica_addr", "127.0.0.1:11204"}
			},
			check: func(t *testing.T, raw rawConfig) {
				assert.Equal(t, map[string]string{
					"client_addr": "127.0.0.1:8003", "peer_addr": "127.0.0.1:7003", "replica_addr": "127.0.0.1:11204",
				}, raw.Sections["peer4"])
				cfg, err := buildConfig(raw)
				require.NoError(t, err)
				assert.Equal(t, "peer4", cfg.Self)
				assert.Len(t, cfg.Peers, 4)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			lc, _, err := load(t, tt.args(writeConfig(t, testINI))...)
			require.NoError(t, err)
			tt.check(t, lc.raw)
		})
	}
}

func TestLoadConfig_PeerSectionFromEnvOnly(t *testing.T) {
	isolateEnv(t)
	t.Setenv("MEMCONS_CLUSTER_PEERS", "peer1,peer2,peer3,peer4")
	t.Setenv("MEMCONS_PEER4_CLIENT_ADDR", "127.0.0.1:8003")
	lc, _, err := load(t, "--config", writeConfig(t, testINI), "--name", "peer1", "--peer4.peer_addr", "127.0.0.1:7003")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"client_addr": "127.0.0.1:8003", "peer_addr": "127.0.0.1:7003"}, lc.raw.Sections["peer4"])

	_, err = buildConfig(lc.raw)
	require.Error(t, err)
	assert.Equal(t, "peer4.replica_addr: missing (required when cluster.store is memcached)", err.Error())
}

func TestLoadConfig_ListedPeerWithoutAnySection(t *testing.T) {
	isolateEnv(t)
	lc, _, err := load(t, "--config", writeConfig(t, testINI), "--name", "peer1", "--cluster.peers", "peer1,peer2,peer3,peer4")
	require.NoError(t, err)
	_, ok := lc.raw.Sections["peer4"]
	assert.False(t, ok)
	_, err = buildConfig(lc.raw)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "peer4: missing section [peer4]"), err.Error())
}

func TestLoadConfig_Errors(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		args      []string
		wantUsage bool
		want      string
	}{
		{name: "flag for an unknown section", file: testINI, args: []string{"--peer9.client_addr", "x:1"}, wantUsage: true, want: "unknown flag: --peer9.client_addr"},
		{name: "unknown flag", file: testINI, args: []string{"--verbose"}, wantUsage: true, want: "unknown flag: --verbose"},
		{name: "flag without value", file: testINI, args: []string{"--name"}, wantUsage: true, want: "flag needs an argument"},
		{name: "missing file", args: []string{"--config", "/nonexistent/memcons.ini"}, want: "read config"},
		{name: "malformed file", file: "[cluster\n", want: "read config"},
		{name: "alias conflicts with cluster.mode", file: testINI, args: []string{"--consistency", "eventual", "--cluster.mode", "sequential"}, want: `cluster.mode: --consistency "eventual" conflicts`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			var args []string
			if tt.file != "" {
				args = append(args, "--config", writeConfig(t, tt.file))
			}
			_, _, err := load(t, append(args, tt.args...)...)
			require.Error(t, err)
			assert.Equal(t, tt.wantUsage, errors.Is(err, ErrUsage), err.Error())
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestLoadConfig_UnknownKeysReported(t *testing.T) {
	isolateEnv(t)
	path := writeConfig(t, "stray = 1\n"+testINI+"colour = blue\n")
	lc, _, err := load(t, "--config", path, "--name", "peer1")
	require.NoError(t, err)
	assert.Equal(t, []string{"peer3.colour", "stray"}, lc.raw.Unknown)
	_, err = buildConfig(lc.raw)
	require.Error(t, err)
	assert.Equal(t, "peer3.colour: unknown key\nstray: unknown key", err.Error())
}

// TestLoadConfig_RemovedKeysWarned checks that a key memcons no longer has
// is accepted from an old file with a warning, not refused as unknown; in
// a peer section, where it never was, it is still unknown.
func TestLoadConfig_RemovedKeysWarned(t *testing.T) {
	isolateEnv(t)
	ini := strings.Replace(testINI, "[peer1]\n", "store_max_idle = 64\n[peer1]\n", 1) + "store_max_idle = 1\n"
	lc, _, err := load(t, "--config", writeConfig(t, ini), "--name", "peer1")
	require.NoError(t, err)
	assert.Equal(t, []string{"cluster.store_max_idle"}, lc.raw.Removed)
	assert.Equal(t, []string{"peer3.store_max_idle"}, lc.raw.Unknown)
	assert.Equal(t, []string{"cluster.store_max_idle: removed, the replica client keeps no idle pool; ignored, delete it from the config"},
		removedKeyWarnings(lc.raw))

	_, _, err = load(t, "--config", writeConfig(t, ini), "--name", "peer1", "--cluster.store_max_idle", "64")
	assert.ErrorIs(t, err, ErrUsage, "no flag for a removed key")
}

func TestLoadConfig_HelpListsPeerFlags(t *testing.T) {
	isolateEnv(t)
	_, stderr, err := load(t, "--config", writeConfig(t, testINI), "--help")
	require.ErrorIs(t, err, pflag.ErrHelp)
	assert.Contains(t, stderr, "--peer3.replica_addr")
	assert.Contains(t, stderr, "--cluster.heartbeat_timeout")
	assert.Contains(t, stderr, "--consistency")
}

func TestLoadConfig_HelpWithoutConfigFile(t *testing.T) {
	isolateEnv(t)
	_, stderr, err := load(t, "--config", "/nonexistent/memcons.ini", "-h")
	require.ErrorIs(t, err, pflag.ErrHelp)
	assert.Contains(t, stderr, "--cluster.mode")
	assert.NotContains(t, stderr, "--peer1.")
}

// TestRepoConfig_MatchesDefaults keeps config.ini and the built-in defaults
// in step, and checks the shipped file is valid for each of its peers.
func TestRepoConfig_MatchesDefaults(t *testing.T) {
	isolateEnv(t)
	b, err := os.ReadFile("config.ini")
	require.NoError(t, err)
	file := map[string]any{}
	require.NoError(t, iniCodec{}.Decode(b, file))
	cluster, ok := file[clusterSection].(map[string]any)
	require.True(t, ok, "config.ini has a [cluster] section")
	for _, k := range clusterKeys() {
		if k.def == "" {
			continue
		}
		assert.Equal(t, k.def, cluster[k.name], "config.ini cluster.%s documents the default", k.name)
	}
	for _, name := range []string{"peer1", "peer2", "peer3"} {
		t.Run(name, func(t *testing.T) {
			lc, _, err := load(t, "--config", "config.ini", "--name", name)
			require.NoError(t, err)
			cfg, err := buildConfig(lc.raw)
			require.NoError(t, err)
			assert.Equal(t, name, cfg.Self)
			assert.Empty(t, lc.raw.Unknown)
		})
	}
}
