package peer

import "time"

// Timing is the heartbeat interval and timeout, which a running Membership
// can change (SetTiming, on a config reload).
type Timing struct {
	Interval time.Duration // as MembershipConfig.Interval
	Timeout  time.Duration // as MembershipConfig.Timeout
}

// timing returns the timing in force.
func (m *Membership) timing() *Timing { return m.live.Load() }

// SetTiming replaces the heartbeat timing: each sender and the down
// detector take the new interval at their next tick, and the next check
// uses the new timeout. It refuses what MembershipConfig.Validate refuses,
// keeping what it had.
func (m *Membership) SetTiming(t Timing) error {
	c := m.cfg
	c.Interval, c.Timeout = t.Interval, t.Timeout
	if err := c.Validate(); err != nil {
		return err
	}
	m.live.Store(&t)
	return nil
}

// retune resets t to want when that differs from *cur.
func retune(t *time.Ticker, cur *time.Duration, want time.Duration) {
	if want != *cur {
		*cur = want
		t.Reset(want)
	}
}
