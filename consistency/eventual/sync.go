package eventual

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/memcons/memcons/kvcontroller"
)

// Frame and batch bounds of the sync protocol.
const (
	// maxPayload bounds one frame at least this much: a batch never grows
	// past batchBytes unless its one item does (see Mode.maxPayload).
	maxPayload = 64 << 20
	// batchBytes is the payload size at which a frame is sent and a new
	// one started.
	batchBytes = 256 << 10
	// getBatch is how many keys one replica read of a delta answer asks for.
	getBatch = 128
	// connBuffer is the read and write buffer size of a sync connection.
	connBuffer = 64 << 10
)

// cursor is a position in another peer's recent-write log: everything up to
// seq of that peer's epoch has been applied here.
type cursor struct {
	Epoch uint64 `json:"epoch"`
	Seq   uint64 `json:"seq"`
}

// pushEntry is one queued push: a write, or a flush when flush != 0.
type pushEntry struct {
	item  kvcontroller.Item
	flush uint64
}

// link is this peer's state towards one other peer.
type link struct {
	name   string
	notify chan struct{} // one token when the queue becomes non-empty
	kicked chan struct{} // one token when the peer is heard again: sync now

	mu       sync.Mutex // guards the fields below
	queue    []pushEntry
	dropped  uint64    // pushes lost to a full queue (sync repairs them)
	cur      cursor    // how far this peer has applied the other's log
	acked    uint64    // how far the other peer has applied this peer's log, this epoch
	hasAcked bool      // the other peer has sent a request in this epoch
	started  uint64    // syncs begun with the peer
	finished uint64    // syncs completed
	attempts uint64    // sync attempts, failed ones included
	synced   bool      // a sync completed since Start
	up       bool      // the peer was heard at the last sync attempt
	lastSync time.Time // when the last sync completed

	syncItems, syncBytes int // brought by the last completed sync

	opCancel context.CancelFunc // cancels the exchange in progress, if any
}

// beginOp returns the context of one exchange with the peer, which kick
// cancels.
func (l *link) beginOp(parent context.Context) context.Context {
	ctx, cancel := context.WithCancel(parent)
	l.mu.Lock()
	l.opCancel = cancel
	l.mu.Unlock()
	return ctx
}

// endOp ends the exchange begun with op and reports whether kick cut it
// short.
func (l *link) endOp(op context.Context, parent context.Context) (kicked bool) {
	kicked = op.Err() != nil && parent.Err() == nil
	l.mu.Lock()
	if l.opCancel != nil {
		l.opCancel()
		l.opCancel = nil
	}
	l.mu.Unlock()
	return kicked
}

// kick abandons the exchange in progress and asks for a sync at once: the
// peer was just heard again, so neither a dial or read stuck on the link as
// it was nor the next sync tick is worth waiting for.
func (l *link) kick() {
	l.mu.Lock()
	if l.opCancel != nil {
		l.opCancel()
	}
	l.mu.Unlock()
	select {
	case l.kicked <- struct{}{}:
	default:
	}
}

func newLink(name string) *link {
	return &link{name: name, notify: make(chan struct{}, 1), kicked: make(chan struct{}, 1)}
}

// enqueue adds e unless the queue holds limit entries already.
func (l *link) enqueue(e pushEntry, limit int) {
	l.mu.Lock()
	if len(l.queue) >= limit {
		l.dropped++
		l.mu.Unlock()
		return
	}
	l.queue = append(l.queue, e)
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

// pending returns how many pushes wait in the queue.
func (l *link) pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

// take removes and returns up to n queued entries.
func (l *link) take(n int) []pushEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	n = min(n, len(l.queue))
	out := l.queue[:n:n]
	l.queue = l.queue[n:]
	if len(l.queue) == 0 {
		l.queue = nil
	}
	return out
}

// syncConn is an open sync connection this peer dialed.
type syncConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// maxPayload is the largest frame this peer accepts: room for one item of
// the largest size clients may store, and at least the package bound.
func (m *Mode) maxPayload() int {
	return max(maxPayload, m.opts.ItemSizeMax+2*batchBytes)
}

// syncTimeout bounds one dial and each read or write of a sync exchange.
func (m *Mode) syncTimeout() time.Duration {
	if m.opts.PeerTimeout > 0 {
		return max(5*m.cfg.SyncInterval, m.opts.PeerTimeout)
	}
	return max(10*m.cfg.SyncInterval, 5*time.Second)
}

// runLink pushes writes to one peer as they come and syncs with it every
// sync interval, over one connection that it redials after any error.
func (m *Mode) runLink(l *link) {
	ticker := time.NewTicker(m.cfg.SyncInterval)
	defer ticker.Stop()
	var sc *syncConn
	defer func() {
		if sc != nil {
			m.dropConn(sc)
		}
	}()
	tick := true // sync at once on start
	for {
		var err error
		switch {
		case tick:
			tick = false
			// Options.Up is read here, never under Role: membership calls
			// Role while building its own answer.
			up := m.opts.Up(l.name)
			l.mu.Lock()
			l.up = up
			l.mu.Unlock()
			op := l.beginOp(m.ctx)
			if sc == nil {
				if sc, err = m.dial(op, l.name); err != nil {
					l.mu.Lock()
					l.attempts++
					l.mu.Unlock()
					m.opts.Logger.Debug("sync dial failed", "peer", l.name, "err", err)
				}
			}
			if sc != nil {
				err = withConn(op, sc, func() error {
					if err := m.sendPushes(sc, l); err != nil {
						return err
					}
					return m.syncWith(sc, l)
				})
			}
			if l.endOp(op, m.ctx) {
				tick = true // heard again: redial and sync at once
			}
		default:
			select {
			case <-m.ctx.Done():
				return
			case <-ticker.C:
				tick = true
				continue
			case <-l.kicked:
				tick = true
				continue
			case <-l.notify:
				if sc == nil {
					break
				}
				if l.pending() < m.cfg.PushBatch {
					// Linger so that the writes of the next moment travel
					// (and are applied) as one batch: every frame costs
					// the receiver a wake-up and two replica round trips.
					t := time.NewTimer(m.cfg.PushDelay)
					select {
					case <-m.ctx.Done():
						t.Stop()
						return
					case <-t.C:
					}
				}
				op := l.beginOp(m.ctx)
				err = withConn(op, sc, func() error { return m.sendPushes(sc, l) })
				if l.endOp(op, m.ctx) {
					tick = true
				}
			}
		}
		if err != nil && sc != nil {
			if m.ctx.Err() == nil {
				m.opts.Logger.Debug("sync connection failed", "peer", l.name, "err", err)
			}
			m.dropConn(sc)
			sc = nil
		}
		if m.ctx.Err() != nil {
			return
		}
	}
}

// withConn runs fn, an exchange over sc, and closes sc's connection if op
// ends first, so that a read or write stuck on a dead link returns at once.
func withConn(op context.Context, sc *syncConn, fn func() error) error {
	stop := context.AfterFunc(op, func() { _ = sc.c.Close() })
	err := fn()
	if !stop() && err == nil {
		err = fmt.Errorf("sync exchange abandoned: %w", context.Cause(op))
	}
	return err
}

func (m *Mode) dial(op context.Context, peer string) (*syncConn, error) {
	ctx, cancel := context.WithTimeout(op, m.syncTimeout())
	defer cancel()
	c, err := m.opts.Trans.Dial(ctx, peer, syncChannel)
	if err != nil {
		return nil, fmt.Errorf("dial %s for sync: %w", peer, err)
	}
	if !m.conns.Add(c) {
		_ = c.Close()
		return nil, fmt.Errorf("dial %s for sync: mode closed", peer)
	}
	return &syncConn{c: c, br: bufio.NewReaderSize(c, connBuffer), bw: bufio.NewWriterSize(c, connBuffer)}, nil
}

func (m *Mode) dropConn(sc *syncConn) {
	m.conns.Remove(sc.c)
	_ = sc.c.Close()
}

// sendPushes writes every queued push to the peer in batches.
func (m *Mode) sendPushes(sc *syncConn, l *link) error {
	for {
		batch := l.take(m.cfg.PushBatch)
		if len(batch) == 0 {
			return nil
		}
		if err := sc.c.SetWriteDeadline(time.Now().Add(m.syncTimeout())); err != nil {
			return fmt.Errorf("push to %s: %w", l.name, err)
		}
		var items []kvcontroller.Item
		size := 0
		send := func(f frame) error {
			_, err := sc.bw.Write(appendFrame(nil, f))
			return err
		}
		sendItems := func() error {
			if len(items) == 0 {
				return nil
			}
			err := send(frame{kind: kindPush, items: items})
			items, size = nil, 0
			return err
		}
		for _, e := range batch {
			var err error
			if e.flush != 0 {
				if err = sendItems(); err == nil {
					err = send(frame{kind: kindFlush, version: e.flush})
				}
			} else {
				items = append(items, e.item)
				if size += itemWireSize(e.item); size >= batchBytes {
					err = sendItems()
				}
			}
			if err != nil {
				return fmt.Errorf("push to %s: %w", l.name, err)
			}
		}
		if err := sendItems(); err != nil {
			return fmt.Errorf("push to %s: %w", l.name, err)
		}
		if err := sc.bw.Flush(); err != nil {
			return fmt.Errorf("push to %s: %w", l.name, err)
		}
	}
}

// syncWith asks the peer for every write after this peer's cursor into its
// log, applies the answer and advances the cursor.
func (m *Mode) syncWith(sc *syncConn, l *link) error {
	l.mu.Lock()
	cur := l.cur
	l.started++
	l.attempts++
	l.mu.Unlock()
	deadline := func() time.Time { return time.Now().Add(m.syncTimeout()) }
	if err := sc.c.SetWriteDeadline(deadline()); err != nil {
		return fmt.Errorf("sync with %s: %w", l.name, err)
	}
	if _, err := sc.bw.Write(appendFrame(nil, frame{kind: kindRequest, epoch: cur.Epoch, seq: cur.Seq})); err != nil {
		return fmt.Errorf("sync with %s: send request: %w", l.name, err)
	}
	if err := sc.bw.Flush(); err != nil {
		return fmt.Errorf("sync with %s: send request: %w", l.name, err)
	}
	items, bytes := 0, 0
	for {
		if err := sc.c.SetReadDeadline(deadline()); err != nil {
			return fmt.Errorf("sync with %s: %w", l.name, err)
		}
		f, n, err := readFrame(sc.br, m.maxPayload())
		if err != nil {
			return fmt.Errorf("sync with %s: %w", l.name, err)
		}
		switch f.kind {
		case kindFlush:
			if err := m.applyFlush(m.ctx, f.version); err != nil {
				return fmt.Errorf("sync with %s: %w", l.name, err)
			}
		case kindItems:
			items += len(f.items)
			bytes += n
			if _, err := m.applyRemoteBatch(m.ctx, f.items); err != nil {
				return fmt.Errorf("sync with %s: %w", l.name, err)
			}
		case kindComplete:
			l.mu.Lock()
			l.cur = cursor{Epoch: f.epoch, Seq: f.seq}
			l.finished++
			l.synced = true
			l.lastSync = m.opts.Now()
			l.syncItems, l.syncBytes = items, bytes
			l.mu.Unlock()
			if f.full || items > 0 || cur != (cursor{Epoch: f.epoch, Seq: f.seq}) {
				m.saveState()
			}
			if f.full {
				m.opts.Logger.Info("full sync done", "peer", l.name, "items", items, "bytes", bytes)
			}
			return nil
		default:
			return fmt.Errorf("sync with %s: %w: unexpected %q frame", l.name, ErrProtocol, f.kind)
		}
	}
}

// serveConn answers one sync connection dialed by peer from: it applies the
// pushes and flushes it sends and answers its sync requests, until the
// connection fails or the mode closes. Register it for peer.ChannelSync.
func (m *Mode) serveConn(conn net.Conn, from string) {
	if !m.conns.Add(conn) {
		return
	}
	defer m.conns.Remove(conn)
	l := m.links[from]
	if l == nil {
		m.opts.Logger.Warn("sync connection from unknown peer", "peer", from)
		return
	}
	br := bufio.NewReaderSize(conn, connBuffer)
	bw := bufio.NewWriterSize(conn, connBuffer)
	for {
		f, _, err := readFrame(br, m.maxPayload())
		if err != nil {
			if m.ctx.Err() == nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				m.opts.Logger.Debug("sync connection closed", "peer", from, "err", err)
			}
			return
		}
		switch f.kind {
		case kindPush:
			_, err = m.applyRemoteBatch(m.ctx, f.items)
		case kindFlush:
			err = m.applyFlush(m.ctx, f.version)
		case kindRequest:
			if f.epoch == m.epoch {
				l.mu.Lock()
				l.acked = max(l.acked, f.seq)
				l.hasAcked = true
				l.mu.Unlock()
			}
			err = m.answer(conn, bw, f, from)
		default:
			err = fmt.Errorf("%w: unexpected %q frame", ErrProtocol, f.kind)
		}
		if err != nil {
			if m.ctx.Err() == nil {
				m.opts.Logger.Warn("sync connection failed", "peer", from, "err", err)
			}
			return
		}
	}
}

// answer streams the writes after the request's cursor (or, when this
// peer's log no longer reaches back that far or the cursor is from another
// epoch, every item of the replica), then complete with the new cursor.
// Both leave out the requester's own writes: it stored each of them when it
// made it and holds that or something newer (a requester whose replica was
// emptied asks from zero and gets everything).
func (m *Mode) answer(conn net.Conn, bw *bufio.Writer, req frame, from string) error {
	fromOrdinal := m.ordinals[from]
	ctx := m.ctx
	var buf []byte
	var batch []kvcontroller.Item
	size := 0
	flushBatch := func(force bool) error {
		if len(batch) > 0 && (force || size >= batchBytes) {
			buf = appendFrame(buf[:0], frame{kind: kindItems, items: batch})
			batch, size = batch[:0], 0
			if err := conn.SetWriteDeadline(time.Now().Add(m.syncTimeout())); err != nil {
				return err
			}
			if _, err := bw.Write(buf); err != nil {
				return err
			}
		}
		return nil
	}
	// A requester whose cursor is not zero has synced with this peer before
	// on the replica it has now, which holds each of its own writes or
	// something newer: a full transfer leaves those out as a delta does.
	skipOwn := req.epoch != 0 || req.seq != 0
	add := func(it kvcontroller.Item) error {
		if it.Key == markerKey || (skipOwn && VersionOrdinal(it.Version) == fromOrdinal) {
			return nil
		}
		batch = append(batch, it)
		size += itemWireSize(it)
		return flushBatch(false)
	}
	if err := conn.SetWriteDeadline(time.Now().Add(m.syncTimeout())); err != nil {
		return fmt.Errorf("answer sync: %w", err)
	}
	if mark := m.flushMark.Load(); mark != 0 {
		if _, err := bw.Write(appendFrame(nil, frame{kind: kindFlush, version: mark})); err != nil {
			return fmt.Errorf("answer sync: %w", err)
		}
	}
	var keys []string
	head, ok := uint64(0), false
	if req.epoch == m.epoch {
		keys, head, ok = m.log.since(req.seq)
	}
	if ok {
		for start := 0; start < len(keys); start += getBatch {
			chunk := keys[start:min(start+getBatch, len(keys))]
			found, err := m.store.GetMulti(ctx, chunk)
			if err != nil {
				return fmt.Errorf("answer sync: read %d keys: %w", len(chunk), err)
			}
			for _, k := range chunk {
				if it, hit := found[k]; hit {
					if err := add(it); err != nil {
						return fmt.Errorf("answer sync: %w", err)
					}
				}
			}
		}
	} else {
		// Entries after head may or may not make it into the dump; the
		// next delta sync sends them.
		head = m.log.last()
		if err := m.store.Dump(ctx, add); err != nil {
			return fmt.Errorf("answer sync: full transfer: %w", err)
		}
	}
	if err := flushBatch(true); err != nil {
		return fmt.Errorf("answer sync: %w", err)
	}
	if _, err := bw.Write(appendFrame(nil, frame{kind: kindComplete, epoch: m.epoch, seq: head, full: !ok})); err != nil {
		return fmt.Errorf("answer sync: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("answer sync: %w", err)
	}
	return nil
}

// watchLinks kicks a link's exchange when its peer is heard again after
// being down: a dial or read stuck on the link as it was would otherwise
// hold up the next sync for up to syncTimeout.
func (m *Mode) watchLinks() {
	t := time.NewTicker(max(min(m.cfg.SyncInterval/2, 100*time.Millisecond), 10*time.Millisecond))
	defer t.Stop()
	up := make(map[string]bool, len(m.order))
	for _, name := range m.order {
		up[name] = true
	}
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		for _, name := range m.order {
			now := m.opts.Up(name)
			if now && !up[name] {
				m.opts.Logger.Debug("peer heard again: restarting the sync exchange", "peer", name)
				m.links[name].kick()
			}
			up[name] = now
		}
	}
}
