package eventual

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/memcons/memcons/kvcontroller"
)

// markerKey names the item that marks a replica as holding this cluster's
// data. Its space makes it a key no client can send. A replica without it
// is empty (new, or its memcached restarted): this peer then asks every
// other peer for a full transfer.
const markerKey = "memcons eventual replica"

// StateFile is the file under Options.DataDir holding the sync cursors.
const StateFile = "eventual-sync.json"

// savedState is what survives a restart of the controller: the replica it
// belongs to, the flush mark, and how far each peer's log was applied.
type savedState struct {
	Replica string            `json:"replica"`
	Flush   uint64            `json:"flush"`
	Peers   map[string]cursor `json:"peers"`
}

func randomUint64() (uint64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(b[:]), nil
}

func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("replica id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Start checks whether the replica kept its contents, restores the sync
// cursors if so, and starts pushing and syncing. It does not wait for the
// first sync: the peer serves clients while it catches up.
func (m *Mode) Start(ctx context.Context) error {
	err := errors.New("mode closed")
	m.startOnce.Do(func() { err = m.start(ctx) })
	return err
}

func (m *Mode) start(ctx context.Context) error {
	saved, err := m.loadState()
	if err != nil {
		return err
	}
	intact, err := m.checkReplica(ctx, saved)
	if err != nil {
		return err
	}
	if !intact {
		m.clockAhead.Store(true) // nothing in the replica to observe
	}
	for _, name := range m.order {
		l := m.links[name]
		m.wg.Go(func() { m.runLink(l) })
	}
	m.wg.Go(func() { m.maintain(intact) })
	m.wg.Go(m.watchLinks)
	return nil
}

// checkReplica reads the marker item: with it, the replica is the one the
// saved cursors describe (intact is true); without it the replica starts
// empty and every cursor from zero.
func (m *Mode) checkReplica(ctx context.Context, saved savedState) (intact bool, err error) {
	it, err := m.store.Get(ctx, markerKey)
	switch {
	case errors.Is(err, kvcontroller.ErrNotFound):
		if err := m.newReplica(ctx); err != nil {
			return false, err
		}
		m.opts.Logger.Info("replica is empty: full transfer from every peer")
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read replica marker: %w", err)
	}
	m.stateMu.Lock()
	m.replicaID = string(it.Value)
	m.stateMu.Unlock()
	if saved.Replica == string(it.Value) {
		m.flushMark.Store(saved.Flush)
		m.clock.observe(saved.Flush)
		for name, c := range saved.Peers {
			if l := m.links[name]; l != nil {
				l.mu.Lock()
				l.cur = c
				l.mu.Unlock()
			}
		}
		m.opts.Logger.Info("replica intact: catching up by delta")
	}
	m.saveState()
	return true, nil
}

// newReplica marks the replica with a fresh id and forgets every cursor.
func (m *Mode) newReplica(ctx context.Context) error {
	id, err := randomID()
	if err != nil {
		return err
	}
	if err := m.store.Set(ctx, kvcontroller.Item{Key: markerKey, Value: []byte(id)}); err != nil {
		return fmt.Errorf("write replica marker: %w", err)
	}
	m.stateMu.Lock()
	m.replicaID = id
	m.stateMu.Unlock()
	for _, l := range m.links {
		l.mu.Lock()
		l.cur = cursor{}
		l.synced = false
		l.mu.Unlock()
	}
	m.saveState()
	return nil
}

func (m *Mode) statePath() string { return filepath.Join(m.opts.DataDir, StateFile) }

// loadState reads the saved state; a missing file is an empty state.
func (m *Mode) loadState() (savedState, error) {
	var st savedState
	if m.opts.DataDir == "" {
		return st, nil
	}
	b, err := os.ReadFile(m.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read sync state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		m.opts.Logger.Warn("sync state unreadable: full transfer from every peer", "file", m.statePath(), "err", err)
		return savedState{}, nil
	}
	return st, nil
}

// saveState writes the cursors and flush mark (atomically, by rename).
func (m *Mode) saveState() {
	if m.opts.DataDir == "" {
		return
	}
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	st := savedState{Replica: m.replicaID, Flush: m.flushMark.Load(), Peers: map[string]cursor{}}
	for name, l := range m.links {
		l.mu.Lock()
		st.Peers[name] = l.cur
		l.mu.Unlock()
	}
	err := func() error {
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(m.opts.DataDir, 0o755); err != nil {
			return err
		}
		tmp := m.statePath() + ".tmp"
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, m.statePath())
	}()
	if err != nil {
		m.opts.Logger.Warn("save sync state failed", "file", m.statePath(), "err", err)
	}
}

// gcRound is a set of tombstones every peer had synced past, waiting until
// every peer has also completed a sync that began after they were chosen:
// an answer read from a replica before the peer applied the tombstone can
// then no longer be on its way.
type gcRound struct {
	tombs   []tomb
	started map[string]uint64 // each link's started count when chosen
}

// maintain drops tombstones every peer has seen and watches the replica's
// marker, once per sync interval.
func (m *Mode) maintain(intact bool) {
	if intact {
		m.scanReplica()
	}
	period := m.tuning().SyncInterval
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	var pending *gcRound
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-ticker.C:
			m.retune(ticker, &period)
		}
		pending = m.collectTombs(pending)
		m.checkMarker()
	}
}

// scanReplica finds the tombstones an intact replica already holds, and
// moves the clock past every version in it. The tombstones get seq 0: every
// peer receives them with its first (full) transfer from this epoch.
func (m *Mode) scanReplica() {
	var found []tomb
	err := m.store.Dump(m.ctx, func(it kvcontroller.Item) error {
		m.clock.observe(expiryStamp(it))
		if it.Tombstone {
			found = append(found, tomb{key: it.Key, version: it.Version})
		}
		return nil
	})
	if err != nil {
		m.opts.Logger.Warn("scan replica failed", "err", err)
	} else {
		m.clockAhead.Store(true)
	}
	for _, t := range found {
		m.dropTombs(m.tombs.add(t))
	}
}

// collectTombs drops the tombstones of a ready round and chooses the next.
func (m *Mode) collectTombs(pending *gcRound) *gcRound {
	if pending != nil {
		for name, started := range pending.started {
			l := m.links[name]
			l.mu.Lock()
			finished := l.finished
			l.mu.Unlock()
			if finished <= started {
				return pending
			}
		}
		m.dropTombs(pending.tombs)
	}
	upTo := m.log.last()
	started := make(map[string]uint64, len(m.links))
	for name, l := range m.links {
		l.mu.Lock()
		upTo = min(upTo, l.acked)
		started[name] = l.started
		acked := l.hasAcked
		l.mu.Unlock()
		if !acked {
			return nil // that peer has not caught up with this epoch yet
		}
	}
	if ts := m.tombs.upTo(upTo); len(ts) > 0 {
		return &gcRound{tombs: ts, started: started}
	}
	return nil
}

// checkMarker notices a replica that lost its contents under a running
// peer (its memcached restarted) and starts over with full transfers.
func (m *Mode) checkMarker() {
	ctx, cancel := context.WithTimeout(m.ctx, m.syncTimeout())
	defer cancel()
	_, err := m.store.Get(ctx, markerKey)
	if !errors.Is(err, kvcontroller.ErrNotFound) {
		return
	}
	m.opts.Logger.Warn("replica lost its contents: full transfer from every peer")
	if err := m.newReplica(ctx); err != nil {
		m.opts.Logger.Warn("re-mark replica failed", "err", err)
	}
}
