// Package server wires one memcons peer: Store → Mode → peer layer →
// controller, and runs and stops them in that order (stops in reverse).
package server

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/consistency/eventual"
	"github.com/memcons/memcons/consistency/ordered"
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
	Name        string
	ClientAddr  string // memcached text protocol for clients
	PeerAddr    string // peer-to-peer port
	ReplicaAddr string // backing memcached (ignored for StoreMemory)
}

// Config is everything one peer needs to run; main.go fills it from
// config.ini, flags and environment.
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

	Eventual eventual.Config // eventual mode's sync tuning; zero fields mean defaults

	// Ordered tunes the linearizable and sequential modes (raft timing,
	// leader wait, snapshots); the server fills in names, paths and limits.
	Ordered ordered.Config

	Self  string      // name of this peer
	Peers []PeerAddrs // every peer, this one included

	Logger *slog.Logger
	// ClientListener and PeerListener, when set, are used instead of
	// listening on this peer's addresses; the server owns them from Start on.
	// Tests pass listeners bound in advance so no other process can take
	// the port between choosing and binding it.
	ClientListener net.Listener
	PeerListener   net.Listener
	// PeerDial dials other peers; nil uses net.Dialer. Tests inject faults here.
	PeerDial func(ctx context.Context, network, addr string) (net.Conn, error)
}
