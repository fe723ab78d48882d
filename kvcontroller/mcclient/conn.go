package mcclient

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Pipelined connection tuning.
const (
	pipeQueueLen    = 1024     // calls waiting for the writer, per connection
	pipeInflightLen = 1024     // calls written and awaiting replies, per connection
	pipeMaxBatch    = 256      // calls per write
	pipeBufSize     = 64 << 10 // read and write buffer, per connection

	// After a failed dial, requests fail at once until a backoff doubling
	// from redialBackoffMin to redialBackoffMax has passed.
	redialBackoffMin = 10 * time.Millisecond
	redialBackoffMax = time.Second

	// stallFactor × Timeout without a complete reply, while one is owed,
	// closes a connection. Callers give up after Timeout on their own; this
	// only recycles a connection whose memcached went silent, and is lenient
	// so that one slow reply does not fail everything queued behind it.
	stallFactor = 10
)

// pipeConn is one pipelined connection slot: a writer goroutine (run) that
// dials lazily and sends every queued call in one write; and, per live
// connection, a reader goroutine that pairs replies with calls in FIFO
// order. A caller that finds the connection idle (nothing queued, no reply
// owed) does its round trip itself (roundTripDirect), saving two goroutine
// hand-offs; the writer lock mu and the reader lock backendConn.rmu keep one
// writer and one reader at a time.
type pipeConn struct {
	p     *pipeline
	addr  string
	queue chan *call // calls waiting for the writer goroutine

	mu       sync.Mutex   // the writer lock: held while writing; guards the fields below
	cur      *backendConn // nil until dialled and after a failure
	batch    []*call
	failures int       // consecutive failed dials
	nextDial time.Time // no dial before this after a failure
	dialErr  error     // the last failed dial, returned until nextDial
}

// backendConn is one live TCP connection of a pipeConn.
type backendConn struct {
	nc         net.Conn
	w          *bufio.Writer // under pipeConn.mu
	inflight   chan *call    // written calls, in write order
	owed       atomic.Int64  // calls pushed to inflight whose reply is not yet read
	rmu        sync.Mutex    // the reader lock: held while reading a reply
	r          *bufio.Reader // under rmu
	dead       chan struct{} // closed by kill
	readerDone chan struct{} // closed when the reader has returned
	killOnce   sync.Once     // guards err, nc.Close and close(dead)
	err        error         // why the connection died; set before dead closes
}

// kill closes the connection for cause; only the first cause is kept.
func (bc *backendConn) kill(cause error) {
	bc.killOnce.Do(func() {
		bc.err = cause
		_ = bc.nc.Close()
		close(bc.dead)
	})
}

func newPipeConn(p *pipeline, addr string) *pipeConn {
	return &pipeConn{
		p:     p,
		addr:  addr,
		queue: make(chan *call, pipeQueueLen),
		batch: make([]*call, 0, pipeMaxBatch),
	}
}

// run is the writer goroutine: it takes the first queued call, everything
// else already waiting, and sends them with one flush. It tears down a
// connection as soon as its reader finds it dead.
func (pc *pipeConn) run() {
	defer pc.shutdown()
	for {
		pc.mu.Lock()
		cur := pc.cur
		pc.mu.Unlock()
		var dead <-chan struct{}
		if cur != nil {
			dead = cur.dead
		}
		var first *call
		select {
		case <-pc.p.closing:
			return
		case <-dead:
			pc.mu.Lock()
			if pc.cur == cur {
				pc.teardown()
			}
			pc.mu.Unlock()
			continue
		case first = <-pc.queue:
		}
		// The caller that woke us is about to park; let the other runnable
		// goroutines (callers with requests in hand) queue theirs first, so
		// that one write carries them all.
		runtime.Gosched()
		pc.mu.Lock()
		pc.sendBatch(first)
		pc.mu.Unlock()
	}
}

// roundTripDirect does the round trip of c in its caller's goroutine if
// the connection is live and idle: nothing queued, no reply owed, no writer
// at work. It holds the reader lock from before its write until its reply
// is read, so calls written after it are read (by the reader goroutine)
// after it. A failed read, a timeout included, kills the connection: the
// reply cannot be left for anyone else. Under load the writer goroutine
// batches instead. It reports whether c was handled (finished or failed).
func (pc *pipeConn) roundTripDirect(c *call, deadline time.Time) bool {
	if len(pc.queue) != 0 || !pc.mu.TryLock() {
		return false
	}
	bc := pc.cur
	idle := bc != nil && bc.owed.Load() == 0
	if idle {
		select {
		case <-pc.p.closing:
			idle = false
		case <-bc.dead:
			idle = false // the writer goroutine tears it down and redials
		default:
		}
	}
	if !idle || !bc.rmu.TryLock() {
		pc.mu.Unlock()
		return false
	}
	// One deadline for both directions: the runtime then arms one timer.
	err := bc.nc.SetDeadline(deadline)
	if err == nil {
		err = writeRequest(bc.w, c)
	}
	if err == nil {
		err = bc.w.Flush()
	}
	pc.mu.Unlock()
	if err != nil {
		bc.rmu.Unlock()
		bc.kill(fmt.Errorf("write: %w", err))
		c.fail(bc.err)
		return true
	}
	var rep reply
	rep, err = readReply(bc.r, c)
	bc.rmu.Unlock()
	if err != nil {
		bc.kill(fmt.Errorf("read: %w", err))
		c.fail(bc.err)
		return true
	}
	c.finish(rep, nil)
	return true
}

// sendBatch sends first and every call already queued. Called with mu held.
func (pc *pipeConn) sendBatch(first *call) {
	pc.batch = append(pc.batch[:0], first)
drain:
	for len(pc.batch) < pipeMaxBatch {
		select {
		case c := <-pc.queue:
			pc.batch = append(pc.batch, c)
		default:
			break drain
		}
	}
	pc.send()
	clear(pc.batch) // drop references to finished calls
}

// send writes the batch on the live connection, dialling if needed. Called
// with mu held.
func (pc *pipeConn) send() {
	bc, err := pc.connect()
	if err != nil {
		for _, c := range pc.batch {
			c.fail(err)
		}
		return
	}
	if err := bc.nc.SetWriteDeadline(time.Now().Add(pc.p.timeout)); err != nil {
		pc.abort(bc, err, 0)
		return
	}
	for i, c := range pc.batch {
		if c.abandoned() {
			continue // its caller is gone; nobody waits for the reply
		}
		// Encode before handing c to the reader: the hand-off orders the
		// writer's reads of c.value before the caller reuses it.
		if err := writeRequest(bc.w, c); err != nil {
			pc.abort(bc, err, i)
			return
		}
		bc.owed.Add(1)
		select {
		case bc.inflight <- c:
			continue
		default:
		}
		// The reader is behind: put everything on the wire so that it can
		// catch up, then wait for room.
		if err := bc.w.Flush(); err != nil {
			pc.abort(bc, err, i)
			return
		}
		select {
		case bc.inflight <- c:
		case <-bc.dead:
			pc.abort(bc, nil, i)
			return
		}
	}
	if err := bc.w.Flush(); err != nil {
		pc.abort(bc, err, len(pc.batch))
	}
}

// abort kills bc (for cause, unless nil because it is already dead), fails
// the batch from index from on (those calls are not in flight) and tears
// the connection down.
func (pc *pipeConn) abort(bc *backendConn, cause error, from int) {
	if cause != nil {
		bc.kill(fmt.Errorf("write: %w", cause))
	}
	<-bc.dead
	for _, c := range pc.batch[from:] {
		c.fail(bc.err)
	}
	pc.teardown()
}

// connect returns the live connection, dialling one unless a recent dial
// failed or the pipeline is closing. Called with mu held.
func (pc *pipeConn) connect() (*backendConn, error) {
	if pc.cur != nil {
		select {
		case <-pc.cur.dead:
			pc.teardown()
		default:
			return pc.cur, nil
		}
	}
	select {
	case <-pc.p.closing:
		return nil, ErrClosed
	default:
	}
	if pc.failures > 0 && time.Now().Before(pc.nextDial) {
		return nil, pc.dialErr
	}
	d := net.Dialer{Timeout: pc.p.timeout}
	nc, err := d.DialContext(pc.p.ctx, "tcp", pc.addr)
	if err != nil {
		pc.failures++
		backoff := min(redialBackoffMin<<min(pc.failures-1, 16), redialBackoffMax)
		pc.nextDial = time.Now().Add(backoff)
		pc.dialErr = err
		return nil, err
	}
	pc.failures = 0
	bc := &backendConn{
		nc:         nc,
		w:          bufio.NewWriterSize(nc, pipeBufSize),
		r:          bufio.NewReaderSize(nc, pipeBufSize),
		inflight:   make(chan *call, pipeInflightLen),
		dead:       make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	pc.p.wg.Go(func() { pc.read(bc) })
	pc.cur = bc
	return bc, nil
}

// teardown forgets the dead current connection and, once its reader has
// returned, fails every call in flight on it. Calls still queued were never
// written: they go out on the next connection, which the writer dials for
// them. Called with mu held.
func (pc *pipeConn) teardown() {
	bc := pc.cur
	pc.cur = nil
	<-bc.dead
	<-bc.readerDone
	for {
		select {
		case c := <-bc.inflight:
			c.fail(bc.err)
		default:
			return
		}
	}
}

// failQueued fails every call waiting in the queue.
func (pc *pipeConn) failQueued(cause error) {
	for {
		select {
		case c := <-pc.queue:
			c.fail(cause)
		default:
			return
		}
	}
}

// shutdown runs when the writer stops: it closes the connection and fails
// what waits on it.
func (pc *pipeConn) shutdown() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.cur != nil {
		pc.cur.kill(ErrClosed)
		pc.teardown()
	}
	pc.failQueued(ErrClosed)
}

// read is the reader goroutine of bc: it pairs each reply with the oldest
// call in flight, abandoned or not, until bc dies.
func (pc *pipeConn) read(bc *backendConn) {
	defer close(bc.readerDone)
	stall := stallFactor * pc.p.timeout
	for {
		var c *call
		select {
		case c = <-bc.inflight:
		case <-bc.dead:
			return
		}
		bc.rmu.Lock()
		err := bc.nc.SetReadDeadline(time.Now().Add(stall))
		var rep reply
		if err == nil {
			rep, err = readReply(bc.r, c)
		}
		bc.rmu.Unlock()
		if err != nil {
			bc.kill(fmt.Errorf("read: %w", err))
			c.fail(bc.err)
			return
		}
		c.finish(rep, nil)
		bc.owed.Add(-1)
	}
}
