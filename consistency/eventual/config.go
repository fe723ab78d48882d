package eventual

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"
)

// ErrInvalidConfig reports a Config or Options that cannot run.
var ErrInvalidConfig = errors.New("eventual: invalid config")

// Defaults for the Config fields left zero.
const (
	DefaultSyncInterval  = time.Second
	DefaultRecentLogSize = 65536
	DefaultPushQueue     = 8192
	DefaultPushBatch     = 128
	DefaultPushDelay     = 10 * time.Millisecond
)

// Config holds the [cluster] keys of eventual mode; zero fields mean the
// defaults above.
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

// Validate reports the first field of c (after defaults) that is out of range.
func (c Config) Validate() error {
	switch {
	case c.SyncInterval < time.Millisecond:
		return fmt.Errorf("%w: SyncInterval must be at least 1ms, got %v", ErrInvalidConfig, c.SyncInterval)
	case c.RecentLogSize < 1:
		return fmt.Errorf("%w: RecentLogSize must be positive, got %d", ErrInvalidConfig, c.RecentLogSize)
	case c.PushQueue < 1:
		return fmt.Errorf("%w: PushQueue must be positive, got %d", ErrInvalidConfig, c.PushQueue)
	case c.PushBatch < 1:
		return fmt.Errorf("%w: PushBatch must be positive, got %d", ErrInvalidConfig, c.PushBatch)
	case c.PushDelay < 0 || c.PushDelay > c.SyncInterval:
		return fmt.Errorf("%w: PushDelay must be between 0 and SyncInterval %v, got %v", ErrInvalidConfig, c.SyncInterval, c.PushDelay)
	}
	return nil
}

// Options are what the server hands a Mode besides its Config.
type Options struct {
	Self  string   // this peer's name
	Peers []string // every peer's name, Self included
	// DataDir is where the mode keeps its sync state across restarts; ""
	// keeps nothing (every restart then catches up by full transfer).
	DataDir     string
	ItemSizeMax int // largest value an append may produce; 0 = no bound
	// Dial opens an authenticated sync connection to the named peer.
	Dial func(ctx context.Context, peer string) (net.Conn, error)
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
	if len(peers) > 1 && o.Dial == nil {
		return nil, fmt.Errorf("%w: Dial must be set with more than one peer", ErrInvalidConfig)
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
