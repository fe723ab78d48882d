package eventual

import (
	"context"
	"sync"
	"time"

	"github.com/memcons/memcons/kvcontroller"
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

	pushed    uint64    // writes pushed to the peer (metrics.go)
	fullSyncs uint64    // completed syncs the peer answered with a full transfer
	caughtUp  time.Time // start of the last completed sync (link creation before one)

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

func newLink(name string, now time.Time) *link {
	return &link{name: name, notify: make(chan struct{}, 1), kicked: make(chan struct{}, 1), caughtUp: now}
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

// watchLinks kicks a link's exchange when its peer is heard again after
// being down: a dial or read stuck on the link as it was would otherwise
// hold up the next sync for up to syncTimeout.
func (m *Mode) watchLinks() {
	t := time.NewTicker(max(min(m.tuning().SyncInterval/2, 100*time.Millisecond), 10*time.Millisecond))
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
