package ordered

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"golang.org/x/sync/singleflight"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/kvcontroller"
	"github.com/memcons/memcons/peer"
)

// walSegmentSize is the size of one raft-wal segment file.
const walSegmentSize = 16 << 20

// tickInterval is how often the leader checks for a due delayed flush_all.
const tickInterval = 100 * time.Millisecond

// Mode is the linearizable or sequential mode of one peer. It is safe for
// concurrent use.
type Mode struct {
	cfg         Config
	live        atomic.Pointer[Timeouts] // cfg's request timeouts, replaced by SetTimeouts
	store       kvcontroller.Store
	trans       peer.Channels
	log         *slog.Logger
	hlog        hclog.Logger
	fsm         *fsm
	layer       *streamLayer
	fwd         *forwarder
	incarnation uint64 // tells this run's own log entries from a previous run's

	raft     atomic.Pointer[raft.Raft] // set by Start
	netTrans *raft.NetworkTransport    // set by Start
	logs     *guardedWAL               // set by Start

	seq       atomic.Uint64
	pmu       sync.Mutex // guards pending
	pending   map[uint64]chan outcome
	verify    verifier // leadership confirmations, on the leader
	reads     verifier // read index requests of this peer's reads
	barriers  singleflight.Group
	termReady atomic.Uint64 // term in which this leader's barrier completed

	ctx    context.Context // ends when Close starts
	cancel context.CancelFunc
	wg     sync.WaitGroup // tick loop and verify rounds

	nmu         sync.Mutex // guards nudgeWanted, nudging, nudgeClosed
	nudgeWanted bool
	nudging     bool
	nudgeClosed bool

	srvConns peer.ConnSet // forward connections this peer serves
	counters counters     // events counted for metrics (metrics.go)
	// forwarded counts the forwarded proposals this peer, as leader, is
	// appending: their followers wait to learn the commit.
	forwarded atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

var _ consistency.Mode = (*Mode)(nil)

// New returns an ordered mode over store and registers its raft and
// forwarding channels on trans, which must not have started yet. Raft
// itself starts in Start.
func New(store kvcontroller.Store, trans peer.Channels, cfg Config) (*Mode, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("incarnation id: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mode{
		cfg: cfg, store: store, trans: trans, log: cfg.Logger,
		hlog: newHCLogger(cfg.Logger, func() bool {
			return ctx.Err() != nil || (cfg.Stopping != nil && cfg.Stopping())
		}),
		layer:       newStreamLayer(cfg.Self, trans),
		fwd:         &forwarder{trans: trans, conns: map[string]*fwdConn{}},
		incarnation: binary.BigEndian.Uint64(b[:]) | 1,
		pending:     map[uint64]chan outcome{},
		ctx:         ctx, cancel: cancel,
	}
	m.fsm = (&fsm{
		store: store, itemSizeMax: cfg.ItemSizeMax, log: cfg.Logger, ctx: ctx,
		storeWait: cfg.StoreTimeout, deliver: m.deliver, onApply: cfg.OnApply, inst: cfg.Instruments,
		committed: m.committed,
		spoolDir:  filepath.Join(cfg.DataDir, "raft"),
	}).init()
	m.live.Store(&Timeouts{LeaderWait: cfg.LeaderWait, RequestTimeout: cfg.RequestTimeout})
	m.verify = verifier{wg: &m.wg, round: m.verifyRound}
	m.reads = verifier{wg: &m.wg, round: m.readIndexRound}
	trans.Handle(peer.ChannelRaft, m.layer.handle)
	trans.Handle(peer.ChannelForward, m.handleForward)
	return m, nil
}

// Start empties the replica, opens the raft log under DataDir, bootstraps
// the cluster on first start, and replays the snapshot and log into the
// replica. A peer that had state waits up to LeaderWait to catch up with
// the leader before it returns.
func (m *Mode) Start(ctx context.Context) error {
	// The replica's contents are rebuilt from the latest snapshot and the
	// log, so replay starts from exactly the state the log assumes and no
	// read-modify-write is applied twice.
	if err := m.store.FlushAll(ctx); err != nil {
		return fmt.Errorf("empty replica before replay: %w", err)
	}
	dir := filepath.Join(m.cfg.DataDir, "raft")
	if err := os.MkdirAll(filepath.Join(dir, "wal"), 0o750); err != nil {
		return fmt.Errorf("raft directory: %w", err)
	}
	if err := removeSpool(dir); err != nil {
		return err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, m.hlog.Named("snapshots"))
	if err != nil {
		return dataError(filepath.Join(dir, "snapshots"), fmt.Errorf("open the snapshot store: %w", err))
	}
	snapIndex, err := checkSnapshots(dir, snaps)
	if err != nil {
		return err
	}
	logs, err := openLogStore(filepath.Join(dir, "wal"), walSegmentSize, snapIndex, m.hlog.Named("wal"))
	if err != nil {
		return err
	}
	m.logs = logs
	m.netTrans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: m.layer, MaxPool: 3, Timeout: max(2*m.cfg.ElectionTimeout, time.Second),
		Logger: m.hlog.Named("net"),
	})
	rc := m.raftConfig()
	had, err := raft.HasExistingState(logs, logs, snaps)
	if err != nil {
		return fmt.Errorf("read raft state: %w", err)
	}
	if !had {
		var servers []raft.Server
		for _, p := range m.cfg.Peers {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p), Address: raft.ServerAddress(p)})
		}
		if err := raft.BootstrapCluster(rc, logs, logs, snaps, pipelineTransport{m.netTrans}, raft.Configuration{Servers: servers}); err != nil {
			return fmt.Errorf("bootstrap raft with %v: %w", m.cfg.Peers, err)
		}
		m.log.Info("raft bootstrapped", "peers", strings.Join(m.cfg.Peers, ","))
	}
	r, err := newRaft(dir, rc, m.fsm, logs, snaps, pipelineTransport{m.netTrans})
	if err != nil {
		return err
	}
	m.raft.Store(r)
	m.wg.Go(m.tickLoop)
	m.wg.Go(func() { m.countLeaderChanges(r) })
	if had {
		m.catchUp(ctx)
	}
	return nil
}

func (m *Mode) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(m.cfg.Self)
	// A follower's timer fires every [HeartbeatTimeout, 2×HeartbeatTimeout)
	// and stands for election at the first firing that finds the leader
	// silent for HeartbeatTimeout: half of election_timeout makes that
	// between 0.5 and 1.5 election timeouts after the leader's last
	// contact, instead of 1 to 3 (which alone could take a 1s default past
	// the 3 s in which a cut-off leader's majority must serve again).
	rc.HeartbeatTimeout = m.cfg.ElectionTimeout / 2
	rc.ElectionTimeout = m.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = m.cfg.ElectionTimeout / 2
	rc.CommitTimeout = min(rc.CommitTimeout, m.cfg.ElectionTimeout/10)
	rc.SnapshotThreshold, rc.SnapshotInterval, rc.TrailingLogs = m.cfg.Snapshotting().raft()
	rc.MaxAppendEntries = 256
	// A buffered apply channel lets one proposal's consecutive Applies
	// (and concurrent ones) reach the leader loop together, as one batch
	// of entries with one fsync. An Apply still in the buffer at shutdown
	// is never answered, but every future is waited for through await,
	// which gives up when the mode closes, so no request or Close hangs.
	rc.BatchApplyCh = true
	rc.Logger = m.hlog
	return rc
}

// catchUp waits, for at most LeaderWait, until the replica has applied
// what the leader had committed; a peer that cannot reach a leader starts
// serving anyway (linearizable reads then fail, sequential reads may lag).
func (m *Mode) catchUp(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, m.timeouts().LeaderWait)
	defer cancel()
	idx, err := m.toLeader(ctx, fwdReadIndex, binary.BigEndian.AppendUint64(nil, 0))
	if err == nil {
		err = m.fsm.waitApplied(ctx, idx)
	}
	applied, _ := m.fsm.appliedIndex()
	if err != nil {
		m.log.Warn("serving before catching up with the leader", "applied_index", applied, "err", err)
		return
	}
	m.log.Info("caught up with the leader", "applied_index", applied)
}

// tickLoop runs on the leader: when a delayed flush_all falls due it
// appends a tick entry so every replica flushes at the same log position.
func (m *Mode) tickLoop() {
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		r := m.raft.Load()
		at := m.fsm.nextFlush()
		now := m.cfg.Now().Unix()
		if at == 0 || now < at || r.State() != raft.Leader {
			continue
		}
		c := command{Kind: cmdTick, Now: now}
		if err := m.await(m.ctx, r.Apply(c.encode(nil), m.timeouts().RequestTimeout)); err != nil {
			m.log.Debug("tick for delayed flush_all failed", "err", err)
		}
	}
}

// Kind returns linearizable or sequential.
func (m *Mode) Kind() consistency.Kind { return m.cfg.Kind }

// Role returns this peer's raft state: leader, follower or candidate.
func (m *Mode) Role() string {
	r := m.raft.Load()
	if r == nil {
		return "starting"
	}
	return strings.ToLower(r.State().String())
}

// Progress returns the last log index applied to the replica.
func (m *Mode) Progress() string {
	applied, _ := m.fsm.appliedIndex()
	return "applied " + strconv.FormatUint(applied, 10)
}

// Details reports leader, term, commit and applied index, and how far
// this replica is behind the commit index it knows (each follower reports
// its own lag; the leader's commit index is the cluster's).
func (m *Mode) Details() []consistency.Detail {
	r := m.raft.Load()
	if r == nil {
		return nil
	}
	_, leader := r.LeaderWithID()
	applied, _ := m.fsm.appliedIndex()
	commit := r.CommitIndex()
	// raft's no-op and barrier entries never reach the FSM: count only the
	// entries the replica applies.
	state := m.lastStateIndex(commit)
	d := []consistency.Detail{
		{Key: "leader", Value: string(leader)},
		{Key: "term", Value: strconv.FormatUint(r.CurrentTerm(), 10)},
		{Key: "commit_index", Value: strconv.FormatUint(commit, 10)},
		{Key: "applied_index", Value: strconv.FormatUint(applied, 10)},
		{Key: "behind", Value: strconv.FormatUint(state-min(state, applied), 10)},
	}
	return d
}

// Close stops raft and every goroutine of the mode and waits for them.
// It is safe to call twice.
func (m *Mode) Close() error {
	m.closeOnce.Do(func() {
		m.verify.close()
		m.reads.close()
		m.nmu.Lock()
		m.nudgeClosed = true
		m.nmu.Unlock()
		m.srvConns.CloseAll()
		m.fwd.close()
		m.cancel()
		var errs []error
		if r := m.raft.Load(); r != nil {
			if err := r.Shutdown().Error(); err != nil {
				errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
			}
		}
		if m.netTrans != nil {
			errs = append(errs, m.netTrans.Close())
		}
		errs = append(errs, m.layer.Close())
		m.wg.Wait()
		if m.logs != nil {
			if err := m.logs.close(); err != nil {
				errs = append(errs, fmt.Errorf("close raft log: %w", err))
			}
		}
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}
