// Package controller is the client-facing memcached 1.6 text-protocol
// server: it parses and validates commands, enforces limits, hands every data
// command to a consistency.Mode and writes the reply.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/field"
)

// Defaults for zero Config fields.
const (
	DefaultMaxConns      = 1024
	DefaultMaxLineLength = 8 << 10
	DefaultItemSizeMax   = 1 << 20
	DefaultVersion       = "1.6.18-memcons"
)

// Bounds that Validate enforces.
const (
	maxMaxConns      = 1 << 20
	minMaxLineLength = 512 // room for the longest storage command a 250-byte key allows
	maxMaxLineLength = 1 << 20
	minItemSizeMax   = 1 << 10 // memcached's smallest -I
	maxItemSizeMax   = 1 << 30 // memcached's largest -I
)

// ErrInvalidConfig reports a Config field outside its allowed range.
var ErrInvalidConfig = errors.New("invalid controller config")

// ErrServerClosed reports Serve on a server that was already closed.
var ErrServerClosed = errors.New("server closed")

// tooManyConns is memcached's greeting to a connection over the limit.
const tooManyConns = "ERROR Too many open connections\r\n"

// Config configures a Server; zero fields mean defaults.
type Config struct {
	// Addr is the client address for ListenAndServe, e.g. "127.0.0.1:11211".
	Addr string
	// MaxConns bounds concurrent client connections (0 = 1024, at most
	// 1 Mi); a connection over the limit gets "ERROR Too many open
	// connections" and is closed.
	MaxConns int
	// IdleTimeout closes a connection that sends nothing for this long, or
	// does not take its replies for this long (0 = never).
	IdleTimeout time.Duration
	// MaxLineLength bounds a command line (0 = 8 KiB; 512 bytes to 1 MiB).
	// As in memcached, a line still without a newline after 2048 bytes
	// closes the connection unless it is a get/gets line; those may grow to
	// MaxLineLength (memcached has no bound), beyond which the connection is
	// closed.
	MaxLineLength int
	// ItemSizeMax is the largest item as memcached -I counts it: value, key
	// and about 60 bytes of header (0 = 1 MiB; 1 KiB to 1 GiB).
	ItemSizeMax int
	// Version is the version string replied to `version` (0 = "1.6.18-memcons").
	Version string
	// Logger receives connection-level events (nil = discard).
	Logger *slog.Logger
}

// DefaultConfig returns the Config whose values New uses for zero fields.
func DefaultConfig() Config {
	return Config{
		MaxConns:      DefaultMaxConns,
		MaxLineLength: DefaultMaxLineLength,
		ItemSizeMax:   DefaultItemSizeMax,
		Version:       DefaultVersion,
	}
}

// withDefaults returns cfg with zero fields set from DefaultConfig.
func (cfg Config) withDefaults() Config {
	d := DefaultConfig()
	if cfg.MaxConns == 0 {
		cfg.MaxConns = d.MaxConns
	}
	if cfg.MaxLineLength == 0 {
		cfg.MaxLineLength = d.MaxLineLength
	}
	if cfg.ItemSizeMax == 0 {
		cfg.ItemSizeMax = d.ItemSizeMax
	}
	if cfg.Version == "" {
		cfg.Version = d.Version
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// Validate reports every limit of cfg that breaks its rule, as it is: a
// zero field is an error here but IdleTimeout's (New sets zero fields from
// DefaultConfig first). Each problem is a *field.Error matching
// ErrInvalidConfig.
func (cfg Config) Validate() error {
	v := field.NewChecker(ErrInvalidConfig, "controller.Config")
	field.Between(v, "MaxConns", cfg.MaxConns, 1, maxMaxConns)
	field.NotNegative(v, "IdleTimeout", cfg.IdleTimeout)
	field.Between(v, "MaxLineLength", cfg.MaxLineLength, minMaxLineLength, maxMaxLineLength)
	field.Between(v, "ItemSizeMax", cfg.ItemSizeMax, minItemSizeMax, maxItemSizeMax)
	return v.Err()
}

// Options are the server's optional collaborators; nil fields mean none.
type Options struct {
	Cluster ClusterReporter // lines of `stats cluster`
	Extra   StatsSource     // the store's lines of `stats`, `stats items` and `stats slabs`
	// Instruments receives command latencies (metrics.go).
	Instruments Instruments
}

// Server accepts memcached text-protocol clients and serves them through a
// consistency.Mode. Its methods are safe for concurrent use.
type Server struct {
	cfg     Config
	mode    consistency.Executor
	opts    Options
	log     *slog.Logger
	errLog  *errorLog // the detail behind SERVER_ERROR replies
	started time.Time
	// counters holds the connection counts, the verbosity, and the
	// per-request counts of closed connections; open connections keep
	// their own (conn.ctr) until they close.
	counters counters
	base     storeBase                  // the store's totals at the last stats reset
	access   *accessTable               // how this peer's clients fetched each item (mg h and l, me)
	latency  atomic.Pointer[latencyMap] // per command; nil when unmeasured (metrics.go)
	live     atomic.Pointer[Limits]     // cfg's limits, replaced by SetLimits

	ctx    context.Context    // cancelled by Close; parent of every request
	cancel context.CancelFunc // cancels ctx

	mu        sync.Mutex            // guards the fields below
	listeners map[net.Listener]bool // listeners being served
	conns     map[*conn]bool        // open client connections
	closed    bool

	// draining is set by Shutdown: each connection finishes the commands it
	// has read, flushes their replies and closes instead of reading more.
	draining atomic.Bool

	wg sync.WaitGroup // accept loops and connection goroutines
}

// New returns a Server that executes data commands on mode.
func New(cfg Config, mode consistency.Executor, opts Options) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if mode == nil {
		return nil, fmt.Errorf("%w: nil mode", ErrInvalidConfig)
	}
	s := &Server{
		cfg:       cfg,
		mode:      mode,
		opts:      opts,
		log:       cfg.Logger,
		errLog:    newErrorLog(cfg.Logger, time.Now),
		started:   time.Now(),
		access:    newAccessTable(),
		listeners: make(map[net.Listener]bool),
		conns:     make(map[*conn]bool),
	}
	s.live.Store(&Limits{MaxConns: cfg.MaxConns, IdleTimeout: cfg.IdleTimeout, MaxLineLength: cfg.MaxLineLength})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.SetInstruments(opts.Instruments)
	return s, nil
}

// ListenAndServe listens on cfg.Addr and serves until Close.
func (s *Server) ListenAndServe() error {
	l, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(l)
}

// Serve accepts clients on l until Close, which closes l; it then returns
// nil. It returns ErrServerClosed if the server is already closed, and the
// accept error if l fails otherwise.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	// Shutdown may run before this goroutine does: it must neither miss
	// closing l nor race its WaitGroup.Wait with the Add below.
	if s.closed || s.draining.Load() {
		s.mu.Unlock()
		_ = l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = true
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	backoff := time.Duration(0)
	for {
		nc, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) && (s.isClosed() || s.draining.Load()) {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("accept: %w", err)
			}
			// Out of file descriptors and the like: wait and retry, as
			// net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", "err", err, "in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
			}
			continue
		}
		backoff = 0
		s.startConn(nc)
	}
}

// startConn registers nc and starts its goroutine, or turns it away when the
// server is closed or full.
func (s *Server) startConn(nc net.Conn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	if len(s.conns) >= s.limits().MaxConns {
		s.mu.Unlock()
		s.counters.rejectedConns.Add(1)
		// The greeting fits any socket buffer; the deadline only guards
		// against a pathological peer.
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = nc.Write([]byte(tooManyConns))
		_ = nc.Close()
		return
	}
	c := newConn(s, nc)
	s.conns[c] = true
	s.wg.Add(1)
	s.mu.Unlock()
	s.counters.currConns.Add(1)
	s.counters.totalConns.Add(1)
	go func() {
		defer s.wg.Done()
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.counters.add(c.ctr)
		s.mu.Unlock()
		s.counters.currConns.Add(^uint64(0))
	}()
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Addr returns the address of a listener being served, or nil before Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.listeners {
		return l.Addr()
	}
	return nil
}

// Close stops accepting, closes every client connection, cancels requests
// in flight and waits for every goroutine of the server. It does not close
// the mode. Calling it again does nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	s.cancel()
	for l := range s.listeners {
		_ = l.Close()
	}
	for c := range s.conns {
		_ = c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Shutdown stops accepting, lets every connection finish the commands it
// has already read and flush their replies, then closes it. Connections
// waiting for input close at once. If ctx ends first, Shutdown falls back to
// Close, cancelling the requests still inside the mode.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining.Store(true)
	for l := range s.listeners {
		_ = l.Close()
	}
	// Wake connections blocked in Read; conn.read checks draining after
	// setting its own deadline, so none can miss this.
	for c := range s.conns {
		_ = c.nc.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return s.Close()
	case <-ctx.Done():
		_ = s.Close()
		<-done
		return fmt.Errorf("shutdown: %w", ctx.Err())
	}
}

// Counters returns a snapshot of the request pipeline.
func (s *Server) Counters() RequestCounters {
	c := s.totals()
	return RequestCounters{
		InFlight:  c.inFlight.Load(),
		Queued:    c.queued.Load(),
		Completed: c.completed.Load(),
		Errors:    c.errors.Load(),
	}
}
