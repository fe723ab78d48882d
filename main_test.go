package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runForTest(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func TestRun_Dispatch(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    string
		wantErr    string
		notInOut   string
		notInError string
	}{
		{name: "no command", args: nil, wantCode: exitUsage, wantErr: "Usage: memcons <command>"},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: exitUsage, wantErr: `unknown command "frobnicate"`},
		{name: "help", args: []string{"help"}, wantCode: exitOK, wantOut: "serve", notInOut: "config-get"},
		{name: "--help", args: []string{"--help"}, wantCode: exitOK, wantOut: "bench"},
		{name: "help for a command", args: []string{"help", "bench"}, wantCode: exitOK, wantErr: "--set-ratio"},
		{name: "version", args: []string{"version"}, wantCode: exitOK, wantOut: "memcons "},
		{name: "cli --help", args: []string{"cli", "--help"}, wantCode: exitOK, wantErr: "--addr"},
		{name: "show --help", args: []string{"show", "-h"}, wantCode: exitOK, wantErr: "--timeout"},
		{name: "show with a bad flag", args: []string{"show", "--adr", "x"}, wantCode: exitUsage, wantErr: "unknown flag: --adr"},
		{name: "show with an argument", args: []string{"show", "extra"}, wantCode: exitUsage, wantErr: "unexpected arguments"},
		{name: "bench with zero conns", args: []string{"bench", "--conns", "0"}, wantCode: exitUsage, wantErr: "--conns: 0 must be at least 1"},
		{name: "bench with a bad set ratio", args: []string{"bench", "--set-ratio", "1.5"}, wantCode: exitUsage, wantErr: "--set-ratio"},
		{name: "bench without addresses", args: []string{"bench", "--addr", ""}, wantCode: exitUsage, wantErr: "--addr"},
		{name: "bench with a bad duration", args: []string{"bench", "--duration", "soon"}, wantCode: exitUsage, wantErr: "invalid argument"},
		{name: "serve with a bad flag", args: []string{"serve", "--config", "config.ini", "--nmae", "peer1"}, wantCode: exitUsage, wantErr: "unknown flag: --nmae"},
		{name: "serve without --name", args: []string{"serve", "--config", "config.ini"}, wantCode: exitError, wantErr: "memcons serve: name: --name is required"},
		{name: "serve with an unknown mode", args: []string{"serve", "--config", "config.ini", "--name", "peer1", "--consistency", "strong"},
			wantCode: exitError, wantErr: `memcons serve: cluster.mode: unknown consistency mode "strong"`},
		{name: "serve with a bad log level", args: []string{"serve", "--config", "config.ini", "--name", "peer1", "--log-level", "loud"}, wantCode: exitUsage, wantErr: "--log-level"},
		{name: "serve with an argument", args: []string{"serve", "--config", "config.ini", "--name", "peer1", "now"}, wantCode: exitUsage, wantErr: "unexpected arguments"},
		{name: "serve --help", args: []string{"serve", "--config", "config.ini", "--help"}, wantCode: exitOK, wantErr: "--peer2.peer_addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			code, out, errOut := runForTest(t, tt.args...)
			assert.Equal(t, tt.wantCode, code, "stdout: %s\nstderr: %s", out, errOut)
			assert.Contains(t, out, tt.wantOut)
			assert.Contains(t, errOut, tt.wantErr)
			if tt.notInOut != "" {
				assert.NotContains(t, out, tt.notInOut)
			}
		})
	}
}

func TestRun_ServeReportsEveryProblemOnItsOwnLine(t *testing.T) {
	isolateEnv(t)
	code, _, errOut := runForTest(t, "serve", "--config", "config.ini", "--name", "peer1",
		"--consistency", "x", "--peer2.client_addr", "127.0.0.1:8000")
	assert.Equal(t, exitError, code)
	assert.Equal(t, []string{
		`memcons serve: cluster.mode: unknown consistency mode "x" (want linearizable, sequential or eventual)`,
		`memcons serve: peer2.client_addr: port 8000 on host "127.0.0.1" is also used by peer1.client_addr`,
	}, strings.Split(strings.TrimSpace(errOut), "\n"))
}

func TestRun_ConfigGet(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{name: "cluster and peer keys", args: []string{"cluster.peers", "peer2.replica_addr"}, wantOut: "peer1, peer2, peer3\n127.0.0.1:11202\n"},
		{name: "flag override", args: []string{"--cluster.store", "memory", "cluster.store"}, wantOut: "memory\n"},
		{name: "env override", env: map[string]string{"MEMCONS_PEER3_CLIENT_ADDR": "127.0.0.1:9"}, args: []string{"peer3.client_addr"}, wantOut: "127.0.0.1:9\n"},
		{name: "default for a key the file omits", args: []string{"cluster.name"}, wantOut: "memcons\n"},
		{name: "unknown key", args: []string{"cluster.colour"}, wantCode: exitError, wantErr: "cluster.colour: unknown key"},
		{name: "unknown section", args: []string{"peer9.client_addr"}, wantCode: exitError, wantErr: "unknown key"},
		{name: "no key", wantCode: exitUsage, wantErr: "name at least one key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, out, errOut := runForTest(t, append([]string{"config-get", "--config", "config.ini"}, tt.args...)...)
			assert.Equal(t, tt.wantCode, code, errOut)
			assert.Equal(t, tt.wantOut, out)
			assert.Contains(t, errOut, tt.wantErr)
		})
	}
}

// TestRun_RemovedKeyWarns checks what an operator sees when an old config
// still sets a removed key: one warning line per command, and the command
// goes on.
func TestRun_RemovedKeyWarns(t *testing.T) {
	isolateEnv(t)
	b, err := os.ReadFile("config.ini")
	require.NoError(t, err)
	old := strings.Replace(string(b), "[cluster]\n", "[cluster]\nstore_max_idle = 64\n", 1)
	path := filepath.Join(t.TempDir(), "config.ini")
	require.NoError(t, os.WriteFile(path, []byte(old), 0o600))
	const warning = "warning: cluster.store_max_idle: removed, the replica client keeps no idle pool; ignored, delete it from the config\n"

	code, out, errOut := runForTest(t, "config-check", "--config", path)
	assert.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "ok:")
	assert.Equal(t, "memcons config-check: "+warning, errOut)

	code, out, errOut = runForTest(t, "config-get", "--config", path, "cluster.store_timeout")
	assert.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "1s\n", out, "stdout stays clean for scripts")
	assert.Equal(t, "memcons config-get: "+warning, errOut)
}

func TestRun_ConfigCheck(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{name: "shipped config", wantOut: `ok: cluster "memcons", mode eventual, store memcached, 3 peers`},
		{name: "override", args: []string{"--consistency", "linearizable", "--cluster.store", "memory"}, wantOut: "mode linearizable, store memory"},
		{name: "as a named peer", args: []string{"--name", "peer3"}, wantOut: "ok:"},
		{name: "unknown peer", args: []string{"--name", "peer4"}, wantCode: exitError, wantErr: `memcons config-check: name: peer "peer4" is not in cluster.peers`},
		{name: "bad mode", args: []string{"--consistency", "strict"}, wantCode: exitError, wantErr: "memcons config-check: cluster.mode: unknown consistency mode"},
		{name: "stray argument", args: []string{"now"}, wantCode: exitUsage, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			code, out, errOut := runForTest(t, append([]string{"config-check", "--config", "config.ini"}, tt.args...)...)
			assert.Equal(t, tt.wantCode, code, errOut)
			assert.Contains(t, out, tt.wantOut)
			assert.Contains(t, errOut, tt.wantErr)
		})
	}
}
