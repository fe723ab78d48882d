// Package server wires one memcons peer: Store → Mode → peer layer →
// controller, and runs and stops them in that order (stops in reverse).
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/consistency/eventual"
	"github.com/memcons/memcons/consistency/ordered"
	"github.com/memcons/memcons/controller"
	"github.com/memcons/memcons/internal/field"
	"github.com/memcons/memcons/kvcontroller"
	"github.com/memcons/memcons/peer"
)

// StoreKind selects what backs a peer's replica.
type StoreKind string

const (
	// StoreMemcached keeps the replica in a memcached process.
	StoreMemcached StoreKind = "memcached"
	// StoreMemory keeps the replica in the embedded in-memory store.
	StoreMemory StoreKind = "memory"
)

// PeerAddrs are the addresses of one peer of the cluster.
type PeerAddrs struct {
	Name       string
	ClientAddr string // memcached text protocol for clients; "" with ClientTLSAddr for TLS only
	// ClientTLSAddr is the TLS client port (memcached -Z), beside or
	// instead of ClientAddr; "" means none.
	ClientTLSAddr string
	PeerAddr      string // peer-to-peer port
	ReplicaAddr   string // backing memcached (ignored for StoreMemory)
	MetricsAddr   string // Prometheus /metrics over HTTP; "" = off
}

// Config is everything one peer needs to run; main.go fills it from
// config.ini, flags and environment, starting from DefaultConfig. New sets
// zero tunable fields from DefaultConfig.
type Config struct {
	ClusterName       string
	Mode              consistency.Kind
	Secret            string
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
	DataDir           string // this peer's own data directory

	ItemSizeMax   int           // largest value accepted, bytes
	MaxConns      int           // client connection limit
	IdleTimeout   time.Duration // 0 disables
	MaxLineLength int           // longest command line, bytes

	Store            StoreKind
	MemoryLimitBytes int64         // StoreMemory capacity
	StoreTimeout     time.Duration // per backend call
	StoreConns       int           // pipelined backend connections for get, set and delete

	Eventual eventual.Config // eventual mode's sync tuning

	// Pprof serves /debug/pprof/ beside /metrics on this peer's MetricsAddr.
	Pprof bool

	// Ordered tunes the linearizable and sequential modes (raft timing,
	// leader wait, snapshots); the server fills in the kind, names, paths,
	// ItemSizeMax and StoreTimeout from the fields above.
	Ordered ordered.Config

	Self  string      // name of this peer
	Peers []PeerAddrs // every peer, this one included

	// TLS: the peer's certificate chain and key (PEM files, reloaded by
	// Server.ReloadTLS), and the cluster CA that client certificates (when
	// set) and, with PeerTLS, the other peers' certificates must chain to.
	TLSCert, TLSKey, TLSCA string
	// PeerTLS puts the peer port in mutual TLS from TLSCA.
	PeerTLS bool
	// LogLevel is the level Logger was built with; package main changes it
	// live on reload, the server only reports it.
	LogLevel slog.Level

	Logger *slog.Logger
	// ClientListener and PeerListener, when set, are used instead of
	// listening on this peer's addresses; the server owns them from Start on.
	// Tests pass listeners bound in advance so no other process can take
	// the port between choosing and binding it.
	ClientListener    net.Listener
	ClientTLSListener net.Listener // plain TCP; the server wraps it in TLS
	PeerListener      net.Listener
	// PeerDial dials other peers; nil uses net.Dialer. Tests inject faults here.
	PeerDial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DefaultConfig returns a Config whose tunable fields hold the defaults of
// the packages they configure; package main documents its defaults from it.
func DefaultConfig() Config {
	ctrl := controller.DefaultConfig()
	return Config{
		HeartbeatInterval: peer.DefaultHeartbeatInterval,
		HeartbeatTimeout:  peer.DefaultHeartbeatTimeout,
		ItemSizeMax:       ctrl.ItemSizeMax,
		MaxConns:          ctrl.MaxConns,
		IdleTimeout:       ctrl.IdleTimeout,
		MaxLineLength:     ctrl.MaxLineLength,
		Store:             StoreMemcached,
		MemoryLimitBytes:  kvcontroller.DefaultMemStoreLimit,
		StoreTimeout:      kvcontroller.DefaultMemcachedTimeout,
		StoreConns:        kvcontroller.DefaultMemcachedPipelineConns,
		Eventual:          eventual.DefaultConfig(),
		Ordered:           ordered.DefaultConfig(),
	}
}

// withDefaults returns c with zero tunable fields set from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	for _, f := range []struct{ v, def *time.Duration }{
		{&c.HeartbeatInterval, &d.HeartbeatInterval},
		{&c.HeartbeatTimeout, &d.HeartbeatTimeout},
		{&c.StoreTimeout, &d.StoreTimeout},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	for _, f := range []struct{ v, def *int }{
		{&c.ItemSizeMax, &d.ItemSizeMax},
		{&c.MaxConns, &d.MaxConns},
		{&c.MaxLineLength, &d.MaxLineLength},
		{&c.StoreConns, &d.StoreConns},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	if c.MemoryLimitBytes == 0 {
		c.MemoryLimitBytes = d.MemoryLimitBytes
	}
	if c.Store == "" {
		c.Store = d.Store
	}
	c.Eventual = c.Eventual.WithDefaults()
	c.Ordered = c.Ordered.WithDefaults()
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every field of c that breaks a rule, as it is: a zero
// tunable field is an error here (New sets those from DefaultConfig first).
// The rules are those of the packages c configures, run on the very configs
// New hands them: each problem is a *field.Error naming the struct and field
// that holds the rule (peer.MembershipConfig.Interval,
// eventual.Config.PushDelay, ...), so that package main can name the key
// its user wrote. Addresses are checked when New binds or dials them.
func (c Config) Validate() error {
	v := field.NewChecker(ErrConfig, "server.Config")
	if _, err := consistency.ParseKind(string(c.Mode)); err != nil {
		v.Failf("Mode", "must be %s, %s or %s, got %q",
			consistency.Linearizable, consistency.Sequential, consistency.Eventual, c.Mode)
	}
	if c.Store != StoreMemcached && c.Store != StoreMemory {
		v.Failf("Store", "must be %s or %s, got %q", StoreMemcached, StoreMemory, c.Store)
	}
	// In the order package main documents its keys. Both modes' and both
	// stores' settings are checked whichever is in use.
	return errors.Join(
		c.transportConfig().Validate(),
		c.membershipConfig().Validate(),
		c.controllerConfig().Validate(),
		v.Err(),
		c.memStoreOptions().Validate(),
		c.memcachedOptions().Validate(),
		c.orderedConfig().Validate(),
		c.Eventual.Validate(),
		c.validateTLS(),
	)
}

// transportConfig is the peer transport's config; New adds the listener,
// the dialer and the logger.
func (c Config) transportConfig() peer.TransportConfig {
	addrs := make(map[string]string, len(c.Peers))
	for _, p := range c.Peers {
		addrs[p.Name] = p.PeerAddr
	}
	return peer.TransportConfig{
		ClusterName:      c.ClusterName,
		Mode:             string(c.Mode),
		Secret:           c.Secret,
		Self:             c.Self,
		Peers:            addrs,
		HandshakeTimeout: peer.DefaultHandshakeTimeout,
	}
}

// membershipConfig is the heartbeat config; New adds the local state and
// the logger.
func (c Config) membershipConfig() peer.MembershipConfig {
	members := make([]peer.MemberAddrs, 0, len(c.Peers))
	for _, p := range c.Peers {
		members = append(members, peer.MemberAddrs{
			Name: p.Name, ClientAddr: p.ClientAddr, ClientTLSAddr: p.ClientTLSAddr, PeerAddr: p.PeerAddr, ReplicaAddr: p.ReplicaAddr,
		})
	}
	return peer.MembershipConfig{
		Self:     c.Self,
		Peers:    members,
		Interval: c.HeartbeatInterval,
		Timeout:  c.HeartbeatTimeout,
	}
}

// controllerConfig is the client listener's config; New adds the address
// and the logger.
func (c Config) controllerConfig() controller.Config {
	return controller.Config{
		MaxConns:      c.MaxConns,
		IdleTimeout:   c.IdleTimeout,
		MaxLineLength: c.MaxLineLength,
		ItemSizeMax:   c.ItemSizeMax,
	}
}

// memcachedOptions is the replica store's config, for this peer's replica.
func (c Config) memcachedOptions() kvcontroller.MemcachedOptions {
	self, _ := c.SelfAddrs() // an unknown self leaves Addr empty, which Validate reports
	return kvcontroller.MemcachedOptions{
		Addr: self.ReplicaAddr, Timeout: c.StoreTimeout, PipelineConns: c.StoreConns,
	}
}

// memStoreOptions is the embedded store's config.
func (c Config) memStoreOptions() kvcontroller.MemStoreOptions {
	return kvcontroller.MemStoreOptions{LimitBytes: c.MemoryLimitBytes}
}

// orderedConfig is the ordered modes' config; New adds the logger.
func (c Config) orderedConfig() ordered.Config {
	o := c.Ordered
	o.Kind = c.Mode
	o.Self = c.Self
	o.Peers = make([]string, 0, len(c.Peers))
	for _, p := range c.Peers {
		o.Peers = append(o.Peers, p.Name)
	}
	o.DataDir = c.DataDir
	o.ItemSizeMax = c.ItemSizeMax
	o.StoreTimeout = c.StoreTimeout
	return o
}
