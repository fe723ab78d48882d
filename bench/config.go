package bench

import (
	"errors"
	"fmt"
	"time"
)

// Defaults used for zero-valued Config fields.
const (
	DefaultConns     = 32
	DefaultDuration  = 10 * time.Second
	DefaultValueSize = 100
	DefaultKeys      = 10000
	DefaultSetRatio  = 0.1 // memcaslap's 9:1 get:set mix
	DefaultTimeout   = 5 * time.Second
)

var (
	// ErrConfig means a Config field is out of range.
	ErrConfig = errors.New("invalid bench config")
	// ErrPrefill means the key space could not be filled before the run.
	ErrPrefill = errors.New("prefill failed")
)

// Config describes one benchmark run. Zero values mean the defaults above,
// except SetRatio, which is taken as it is (0 runs gets only; use
// DefaultSetRatio for the usual mix).
type Config struct {
	Addrs     []string       // peer client addresses; connections are spread over them round-robin
	Conns     int            // concurrent connections
	Duration  time.Duration  // length of the measured phase when Ops is 0
	Ops       int            // operations to run in total; 0 runs for Duration
	ValueSize int            // bytes per value
	Keys      int            // size of the key space
	SetRatio  float64        // fraction of operations that are sets, 0..1
	Seed      int64          // seeds the key and operation choice of every connection
	Timeout   time.Duration  // bound on one request, dial included
	Progress  ProgressConfig // reports while the measured phase runs
}

// withDefaults validates c and fills in its zero fields.
func (c Config) withDefaults() (Config, error) {
	switch {
	case len(c.Addrs) == 0:
		return c, fmt.Errorf("%w: Addrs: at least one address is needed", ErrConfig)
	case c.Conns < 0:
		return c, fmt.Errorf("%w: Conns: %d is negative", ErrConfig, c.Conns)
	case c.Duration < 0:
		return c, fmt.Errorf("%w: Duration: %v is negative", ErrConfig, c.Duration)
	case c.Ops < 0:
		return c, fmt.Errorf("%w: Ops: %d is negative", ErrConfig, c.Ops)
	case c.ValueSize < 0:
		return c, fmt.Errorf("%w: ValueSize: %d is negative", ErrConfig, c.ValueSize)
	case c.Keys < 0:
		return c, fmt.Errorf("%w: Keys: %d is negative", ErrConfig, c.Keys)
	case !(c.SetRatio >= 0 && c.SetRatio <= 1):
		return c, fmt.Errorf("%w: SetRatio: %g is not within 0..1", ErrConfig, c.SetRatio)
	case c.Timeout < 0:
		return c, fmt.Errorf("%w: Timeout: %v is negative", ErrConfig, c.Timeout)
	}
	if c.Conns == 0 {
		c.Conns = DefaultConns
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.ValueSize == 0 {
		c.ValueSize = DefaultValueSize
	}
	if c.Keys == 0 {
		c.Keys = DefaultKeys
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c, nil
}
