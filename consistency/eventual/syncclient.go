package eventual

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"time"

	"github.com/memcons/memcons/kvcontroller"
)

// syncConn is an open sync connection this peer dialed.
type syncConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	// out is the reused buffer sendPushes encodes frames into.
	out []byte
}

// maxPayload is the largest frame this peer accepts: room for one item of
// the largest size clients may store, and at least the package bound.
func (m *Mode) maxPayload() int {
	return max(maxPayload, m.opts.ItemSizeMax+2*batchBytes)
}

// syncTimeout bounds one dial and each read or write of a sync exchange.
func (m *Mode) syncTimeout() time.Duration {
	if m.opts.PeerTimeout > 0 {
		return max(5*m.tuning().SyncInterval, m.opts.PeerTimeout)
	}
	return max(10*m.tuning().SyncInterval, 5*time.Second)
}

// runLink pushes writes to one peer as they come and syncs with it every
// sync interval, over one connection that it redials after any error.
func (m *Mode) runLink(l *link) {
	period := m.tuning().SyncInterval
	ticker := time.NewTicker(period)
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
				m.retune(ticker, &period)
				tick = true
				continue
			case <-l.kicked:
				tick = true
				continue
			case <-l.notify:
				if sc == nil {
					break
				}
				if l.pending() < m.tuning().PushBatch {
					// Linger so that the writes of the next moment travel
					// (and are applied) as one batch: every frame costs
					// the receiver a wake-up and two replica round trips.
					t := time.NewTimer(m.tuning().PushDelay)
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

// sendPushes writes every queued push to the peer in batches. Frames are
// encoded into one reused buffer (each value copied once, into it) that goes
// to the socket in one write whenever it holds batchBytes, and at the end of
// a batch.
func (m *Mode) sendPushes(sc *syncConn, l *link) error {
	for {
		batch := l.take(m.tuning().PushBatch)
		if len(batch) == 0 {
			return nil
		}
		if err := sc.c.SetWriteDeadline(time.Now().Add(m.syncTimeout())); err != nil {
			return fmt.Errorf("push to %s: %w", l.name, err)
		}
		if err := sc.bw.Flush(); err != nil { // sc.out bypasses bw
			return fmt.Errorf("push to %s: %w", l.name, err)
		}
		out := sc.out[:0]
		first, size := 0, 0 // the items of batch not yet in out, and their size
		for i, e := range batch {
			if e.flush == 0 {
				if size += itemWireSize(e.item); size < batchBytes {
					continue
				}
				out = appendPushFrame(out, batch[first:i+1])
			} else {
				out = appendPushFrame(out, batch[first:i])
				out = appendFrame(out, frame{kind: kindFlush, version: e.flush})
			}
			first, size = i+1, 0
			if len(out) >= batchBytes {
				if _, err := sc.c.Write(out); err != nil {
					return fmt.Errorf("push to %s: %w", l.name, err)
				}
				out = out[:0]
			}
		}
		out = appendPushFrame(out, batch[first:])
		if _, err := sc.c.Write(out); err != nil {
			return fmt.Errorf("push to %s: %w", l.name, err)
		}
		if cap(out) <= maxKeptOut {
			sc.out = out[:0]
		}
		l.mu.Lock()
		l.pushed += uint64(len(batch))
		l.mu.Unlock()
	}
}

// maxKeptOut bounds the push buffer a connection keeps between batches.
const maxKeptOut = 2 * batchBytes

// appendPushFrame appends one push frame of the writes in entries (which
// hold no flush) to dst; none if entries is empty.
func appendPushFrame(dst []byte, entries []pushEntry) []byte {
	if len(entries) == 0 {
		return dst
	}
	return appendFrameFunc(dst, kindPush, len(entries), func(i int) kvcontroller.Item { return entries[i].item })
}

// syncWith asks the peer for every write after this peer's cursor into its
// log, applies the answer and advances the cursor.
func (m *Mode) syncWith(sc *syncConn, l *link) error {
	l.mu.Lock()
	cur := l.cur
	began := m.opts.Now()
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
			l.caughtUp = began
			if f.full {
				l.fullSyncs++
			}
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
