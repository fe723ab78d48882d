// Package peer is the peer port: an authenticated, multiplexed connection
// layer between memcons peers, and the membership service that runs
// heartbeats over it.
package peer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/memcons/memcons/internal/field"
)

// Channel selects which service an authenticated peer connection is for; it
// travels in the handshake and is covered by both sides' proofs.
type Channel byte

const (
	// ChannelHeartbeat carries membership heartbeats (Membership).
	ChannelHeartbeat Channel = 'H'
	// ChannelRaft is reserved for hashicorp/raft's network transport.
	ChannelRaft Channel = 'R'
	// ChannelForward is reserved for followers forwarding writes to the leader.
	ChannelForward Channel = 'F'
	// ChannelSync is reserved for the eventual mode's anti-entropy sync stream.
	ChannelSync Channel = 'S'
)

// String returns the channel as its letter.
func (c Channel) String() string { return string(rune(c)) }

// DefaultHandshakeTimeout bounds a handshake when TransportConfig leaves it zero.
const DefaultHandshakeTimeout = 5 * time.Second

// TransportConfig configures a Transport; zero optional fields mean defaults.
type TransportConfig struct {
	ClusterName string
	Mode        string
	Secret      string
	Self        string // this peer's name
	Listen      string // listen address; "" means Peers[Self]
	// Listener, when set, is used instead of listening on Listen; the
	// transport owns it from Start on. Tests pass one bound in advance.
	Listener net.Listener
	Peers    map[string]string // name -> peer address, self included

	// Dial opens the TCP connection to a peer; nil means a net.Dialer.
	// Tests wrap connections here to inject faults.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// HandshakeTimeout bounds each handshake; 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// Logger receives one line per refused or failed handshake; nil discards.
	Logger *slog.Logger
	// TLS, when set, puts every peer connection in mutual TLS before the
	// HMAC handshake, which then runs inside it; a plain connection is
	// refused. Nil keeps the peer port plain.
	TLS TLSConfigs
}

// TLSConfigs gives the peer port's TLS configs; each call returns one that
// uses the latest certificates (certs.Source implements it).
type TLSConfigs interface {
	PeerServerConfig() *tls.Config
	PeerClientConfig() *tls.Config
}

// Validate reports every field of c that breaks its rule, as it is: a zero
// HandshakeTimeout is an error here (NewTransport sets zero fields to
// defaults first). Each problem is a *field.Error matching ErrInvalidConfig.
func (c TransportConfig) Validate() error {
	v := field.NewChecker(ErrInvalidConfig, "peer.TransportConfig")
	for _, f := range []struct{ name, value string }{
		{"ClusterName", c.ClusterName}, {"Mode", c.Mode}, {"Self", c.Self},
	} {
		field.NotEmpty(v, f.name, f.value)
		field.MaxLen(v, f.name, f.value, maxNameLen)
	}
	field.NotEmpty(v, "Secret", c.Secret)
	for _, name := range slices.Sorted(maps.Keys(c.Peers)) {
		if name == "" || len(name) > maxNameLen {
			v.Failf("Peers", "name %q must be 1 to %d bytes", name, maxNameLen)
		}
		if c.Peers[name] == "" {
			v.Failf("Peers["+name+"]", "address must not be empty")
		}
	}
	if _, ok := c.Peers[c.Self]; !ok && !v.Failed("Self") {
		v.Failf("Self", "must be one of %s, got %q", field.Ref("Peers"), c.Self)
	}
	field.Positive(v, "HandshakeTimeout", c.HandshakeTimeout)
	return v.Err()
}

// validate fills in defaults and checks the config.
func (c *TransportConfig) validate() error {
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if c.Listen == "" {
		c.Listen = c.Peers[c.Self]
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Transport listens on the peer port, authenticates every connection in both
// directions and hands it to the handler registered for its channel. It is
// safe for concurrent use. Connections it accepted belong to it and are closed
// by Close; connections returned by Dial belong to the caller.
type Transport struct {
	cfg    TransportConfig
	params handshakeParams
	log    *slog.Logger

	mu       sync.Mutex // guards handlers, started, ln
	handlers map[Channel]func(net.Conn, string)
	started  bool
	ln       net.Listener

	conns     ConnSet        // accepted connections, from accept until their handler returns
	wg        sync.WaitGroup // accept loop and one goroutine per accepted connection
	done      chan struct{}  // closed by Close
	closeOnce sync.Once
}

// NewTransport validates cfg and returns a Transport that is not listening yet.
func NewTransport(cfg TransportConfig) (*Transport, error) {
	peers := make(map[string]string, len(cfg.Peers))
	for k, v := range cfg.Peers {
		peers[k] = v
	}
	cfg.Peers = peers
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Transport{
		cfg: cfg,
		params: handshakeParams{
			Cluster: cfg.ClusterName, Mode: cfg.Mode, Self: cfg.Self, Secret: []byte(cfg.Secret),
		},
		log:      cfg.Logger,
		handlers: make(map[Channel]func(net.Conn, string)),
		done:     make(chan struct{}),
	}, nil
}

// Channels is what a consistency mode needs of the peer port: dial a peer
// on a channel and serve the connections that arrive on one. Each mode
// registers its own channels' handlers before the transport starts.
type Channels interface {
	// Dial opens an authenticated connection to the named peer on ch.
	Dial(ctx context.Context, peer string, ch Channel) (net.Conn, error)
	// Handle registers the handler for connections arriving on ch.
	Handle(ch Channel, h func(conn net.Conn, from string))
}

var _ Channels = (*Transport)(nil)

// Handle registers h for connections on ch; from is the authenticated name of
// the dialing peer. h runs on a goroutine owned by the transport and must
// return once conn is closed. Handle must be called before Start; registering
// a channel twice, or after Start, panics.
func (t *Transport) Handle(ch Channel, h func(conn net.Conn, from string)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.started {
		panic(fmt.Sprintf("peer: Handle(%q) after Start", byte(ch)))
	}
	if _, dup := t.handlers[ch]; dup {
		panic(fmt.Sprintf("peer: Handle(%q) registered twice", byte(ch)))
	}
	t.handlers[ch] = h
}

// Start opens the listener and starts accepting connections.
func (t *Transport) Start() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.isClosed() {
		return ErrClosed
	}
	if t.started {
		return errors.New("transport already started")
	}
	ln := t.cfg.Listener
	if ln == nil {
		var lc net.ListenConfig
		var err error
		if ln, err = lc.Listen(context.Background(), "tcp", t.cfg.Listen); err != nil {
			return fmt.Errorf("listen on peer address %s: %w", t.cfg.Listen, err)
		}
	}
	t.ln = ln
	t.started = true
	t.wg.Go(func() { t.acceptLoop(ln) })
	return nil
}

// Addr returns the listening address, or nil before Start.
func (t *Transport) Addr() net.Addr {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ln == nil {
		return nil
	}
	return t.ln.Addr()
}

// Close stops accepting, closes accepted connections and waits for every
// handler goroutine to return. It is safe to call more than once.
func (t *Transport) Close() error {
	var err error
	t.closeOnce.Do(func() {
		t.mu.Lock()
		close(t.done)
		if t.ln != nil {
			if cerr := t.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
				err = fmt.Errorf("close peer listener: %w", cerr)
			}
		}
		t.mu.Unlock()
		t.conns.CloseAll()
		t.wg.Wait()
	})
	return err
}

// Dial connects to the named peer on ch and runs the handshake. The returned
// connection is authenticated in both directions and belongs to the caller.
// A refusal maps to ErrAuth, ErrClusterMismatch, ErrModeMismatch,
// ErrUnknownPeer or ErrUnknownChannel.
func (t *Transport) Dial(ctx context.Context, peer string, ch Channel) (net.Conn, error) {
	if t.isClosed() {
		return nil, ErrClosed
	}
	addr, ok := t.cfg.Peers[peer]
	if !ok {
		return nil, fmt.Errorf("dial peer %q: %w", peer, ErrUnknownPeer)
	}
	conn, err := t.cfg.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial peer %q at %s: %w", peer, addr, err)
	}
	if err := conn.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout)); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("dial peer %q at %s: set deadline: %w", peer, addr, err)
	}

	// ctx ending (cancel or deadline) interrupts the handshake through the
	// conn's deadline, after ctx.Err is set; wait for the callback so no
	// goroutine outlives this call.
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = conn.SetDeadline(time.Unix(1, 0))
		close(fired)
	})
	var sc net.Conn = conn
	if t.cfg.TLS != nil {
		tc := tls.Client(conn, t.cfg.TLS.PeerClientConfig())
		if err = tc.HandshakeContext(ctx); err != nil {
			err = fmt.Errorf("tls: %w", err)
		}
		sc = tc
	}
	if err == nil {
		err = dialHandshake(sc, t.params, peer, ch)
	}
	if !stop() {
		<-fired
		if err == nil {
			err = ctx.Err()
		}
	}
	if err != nil {
		_ = conn.Close()
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%w)", err, cerr)
		}
		return nil, fmt.Errorf("dial peer %q at %s on channel %q: %w", peer, addr, ch, err)
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("dial peer %q at %s: clear deadline: %w", peer, addr, err)
	}
	return sc, nil
}

func (t *Transport) isClosed() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

func (t *Transport) acceptLoop(ln net.Listener) {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || t.isClosed() {
				return
			}
			// Out of file descriptors and the like: wait and retry.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t.log.Warn("peer accept failed", "err", err, "retry_in", backoff)
			timer := time.NewTimer(backoff)
			select {
			case <-t.done:
				timer.Stop()
				return
			case <-timer.C:
			}
			continue
		}
		backoff = 0
		if !t.conns.Add(c) {
			_ = c.Close()
			return
		}
		t.wg.Go(func() { t.serveConn(c) })
	}
}

// serveConn authenticates one accepted connection and runs its handler.
func (t *Transport) serveConn(c net.Conn) {
	defer t.conns.Remove(c)
	defer func() { _ = c.Close() }()
	remote := c.RemoteAddr().String()
	if err := c.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout)); err != nil {
		return
	}
	var sc net.Conn = c
	if t.cfg.TLS != nil {
		var err error
		if sc, err = t.acceptTLS(c); err != nil {
			var r *refusal
			if errors.As(err, &r) {
				t.log.Warn("peer handshake refused: "+r.reason, "remote", remote)
			} else if !t.isClosed() {
				t.log.Warn("peer TLS handshake refused", "remote", remote, "err", err)
			}
			return
		}
	}
	h, err := acceptHandshake(sc, t.params, t.isKnown, t.hasChannel)
	if err != nil {
		var r *refusal
		if errors.As(err, &r) {
			t.log.Warn("peer handshake refused: "+r.reason, "remote", remote)
		} else if !t.isClosed() {
			t.log.Warn("peer handshake failed", "remote", remote, "err", err)
		}
		return
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return
	}
	t.mu.Lock()
	handler := t.handlers[h.Channel]
	t.mu.Unlock()
	handler(sc, h.Name)
}

func (t *Transport) isKnown(name string) bool {
	_, ok := t.cfg.Peers[name]
	return ok
}

func (t *Transport) hasChannel(ch Channel) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.handlers[ch]
	return ok
}
