package ordered

import (
	"errors"
	"fmt"
	"time"
)

// Timeouts is the part of Config that a running Mode can change
// (SetTimeouts, on a config reload).
type Timeouts struct {
	LeaderWait     time.Duration // as Config.LeaderWait
	RequestTimeout time.Duration // as Config.RequestTimeout
}

// timeouts returns the timeouts in force.
func (m *Mode) timeouts() *Timeouts { return m.live.Load() }

// SetTimeouts replaces the request timeouts for requests that start from
// now on. It refuses what Config.Validate refuses, keeping what it had.
func (m *Mode) SetTimeouts(t Timeouts) error {
	c := m.cfg
	c.LeaderWait, c.RequestTimeout = t.LeaderWait, t.RequestTimeout
	if err := c.Validate(); err != nil {
		return err
	}
	m.live.Store(&t)
	return nil
}

// Snapshotting is the part of Config that says when raft snapshots; a
// running Mode can change it (SetSnapshotting, on a config reload).
type Snapshotting struct {
	Threshold uint64        // as Config.SnapshotThreshold (also the log entries kept behind a snapshot)
	Interval  time.Duration // as Config.SnapshotInterval
}

// Snapshotting returns c's snapshot settings.
func (c *Config) Snapshotting() Snapshotting {
	return Snapshotting{Threshold: c.SnapshotThreshold, Interval: c.SnapshotInterval}
}

// raft returns raft's snapshot threshold, interval and trailing logs for
// s: the entries a snapshot covers also stay in the log behind it, so a
// follower that fell behind by less catches up from the log.
func (s Snapshotting) raft() (threshold uint64, interval time.Duration, trailing uint64) {
	return s.Threshold, s.Interval, s.Threshold
}

// SetSnapshotting changes when raft snapshots, through raft's own
// ReloadConfig; the next check (within the old interval) uses it. It
// refuses what Config.Validate refuses, keeping what it had.
func (m *Mode) SetSnapshotting(s Snapshotting) error {
	c := m.cfg
	c.SnapshotThreshold, c.SnapshotInterval = s.Threshold, s.Interval
	if err := c.Validate(); err != nil {
		return err
	}
	r := m.raft.Load()
	if r == nil {
		return errors.New("snapshot settings: raft not started")
	}
	rc := r.ReloadableConfig()
	rc.SnapshotThreshold, rc.SnapshotInterval, rc.TrailingLogs = s.raft()
	if err := r.ReloadConfig(rc); err != nil {
		return fmt.Errorf("snapshot settings: %w", err)
	}
	return nil
}
