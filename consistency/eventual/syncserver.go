package eventual

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/memcons/memcons/kvcontroller"
)

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
		if it.Key == markerKey || (skipOwn && VersionOrdinal(expiryStamp(it)) == fromOrdinal) {
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
