package ordered

import "time"

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
