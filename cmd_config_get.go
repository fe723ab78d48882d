package main

import (
	"context"
	"fmt"
	"strings"
)

// runConfigGet prints the resolved value of each key named after the flags
// (file, env and flag overrides applied), one a line. Scripts use it to find
// the ports a cluster uses: memcons config-get --config F cluster.peers.
func runConfigGet(_ context.Context, args []string, sio stdio) int {
	lc, code, ok := loadForCommand("config-get", args, sio, nil)
	if !ok {
		return code
	}
	keys := lc.flags.fs.Args()
	if len(keys) == 0 {
		fmt.Fprintln(sio.err, "memcons config-get: name at least one key, e.g. cluster.peers or peer1.client_addr")
		return exitUsage
	}
	values := make([]string, 0, len(keys))
	for _, k := range keys {
		v, found := lookupRaw(lc.raw, k)
		if !found {
			fmt.Fprintf(sio.err, "memcons config-get: %s: unknown key\n", k)
			return exitError
		}
		values = append(values, v)
	}
	for _, v := range values {
		fmt.Fprintln(sio.out, v)
	}
	return exitOK
}

// lookupRaw finds "section.key" among the resolved values.
func lookupRaw(raw rawConfig, key string) (string, bool) {
	section, k, ok := strings.Cut(strings.ToLower(key), ".")
	if !ok {
		return "", false
	}
	if section == clusterSection {
		v, found := raw.Cluster[k]
		return v, found
	}
	sec, found := raw.Sections[section]
	if !found {
		return "", false
	}
	for _, ks := range peerKeys() {
		if ks.name == k {
			return sec[k], true
		}
	}
	return "", false
}

// runConfigCheck validates the configuration the way serve would (file,
// env and flag overrides applied) without starting anything. Without
// --name it checks the cluster as the first listed peer would see it.
func runConfigCheck(_ context.Context, args []string, sio stdio) int {
	lc, code, ok := loadForCommand("config-check", args, sio, nil)
	if !ok {
		return code
	}
	if extra := lc.flags.fs.Args(); len(extra) > 0 {
		fmt.Fprintf(sio.err, "memcons config-check: unexpected arguments %q\n", extra)
		return exitUsage
	}
	raw := lc.raw
	if listed := splitList(raw.Cluster["peers"]); raw.Name == "" && len(listed) > 0 {
		raw.Name = listed[0]
	}
	cfg, err := buildConfig(raw)
	if err != nil {
		printProblems(sio, "config-check", err)
		return exitError
	}
	fmt.Fprintf(sio.out, "ok: cluster %q, mode %s, store %s, %d peers\n", cfg.ClusterName, cfg.Mode, cfg.Store, len(cfg.Peers))
	return exitOK
}
