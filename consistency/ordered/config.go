// Package ordered implements the linearizable and sequential modes: every
// write is an entry of one hashicorp/raft log that each peer applies to its
// replica in order; reads go through the leader's read index
// (linearizable) or straight to the local replica (sequential).
package ordered

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/memcons/memcons/consistency"
)

// ErrInvalidConfig reports a Config that cannot run.
var ErrInvalidConfig = errors.New("ordered: invalid config")

// Defaults for Config fields left zero.
const (
	DefaultElectionTimeout   = time.Second
	DefaultLeaderWait        = 3 * time.Second
	DefaultRequestTimeout    = 5 * time.Second
	DefaultSnapshotThreshold = 8192
	DefaultSnapshotInterval  = 2 * time.Minute
	DefaultStoreTimeout      = 2 * time.Second
)

// Config configures an ordered mode; zero optional fields mean defaults.
type Config struct {
	// Kind is consistency.Linearizable or consistency.Sequential.
	Kind consistency.Kind
	// Self is this peer's name; Peers names every peer, Self included.
	Self  string
	Peers []string
	// DataDir holds this peer's raft log, stable store and snapshots.
	DataDir string
	// ItemSizeMax bounds the value an append may produce; 0 = no bound.
	ItemSizeMax int

	// ElectionTimeout is how long a follower waits without hearing the
	// leader before it stands for election (raft's heartbeat and election
	// timeouts).
	ElectionTimeout time.Duration
	// LeaderWait is how long a request waits for a reachable leader before
	// it fails with ErrUnavailable.
	LeaderWait time.Duration
	// RequestTimeout bounds one request from arrival to answer.
	RequestTimeout time.Duration
	// SnapshotThreshold is how many new log entries trigger a snapshot.
	SnapshotThreshold uint64
	// SnapshotInterval is how often raft checks whether to snapshot.
	SnapshotInterval time.Duration
	// StoreTimeout bounds one replica call made while applying the log.
	StoreTimeout time.Duration

	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// Logger receives the mode's and raft's log lines; nil discards.
	Logger *slog.Logger
	// OnApply, when set, is called by the FSM for every write it applies,
	// in log order. Tests compare the applied sequences of the peers.
	OnApply func(AppliedEntry)
}

// validate checks c and fills in defaults.
func (c *Config) validate() error {
	if c.Kind != consistency.Linearizable && c.Kind != consistency.Sequential {
		return fmt.Errorf("%w: Kind must be linearizable or sequential, got %q", ErrInvalidConfig, c.Kind)
	}
	if c.Self == "" || !slices.Contains(c.Peers, c.Self) {
		return fmt.Errorf("%w: Self %q must be one of Peers %v", ErrInvalidConfig, c.Self, c.Peers)
	}
	if c.DataDir == "" {
		return fmt.Errorf("%w: DataDir must not be empty", ErrInvalidConfig)
	}
	for _, d := range []struct {
		name  string
		value *time.Duration
		def   time.Duration
	}{
		{"ElectionTimeout", &c.ElectionTimeout, DefaultElectionTimeout},
		{"LeaderWait", &c.LeaderWait, DefaultLeaderWait},
		{"RequestTimeout", &c.RequestTimeout, DefaultRequestTimeout},
		{"SnapshotInterval", &c.SnapshotInterval, DefaultSnapshotInterval},
		{"StoreTimeout", &c.StoreTimeout, DefaultStoreTimeout},
	} {
		if *d.value < 0 {
			return fmt.Errorf("%w: %s must not be negative, got %v", ErrInvalidConfig, d.name, *d.value)
		}
		if *d.value == 0 {
			*d.value = d.def
		}
	}
	if c.ElectionTimeout < 10*time.Millisecond {
		return fmt.Errorf("%w: ElectionTimeout must be at least 10ms, got %v", ErrInvalidConfig, c.ElectionTimeout)
	}
	if c.RequestTimeout < c.LeaderWait {
		return fmt.Errorf("%w: RequestTimeout %v must be at least LeaderWait %v", ErrInvalidConfig, c.RequestTimeout, c.LeaderWait)
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
