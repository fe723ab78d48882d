package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/spf13/pflag"

	"github.com/memcons/memcons/internal/datadir"
	"github.com/memcons/memcons/internal/server"
	"github.com/memcons/memcons/kvcontroller"
)

// resetProbeTimeout bounds each probe of a peer's ports and replica.
const resetProbeTimeout = 500 * time.Millisecond

// runReset erases the data directory of one peer (--name) or of every peer
// (--all), and empties a memcached replica that still runs, so the peer
// starts over: it rejoins empty and catches up from the other peers, and
// may then start in another mode. A peer that still runs is refused.
func runReset(ctx context.Context, args []string, sio stdio) int {
	var all *bool
	lc, code, ok := loadForCommand("reset", args, sio, func(fs *pflag.FlagSet) {
		all = fs.Bool("all", false, "reset every peer of the config (the whole cluster's data)")
	})
	if !ok {
		return code
	}
	if extra := lc.flags.fs.Args(); len(extra) > 0 {
		fmt.Fprintf(sio.err, "memcons reset: unexpected arguments %q\n", extra)
		return exitUsage
	}
	var names []string
	switch {
	case *all && lc.raw.Name != "":
		fmt.Fprintln(sio.err, "memcons reset: give --name or --all, not both")
		return exitUsage
	case *all:
		names = splitList(lc.raw.Cluster["peers"])
	case lc.raw.Name != "":
		names = []string{lc.raw.Name}
	default:
		fmt.Fprintln(sio.err, "memcons reset: name the peer to reset with --name, or reset every peer with --all")
		return exitUsage
	}
	cfgs := make([]server.Config, 0, len(names))
	for _, n := range names {
		raw := lc.raw
		raw.Name = n
		cfg, err := buildConfig(raw)
		if err != nil {
			printProblems(sio, "reset", err)
			return exitError
		}
		cfgs = append(cfgs, cfg)
	}
	// Refuse before erasing anything.
	for _, cfg := range cfgs {
		if addr, running := peerRunning(cfg); running {
			fmt.Fprintf(sio.err, "memcons reset: %s is running (%s answers): stop it first\n", cfg.Self, addr)
			return exitError
		}
	}
	for _, cfg := range cfgs {
		if err := datadir.Reset(cfg.DataDir); err != nil {
			fmt.Fprintf(sio.err, "memcons reset: %s: %v\n", cfg.Self, err)
			return exitError
		}
		msg := fmt.Sprintf("%s: erased %s", cfg.Self, cfg.DataDir)
		if cfg.Store == server.StoreMemcached {
			if emptied, err := emptyReplica(ctx, cfg); err != nil {
				fmt.Fprintf(sio.err, "memcons reset: %s: empty the replica: %v\n", cfg.Self, err)
				return exitError
			} else if emptied {
				msg += " and emptied its replica " + selfAddrs(cfg).ReplicaAddr
			}
		}
		fmt.Fprintln(sio.out, msg)
	}
	return exitOK
}

// selfAddrs returns the addresses of the peer cfg runs as; buildConfig
// has checked that it is among the peers.
func selfAddrs(cfg server.Config) server.PeerAddrs {
	a, _ := cfg.SelfAddrs()
	return a
}

// peerRunning reports whether the peer's client port (plain or TLS) or
// peer port accepts connections, and which one does.
func peerRunning(cfg server.Config) (string, bool) {
	a := selfAddrs(cfg)
	for _, addr := range []string{a.ClientAddr, a.ClientTLSAddr, a.PeerAddr} {
		if addr != "" && answers(addr) {
			return addr, true
		}
	}
	return "", false
}

// answers reports whether something accepts connections at addr.
func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", dialable(addr), resetProbeTimeout)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// dialable turns a wildcard listen address into a loopback one.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// emptyReplica flushes the peer's memcached replica when it runs; a
// replica that does not answer holds nothing to keep (memcached keeps
// nothing across its own restart).
func emptyReplica(ctx context.Context, cfg server.Config) (bool, error) {
	addr := selfAddrs(cfg).ReplicaAddr
	if !answers(addr) {
		return false, nil
	}
	st, err := kvcontroller.NewMemcachedStore(kvcontroller.MemcachedOptions{Addr: dialable(addr), Timeout: cfg.StoreTimeout})
	if err != nil {
		return false, err
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*cfg.StoreTimeout) // a dial, then one call
	defer cancel()
	if err := st.FlushAll(ctx); err != nil {
		return false, fmt.Errorf("flush_all %s: %w", addr, err)
	}
	return true, nil
}
