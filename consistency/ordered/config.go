// Package ordered implements the linearizable and sequential modes: every
// write is an entry of one hashicorp/raft log that each peer applies to its
// replica in order; reads go through the leader's read index
// (linearizable) or straight to the local replica (sequential).
package ordered

import (
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/field"
	"github.com/memcons/memcons/kvcontroller"
)

// ErrInvalidConfig reports a Config that cannot run.
var ErrInvalidConfig = errors.New("invalid ordered mode config")

// Defaults for Config fields left zero.
const (
	DefaultElectionTimeout   = time.Second
	DefaultLeaderWait        = 3 * time.Second
	DefaultRequestTimeout    = 5 * time.Second
	DefaultSnapshotThreshold = 8192
	DefaultSnapshotInterval  = 2 * time.Minute
	// DefaultStoreTimeout is the replica's own call timeout: the log is
	// applied under the same bound as every other replica call.
	DefaultStoreTimeout = kvcontroller.DefaultMemcachedTimeout
)

// Bounds that Validate enforces.
const (
	minElectionTimeout   = 10 * time.Millisecond
	maxSnapshotThreshold = 1 << 30
	minSnapshotInterval  = time.Millisecond
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

	// Up reports whether the named peer is heard (the heartbeats'
	// view); errors for a request that found no leader name the silent
	// peers. nil: they name none.
	Up func(name string) bool
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// Logger receives the mode's and raft's log lines; nil discards.
	Logger *slog.Logger
	// Stopping reports that the peer has begun to shut down (nil: only
	// once Close runs). From then on raft's errors are logged at debug:
	// the other peers stop along with this one, and its own connections
	// close under it.
	Stopping func() bool
	// OnApply, when set, is called by the FSM for every write it applies,
	// in log order. Tests compare the applied sequences of the peers.
	OnApply func(AppliedEntry)
	// Instruments receive the apply and snapshot latencies (metrics.go).
	Instruments Instruments
}

// DefaultConfig returns a Config whose tuning fields (ElectionTimeout
// through StoreTimeout) are the defaults above.
func DefaultConfig() Config { return Config{}.WithDefaults() }

// WithDefaults returns c with zero tuning fields set to the defaults above.
func (c Config) WithDefaults() Config {
	d := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	d(&c.ElectionTimeout, DefaultElectionTimeout)
	d(&c.LeaderWait, DefaultLeaderWait)
	d(&c.RequestTimeout, DefaultRequestTimeout)
	d(&c.SnapshotInterval, DefaultSnapshotInterval)
	d(&c.StoreTimeout, DefaultStoreTimeout)
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = DefaultSnapshotThreshold
	}
	return c
}

// Validate reports every tuning field of c (ElectionTimeout through
// StoreTimeout, the ones a user sets) that breaks its rule, as it is: a
// zero field is an error here (New sets zero fields to defaults first).
// Each problem is a *field.Error matching ErrInvalidConfig. New also checks
// Kind, Self, Peers and DataDir, which the server fills in.
func (c Config) Validate() error {
	v := field.NewChecker(ErrInvalidConfig, "ordered.Config")
	field.AtLeast(v, "ElectionTimeout", c.ElectionTimeout, minElectionTimeout)
	field.Positive(v, "LeaderWait", c.LeaderWait)
	field.Positive(v, "RequestTimeout", c.RequestTimeout)
	field.AtLeastField(v, "RequestTimeout", c.RequestTimeout, "LeaderWait", c.LeaderWait)
	field.Between(v, "SnapshotThreshold", c.SnapshotThreshold, 1, maxSnapshotThreshold)
	field.AtLeast(v, "SnapshotInterval", c.SnapshotInterval, minSnapshotInterval)
	field.Positive(v, "StoreTimeout", c.StoreTimeout)
	return v.Err()
}

// validate checks the fields the server fills in, sets zero tuning fields
// to their defaults and checks them.
func (c *Config) validate() error {
	v := field.NewChecker(ErrInvalidConfig, "ordered.Config")
	if c.Kind != consistency.Linearizable && c.Kind != consistency.Sequential {
		v.Failf("Kind", "must be linearizable or sequential, got %q", c.Kind)
	}
	if c.Self == "" || !slices.Contains(c.Peers, c.Self) {
		v.Failf("Self", "must be one of Peers %v, got %q", c.Peers, c.Self)
	}
	field.NotEmpty(v, "DataDir", c.DataDir)
	*c = c.WithDefaults()
	if err := errors.Join(v.Err(), c.Validate()); err != nil {
		return err
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
