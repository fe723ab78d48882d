package eventual

import "time"

// Tuning is the part of Config that a running Mode can change (SetTuning,
// on a config reload).
type Tuning struct {
	SyncInterval time.Duration // as Config.SyncInterval
	PushBatch    int           // as Config.PushBatch
	PushDelay    time.Duration // as Config.PushDelay
}

// tuning returns the tuning in force.
func (m *Mode) tuning() *Tuning { return m.live.Load() }

// SetTuning replaces the push and sync tuning: the next push uses the new
// batch and delay, and each sync loop takes the new interval at its next
// tick. It refuses what Config.Validate refuses, keeping what it had.
func (m *Mode) SetTuning(t Tuning) error {
	c := m.cfg
	c.SyncInterval, c.PushBatch, c.PushDelay = t.SyncInterval, t.PushBatch, t.PushDelay
	if err := c.Validate(); err != nil {
		return err
	}
	m.live.Store(&t)
	return nil
}

// retune resets t to the sync interval in force when it changed from *cur.
func (m *Mode) retune(t *time.Ticker, cur *time.Duration) {
	if d := m.tuning().SyncInterval; d != *cur {
		*cur = d
		t.Reset(d)
	}
}
