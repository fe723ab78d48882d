package eventual

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/memcons/memcons/internal/field"

	"github.com/memcons/memcons/peer"
)

// ErrInvalidConfig reports a Config or Options that cannot run.
var ErrInvalidConfig = errors.New("invalid eventual mode config")

// Defaults for the Config fields left zero.
const (
	DefaultSyncInterval  = time.Second
	DefaultRecentLogSize = 65536
	DefaultPushQueue     = 8192
	DefaultPushBatch     = 128
	DefaultPushDelay     = 10 * time.Millisecond
)

// Bounds that Validate enforces.
const (
	minSyncInterval  = time.Millisecond
	maxRecentLogSize = 1 << 24
	maxPushQueue     = 1 << 24
	maxPushBatch     = 1 << 16
	minPushDelay     = time.Microsecond
	maxPushDelay     = time.Second
)

// Config holds the [cluster] keys of eventual mode; New treats zero fields
// as the defaults above.
type Config struct {
	// SyncInterval is the time between two anti-entropy syncs with a peer.
	SyncInterval time.Duration
	// RecentLogSize bounds the in-memory log of recent writes a delta sync
	// answers from, and the number of tombstones kept.
	RecentLogSize int
	// PushQueue bounds the writes waiting to be pushed to one peer; more are
	// dropped and left to sync.
	PushQueue int
	// PushBatch is the most writes sent in one push frame.
	PushBatch int
	// PushDelay is how long a push waits for more writes to share its
	// frame, unless PushBatch writes are already queued; at most
	// SyncInterval, which is also its default when shorter than
	// DefaultPushDelay.
	PushDelay time.Duration
}

// DefaultConfig returns the Config of the defaults above.
func DefaultConfig() Config { return Config{}.WithDefaults() }

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.SyncInterval == 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.RecentLogSize == 0 {
		c.RecentLogSize = DefaultRecentLogSize
	}
	if c.PushQueue == 0 {
		c.PushQueue = DefaultPushQueue
	}
	if c.PushBatch == 0 {
		c.PushBatch = DefaultPushBatch
	}
	if c.PushDelay == 0 {
		c.PushDelay = min(DefaultPushDelay, c.SyncInterval)
	}
	return c
}

// Validate reports every field of c that breaks its rule, as it is: a zero
// field is an error here (New sets zero fields to defaults first). Each
// problem is a *field.Error matching ErrInvalidConfig.
func (c Config) Validate() error {
	v := field.NewChecker(ErrInvalidConfig, "eventual.Config")
	field.AtLeast(v, "SyncInterval", c.SyncInterval, minSyncInterval)
	field.Between(v, "RecentLogSize", c.RecentLogSize, 1, maxRecentLogSize)
	field.Between(v, "PushQueue", c.PushQueue, 1, maxPushQueue)
	field.Between(v, "PushBatch", c.PushBatch, 1, maxPushBatch)
	field.Between(v, "PushDelay", c.PushDelay, minPushDelay, maxPushDelay)
	field.AtMostField(v, "PushDelay", c.PushDelay, "SyncInterval", c.SyncInterval)
	return v.Err()
}

// Options are what the server hands a Mode besides its Config.
type Options struct {
	Self  string   // this peer's name
	Peers []string // every peer's name, Self included
	// DataDir is where the mode keeps its sync state across restarts; ""
	// keeps nothing (every restart then catches up by full transfer).
	DataDir     string
	ItemSizeMax int // largest value an append may produce; 0 = no bound
	// Trans is the peer port: the mode dials other peers and serves their
	// sync connections on peer.ChannelSync. Nil only with one peer.
	Trans peer.Channels
	// PeerTimeout is how long a peer may stay silent before it counts as
	// gone (the heartbeat timeout). A sync exchange that makes no progress
	// for max(5 sync intervals, PeerTimeout) is abandoned and redialed;
	// 0 means max(10 sync intervals, 5s).
	PeerTimeout time.Duration
	// Up reports whether the named peer is currently heard; nil = always.
	Up     func(peer string) bool
	Now    func() time.Time // nil = time.Now
	Logger *slog.Logger     // nil = discard
}

// validate checks opts and fills in defaults; it returns every peer's
// ordinal, its index in the sorted list of names.
func (o *Options) validate() (map[string]int, error) {
	if o.Self == "" {
		return nil, fmt.Errorf("%w: Self must not be empty", ErrInvalidConfig)
	}
	peers := slices.Sorted(slices.Values(o.Peers))
	ordinals := make(map[string]int, len(peers))
	for i, p := range peers {
		ordinals[p] = i
	}
	if len(ordinals) != len(peers) {
		return nil, fmt.Errorf("%w: Peers %v has duplicates", ErrInvalidConfig, o.Peers)
	}
	if len(peers) > MaxPeers {
		return nil, fmt.Errorf("%w: at most %d peers, got %d", ErrInvalidConfig, MaxPeers, len(peers))
	}
	if _, ok := ordinals[o.Self]; !ok {
		return nil, fmt.Errorf("%w: Self %q must be in Peers %v", ErrInvalidConfig, o.Self, o.Peers)
	}
	if len(peers) > 1 && o.Trans == nil {
		return nil, fmt.Errorf("%w: Trans must be set with more than one peer", ErrInvalidConfig)
	}
	if o.Up == nil {
		o.Up = func(string) bool { return true }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return ordinals, nil
}
