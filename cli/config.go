package cli

import (
	"errors"
	"io"
	"time"
)

// DefaultTimeout bounds one request (dial, send, reply) when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Second

var (
	// ErrCommandFailed means at least one piped command failed (see the package doc).
	ErrCommandFailed = errors.New("command failed")
	// ErrNotMemcons means the server does not know `stats cluster`: it is not a memcons peer.
	ErrNotMemcons = errors.New("not a memcons peer (the server does not know `stats cluster`)")
	// ErrProtocol means the server's reply did not follow the memcached text protocol.
	ErrProtocol = errors.New("malformed reply")
	// ErrUsage means a command line could not be understood.
	ErrUsage = errors.New("usage")
)

// Config configures Run. Zero values mean defaults.
type Config struct {
	Addr        string        // peer client address, host:port
	Timeout     time.Duration // per request; 0 means DefaultTimeout
	HistoryFile string        // interactive history; empty disables it
	In          io.Reader     // commands
	Out         io.Writer     // replies
	Err         io.Writer     // local errors and warnings
	Interactive bool          // prompt and line editing; false reads piped input
}

func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

func (c Config) errOut() io.Writer {
	if c.Err == nil {
		return io.Discard
	}
	return c.Err
}

func (c Config) out() io.Writer {
	if c.Out == nil {
		return io.Discard
	}
	return c.Out
}
