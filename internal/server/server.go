package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/controller"
	"github.com/memcons/memcons/internal/certs"
	"github.com/memcons/memcons/internal/datadir"
	"github.com/memcons/memcons/internal/metrics"
	"github.com/memcons/memcons/kvcontroller"
	"github.com/memcons/memcons/peer"
)

// drainTimeout bounds how long Close waits for in-flight client requests;
// stop.sh waits longer than this before it resorts to SIGKILL.
const drainTimeout = 5 * time.Second

// ErrConfig reports a Config that cannot run.
var ErrConfig = errors.New("bad config")

// Server is one running memcons peer.
type Server struct {
	cfg     Config
	self    PeerAddrs
	log     *slog.Logger
	store   kvcontroller.Store
	mode    consistency.Mode
	trans   *peer.Transport
	members *peer.Membership
	ctrl    *controller.Server
	health  *healthProbe
	certs   *certs.Source // nil without TLS

	metrics     *metrics.Metrics    // the peer's registry (metrics.go)
	metricsHTTP *metrics.HTTPServer // /metrics on self.MetricsAddr

	clientLn    net.Listener
	clientTLSLn net.Listener // nil without a TLS client port
	serveErr    chan error   // one result per Serve goroutine
	serving     int          // Serve goroutines started

	stopping  atomic.Bool // set when Close begins
	closeOnce sync.Once
	closeErr  error
}

// New builds a peer from cfg without starting anything. It sets zero
// tunable fields from DefaultConfig and refuses a cfg that Validate does.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("server %s: %w", cfg.Self, err)
	}
	self, err := cfg.SelfAddrs()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, self: self, log: cfg.Logger}
	s.newMetrics()
	if s.store, err = newStore(cfg, self); err != nil {
		return nil, err
	}
	s.store = s.metrics.Store(s.store)
	s.health = newHealthProbe(s.store, cfg.HeartbeatInterval, cfg.StoreTimeout)
	if s.certs, err = loadCerts(cfg); err != nil {
		_ = s.closeParts()
		return nil, err
	}
	if err := s.buildPeer(); err != nil {
		_ = s.closeParts()
		return nil, err
	}
	if s.mode, err = s.newMode(); err != nil {
		_ = s.closeParts()
		return nil, fmt.Errorf("server %s: %s mode: %w", cfg.Self, cfg.Mode, err)
	}
	ctrlCfg := cfg.controllerConfig()
	ctrlCfg.Addr, ctrlCfg.Logger = self.ClientAddr, s.log
	s.ctrl, err = controller.New(ctrlCfg, s.mode, controller.Options{Cluster: clusterStats{s}, Extra: storeStats{s.store}})
	if err != nil {
		s.closeParts()
		return nil, fmt.Errorf("server %s: client port: %w", cfg.Self, err)
	}
	if err := s.registerMetrics(); err != nil {
		_ = s.closeParts()
		return nil, err
	}
	return s, nil
}

// SelfAddrs returns the addresses of the peer c runs as.
func (c Config) SelfAddrs() (PeerAddrs, error) {
	for _, p := range c.Peers {
		if p.Name == c.Self {
			return p, nil
		}
	}
	return PeerAddrs{}, fmt.Errorf("%w: self %q is not among the peers", ErrConfig, c.Self)
}

func newStore(cfg Config, self PeerAddrs) (kvcontroller.Store, error) {
	switch cfg.Store {
	case StoreMemory:
		return kvcontroller.NewMemStore(cfg.memStoreOptions()), nil
	case StoreMemcached:
		st, err := kvcontroller.NewMemcachedStore(cfg.memcachedOptions())
		if err != nil {
			return nil, fmt.Errorf("server %s: replica %s: %w", cfg.Self, self.ReplicaAddr, err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("%w: store %q (want memcached or memory)", ErrConfig, cfg.Store)
}

func (s *Server) buildPeer() error {
	tc := s.cfg.transportConfig()
	tc.Listen, tc.Listener, tc.Dial, tc.Logger = s.self.PeerAddr, s.cfg.PeerListener, s.cfg.PeerDial, s.log
	if s.cfg.PeerTLS {
		tc.TLS = s.certs
	}
	var err error
	s.trans, err = peer.NewTransport(tc)
	if err != nil {
		return fmt.Errorf("server %s: peer transport: %w", s.cfg.Self, err)
	}
	mc := s.cfg.membershipConfig()
	mc.Local, mc.Logger = s.localHeartbeat, s.log
	s.members, err = peer.NewMembership(mc, s.trans)
	if err != nil {
		return fmt.Errorf("server %s: membership: %w", s.cfg.Self, err)
	}
	return nil
}

// localHeartbeat is this peer's state as its heartbeats carry it.
func (s *Server) localHeartbeat() peer.Heartbeat {
	c := s.ctrl.Counters()
	var details []peer.Detail
	for _, d := range s.mode.Details() {
		details = append(details, peer.Detail{Key: d.Key, Value: d.Value})
	}
	return peer.Heartbeat{
		Details:  details,
		Name:     s.cfg.Self,
		Mode:     string(s.mode.Kind()),
		Role:     s.mode.Role(),
		Progress: s.mode.Progress(),
		Backend:  s.health.status(),
		Requests: peer.RequestStats{InFlight: c.InFlight, Queued: c.Queued, Completed: c.Completed, Errors: c.Errors},
	}
}

// Start claims the data directory (refusing one of another cluster, mode
// or peer), checks the replica, joins the peers and opens the client port. It
// returns once clients can connect.
func (s *Server) Start(ctx context.Context) error {
	if s.cfg.DataDir != "" {
		id := datadir.Identity{Cluster: s.cfg.ClusterName, Mode: string(s.cfg.Mode), Peer: s.cfg.Self}
		if err := datadir.Claim(s.cfg.DataDir, id); err != nil {
			return fmt.Errorf("server %s: %w", s.cfg.Self, err)
		}
	}
	if err := s.SetMetricsAddr(s.self.MetricsAddr); err != nil {
		return err
	}
	if err := s.waitReplica(ctx); err != nil {
		return err
	}
	s.health.start()
	if err := s.trans.Start(); err != nil {
		return fmt.Errorf("server %s: peer port %s: %w", s.cfg.Self, s.self.PeerAddr, err)
	}
	s.members.Start()
	if err := s.mode.Start(ctx); err != nil {
		return fmt.Errorf("server %s: %s mode: %w", s.cfg.Self, s.cfg.Mode, err)
	}
	if err := s.listenClients(); err != nil {
		return err
	}
	s.serveErr = make(chan error, 2)
	for _, ln := range []net.Listener{s.clientLn, s.clientTLSLn} {
		if ln != nil {
			s.serving++
			go func() { s.serveErr <- s.ctrl.Serve(ln) }()
		}
	}
	s.log.Info("serving", "client", s.ClientAddr(), "client_tls", s.ClientTLSAddr(),
		"peer_port", s.trans.Addr().String(), "peer_tls", s.cfg.PeerTLS,
		"mode", s.cfg.Mode, "store", s.cfg.Store, "replica", s.self.ReplicaAddr)
	return nil
}

// listenClients opens the plain and the TLS client ports this peer has.
func (s *Server) listenClients() error {
	ln := s.cfg.ClientListener
	if ln == nil && s.self.ClientAddr != "" {
		var err error
		if ln, err = net.Listen("tcp", s.self.ClientAddr); err != nil {
			return fmt.Errorf("server %s: client port %s: %w", s.cfg.Self, s.self.ClientAddr, err)
		}
	}
	s.clientLn = ln
	tln := s.cfg.ClientTLSListener
	if tln == nil && s.self.ClientTLSAddr != "" {
		var err error
		if tln, err = net.Listen("tcp", s.self.ClientTLSAddr); err != nil {
			if ln != nil {
				_ = ln.Close()
			}
			return fmt.Errorf("server %s: TLS client port %s: %w", s.cfg.Self, s.self.ClientTLSAddr, err)
		}
	}
	if tln != nil {
		s.clientTLSLn = tls.NewListener(tln, s.certs.ClientPortConfig())
	}
	return nil
}

// waitReplica waits until the backing store answers, for as long as ctx
// allows: a peer does not open its client port over a dead replica.
func (s *Server) waitReplica(ctx context.Context) error {
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
	for logged := false; ; {
		pctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
		err := s.store.Ping(pctx)
		cancel()
		if err == nil {
			return nil
		}
		if !logged {
			s.log.Warn("waiting for replica", "replica", s.self.ReplicaAddr, "err", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server %s: replica %s never answered: %w", s.cfg.Self, s.self.ReplicaAddr, err)
		case <-ticker.C:
		}
	}
}

// Run starts the peer, serves until ctx is cancelled, then shuts down
// gracefully.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		_ = s.Close()
		return err
	}
	select {
	case <-ctx.Done():
	case err := <-s.serveErr:
		s.serveErr <- err
	}
	return s.Close()
}

// ClientAddr returns the address clients connect to, once started.
func (s *Server) ClientAddr() string {
	if s.clientLn != nil {
		return s.clientLn.Addr().String()
	}
	return s.self.ClientAddr
}

// ClientTLSAddr returns the TLS client port's address, once started; ""
// when the peer has none.
func (s *Server) ClientTLSAddr() string {
	if s.clientTLSLn != nil {
		return s.clientTLSLn.Addr().String()
	}
	return s.self.ClientTLSAddr
}

// Members returns the peers as this peer sees them.
func (s *Server) Members() []peer.Member { return s.members.Members() }

// Store returns this peer's replica, for tests that inspect it.
func (s *Server) Store() kvcontroller.Store { return s.store }

// Close stops the client port first (draining in-flight requests for up to
// drainTimeout), then the peer
// layer, the mode and the store. It is safe to call twice.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.stopping.Store(true)
		s.log.Info("stopping")
		var errs []error
		if s.ctrl != nil {
			// Answer what clients already sent, then close their connections.
			ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
			errs = append(errs, s.ctrl.Shutdown(ctx))
			cancel()
		}
		for range s.serving {
			// ErrServerClosed: Close ran before the Serve goroutine did.
			if err := <-s.serveErr; err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, controller.ErrServerClosed) {
				errs = append(errs, err)
			}
		}
		errs = append(errs, s.closeParts(), s.metricsHTTP.Close())
		s.closeErr = errors.Join(errs...)
		s.log.Info("stopped")
	})
	return s.closeErr
}

// closeParts stops everything below the controller: the mode first (it
// uses the peer layer), then the peer layer, the probe and the store.
func (s *Server) closeParts() error {
	var errs []error
	if s.mode != nil {
		errs = append(errs, s.mode.Close())
	}
	if s.members != nil {
		errs = append(errs, s.members.Close())
	}
	if s.trans != nil {
		errs = append(errs, s.trans.Close())
	}
	if s.health != nil {
		s.health.stop()
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}
