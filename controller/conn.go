package controller

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"time"

	"github.com/memcons/memcons/consistency"
)

// Buffer sizes of a connection. The read buffer matches memcached's, which
// is what decides when a line without a newline is too long.
const (
	readBufferSize  = 16 << 10
	writeBufferSize = 16 << 10
	// keepLongLine is the largest long-line buffer kept between commands.
	keepLongLine = 64 << 10
	// maxBatch bounds the commands parsed ahead; the rest stay buffered for
	// the next batch. It is above what the read buffer holds (16 KiB of
	// the shortest commands), so that a batch is everything one read
	// brought: each batch costs the ordered modes a log round, and a cap
	// below that split each read into a full batch and a few stragglers.
	maxBatch = 2048
)

// errDraining stops a connection once its replies are flushed during Shutdown.
var errDraining = errors.New("server shutting down")

// errQuit stops a connection after `quit` or a protocol error that closes.
var errQuit = errors.New("connection closed by protocol")

// pending is one parsed command waiting in a connection's batch.
type pending struct {
	cmd   Command
	spec  *command // cmd's table entry; nil only with err set
	err   error    // protocol error to answer instead of executing cmd
	value []byte   // the data block of a storage command
	// swallow is how many bytes of a refused data block follow the line.
	swallow int
	// submitted is set once the batch step has run the command's request
	// (if it has one) together with its neighbours; out is the outcome.
	submitted bool
	hasReq    bool
	out       consistency.Outcome
}

// conn serves one client connection. Only its own goroutine uses it, except
// for nc.Close from Server.Close.
type conn struct {
	srv *Server
	nc  net.Conn
	// ctr holds this connection's share of the per-request counters:
	// updates stay on this goroutine's cache lines, and `stats` adds up
	// every connection's (Server.totals).
	ctr *counters
	r   *bufio.Reader // reads from the conn itself, which flushes w first
	w   *bufio.Writer // writes to the conn's counting writer
	rw  replyWriter

	batch   []pending // commands parsed from one read, reused
	long    []byte    // a line longer than the read buffer, reused
	term    [2]byte   // a data block's terminator
	noreply bool      // the command being answered asked for no reply

	mark time.Duration // end of the last timed command of this batch, 0 if none (metrics.go)
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, ctr: new(counters)}
	c.r = bufio.NewReaderSize(readerFunc(c.read), readBufferSize)
	c.w = bufio.NewWriterSize(writerFunc(c.write), writeBufferSize)
	c.rw = replyWriter{w: c.w, scratch: make([]byte, 0, 128)}
	return c
}

// readerFunc adapts a function to io.Reader.
type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// writerFunc adapts a function to io.Writer.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// read is the only place that reads the socket. It first flushes the
// replies written so far: the buffered reader calls it only when every
// complete command already received has been handled, so replies to a
// pipelined batch leave in one write, just before the connection waits.
func (c *conn) read(p []byte) (int, error) {
	if c.w.Buffered() > 0 {
		if err := c.w.Flush(); err != nil {
			return 0, err
		}
	}
	if c.srv.draining.Load() {
		return 0, errDraining
	}
	if t := c.srv.limits().IdleTimeout; t > 0 {
		if err := c.nc.SetReadDeadline(time.Now().Add(t)); err != nil {
			return 0, err
		}
		// Shutdown may have set its wake-up deadline just before ours.
		if c.srv.draining.Load() {
			return 0, errDraining
		}
	}
	n, err := c.nc.Read(p)
	c.ctr.bytesRead.Add(uint64(n))
	return n, err
}

// write is the only place that writes the socket.
func (c *conn) write(p []byte) (int, error) {
	if t := c.srv.limits().IdleTimeout; t > 0 {
		if err := c.nc.SetWriteDeadline(time.Now().Add(t)); err != nil {
			return 0, err
		}
	}
	n, err := c.nc.Write(p)
	c.ctr.bytesWritten.Add(uint64(n))
	return n, err
}

// serve runs the connection until the client leaves, an IO error, a
// protocol error that closes, or Server.Close.
func (c *conn) serve() {
	defer func() { _ = c.nc.Close() }()
	for {
		err := c.fillBatch()
		if err == nil {
			err = c.runBatch()
		}
		if err != nil {
			if errors.Is(err, errQuit) || errors.Is(err, errDraining) {
				_ = c.w.Flush()
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.srv.log.Debug("client connection closed", "remote", c.nc.RemoteAddr().String(), "err", err)
			}
			return
		}
	}
}

// fillBatch waits for one command unless one is already buffered, then adds
// further complete commands already buffered, up to maxBatch.
func (c *conn) fillBatch() error {
	c.batch = c.batch[:0]
	p, ok := c.parseBuffered()
	if !ok {
		var err error
		if p, err = c.readCommand(); err != nil {
			return err
		}
	}
	c.batch = append(c.batch, p)
	for !endsBatch(&p) && len(c.batch) < maxBatch {
		if p, ok = c.parseBuffered(); !ok {
			break
		}
		c.batch = append(c.batch, p)
	}
	c.ctr.queued.Add(uint64(len(c.batch)))
	return nil
}

// endsBatch reports whether the bytes after p are not a command (a refused
// data block to swallow) or must not be read (quit, a closing error).
func endsBatch(p *pending) bool {
	return p.swallow > 0 || (p.spec != nil && p.spec.closes) || (p.err != nil && isClosing(p.err))
}

// runBatch answers the batch in order. The requests of consecutive
// commands go to the mode together (submit), so that a pipeline of writes
// costs one log round, not one per command; the replies are then written
// in order from their outcomes.
func (c *conn) runBatch() error {
	defer clear(c.batch) // drop the values
	c.mark = 0
	for i := range c.batch {
		if !c.batch[i].submitted {
			if c.mark == 0 && c.srv.latency.Load() != nil {
				// The next command's latency includes the mode's time for
				// the batch it is submitted with (metrics.go).
				c.mark = time.Since(c.srv.started)
			}
			c.submit(c.batch[i:])
		}
		if !c.batch[i].hasReq { // submit took those off the queue
			c.ctr.queued.Add(^uint64(0))
		}
		if err := c.execute(&c.batch[i]); err != nil {
			var rest uint64
			for j := i + 1; j < len(c.batch); j++ {
				if !c.batch[j].hasReq {
					rest++
				}
			}
			c.ctr.queued.Add(-rest)
			return err
		}
	}
	return nil
}

// refusedBlock marks the data block of a refused line that still gave its
// length (an ms whose flags memcached refuses) to be swallowed.
func refusedBlock(p *pending) {
	if p.err != nil && p.cmd.DataLen != NoData {
		p.swallow = p.cmd.DataLen + 2
	}
}

func isClosing(err error) bool {
	var pe *ProtocolError
	return errors.As(err, &pe) && pe.Close
}

// parseBuffered takes one command, data block included, from the bytes
// already buffered, without reading the socket. ok is false when no complete
// command is buffered; then nothing is consumed.
func (c *conn) parseBuffered() (pending, bool) {
	buf, _ := c.r.Peek(c.r.Buffered())
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		return pending{}, false
	}
	if i > c.srv.limits().MaxLineLength {
		return pending{err: ErrLineTooLong}, true
	}
	var p pending
	p.spec, p.err = parseInto(&p.cmd, buf[:i])
	used := i + 1
	refusedBlock(&p)
	if n := p.cmd.DataLen; p.err == nil && n != NoData {
		if err := CheckItemSize(&p.cmd, c.srv.cfg.ItemSizeMax); err != nil {
			p.err, p.swallow = err, n+2
		} else {
			value, _, complete, err := SplitDataBlock(buf[used:], n)
			if !complete {
				return pending{}, false
			}
			p.value, p.err = bytes.Clone(value), err
			used += n + 2
		}
	}
	_, _ = c.r.Discard(used) // cannot fail: the bytes are buffered
	return p, true
}

// readCommand reads one command, data block included, waiting for the
// socket as needed.
func (c *conn) readCommand() (pending, error) {
	line, used, err := c.readLine()
	if err != nil {
		return pending{}, err
	}
	var p pending
	p.spec, p.err = parseInto(&p.cmd, line)
	refusedBlock(&p)
	_, _ = c.r.Discard(used)
	if cap(c.long) > keepLongLine {
		c.long = nil
	}
	if p.err != nil || p.cmd.DataLen == NoData {
		return p, nil
	}
	if err := CheckItemSize(&p.cmd, c.srv.cfg.ItemSizeMax); err != nil {
		p.err, p.swallow = err, p.cmd.DataLen+2
		return p, nil
	}
	p.value = make([]byte, p.cmd.DataLen)
	if _, err := io.ReadFull(c.r, p.value); err != nil {
		return pending{}, err
	}
	if _, err := io.ReadFull(c.r, c.term[:]); err != nil {
		return pending{}, err
	}
	if c.term != [2]byte{'\r', '\n'} {
		p.err = ErrBadDataChunk
	}
	return p, nil
}

// readLine returns the next line without its '\n', waiting for the socket
// as needed, and how many buffered bytes to discard once it is parsed. Like
// memcached it gives up (ErrLineTooLong) on a line that has no newline after
// 2048 bytes unless it is a get/gets line, and on any line over
// MaxLineLength.
func (c *conn) readLine() (line []byte, used int, err error) {
	maxLine := c.srv.limits().MaxLineLength
	for {
		n := c.r.Buffered()
		buf, _ := c.r.Peek(n)
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			if i > maxLine {
				return nil, 0, ErrLineTooLong
			}
			return buf[:i], i + 1, nil
		}
		if err := CheckPartialLine(buf, maxLine); err != nil {
			return nil, 0, err
		}
		if n == c.r.Size() {
			line, err := c.readLongLine(buf)
			return line, 0, err
		}
		if _, err := c.r.Peek(n + 1); err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, 0, err
		}
	}
}

// readLongLine reads a line that does not fit the read buffer into c.long;
// start is the whole buffer, which holds no newline.
func (c *conn) readLongLine(start []byte) ([]byte, error) {
	maxLine := c.srv.limits().MaxLineLength
	c.long = append(c.long[:0], start...)
	_, _ = c.r.Discard(len(start))
	for {
		chunk, err := c.r.ReadSlice('\n')
		c.long = append(c.long, chunk...)
		switch {
		case err == nil:
			line := c.long[:len(c.long)-1]
			if len(line) > maxLine {
				return nil, ErrLineTooLong
			}
			return line, nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return nil, err
		}
		if err := CheckPartialLine(c.long, maxLine); err != nil {
			return nil, err
		}
	}
}

// execute answers one command of the batch. It returns an error only when
// the connection must close.
func (c *conn) execute(p *pending) error {
	c.noreply = p.cmd.Noreply
	defer c.ctr.completed.Add(1)
	if p.err != nil {
		c.mark = 0 // a refusal is not timed, nor added to the next command
		return c.refuse(p)
	}
	return c.handle(p)
}

// refuse answers a command the parser or the limits refused.
func (c *conn) refuse(p *pending) error {
	line, closeConn := errorReply(p.err)
	if closeConn {
		c.ctr.errors.Add(1)
		return errQuit
	}
	switch {
	case errors.Is(p.err, ErrObjectTooLarge):
		c.ctr.storeTooLarge.Add(1)
		c.reply(line)
		if dropsTooLarge(p) {
			if _, err := c.result(p); err != nil {
				c.srv.log.Warn("dropping item after too large set failed", "key", p.cmd.Keys[0], "err", err)
			}
		}
		if _, err := c.r.Discard(p.swallow); err != nil {
			return err
		}
	case errors.Is(p.err, ErrBadDataChunk): // a storage command all the same
		c.countCmd(p, 1)
		c.reply(line)
	default:
		c.reply(line)
		if p.swallow > 0 {
			if _, err := c.r.Discard(p.swallow); err != nil {
				return err
			}
		}
	}
	return nil
}

// reply writes one reply line unless the command asked for noreply; error
// lines are counted either way.
func (c *conn) reply(line string) {
	if isErrorReply(line) {
		c.ctr.errors.Add(1)
	}
	if !c.noreply {
		c.rw.line(line)
	}
}

// fail answers a Mode error; its detail goes to the log.
func (c *conn) fail(err error) {
	line, _ := errorReply(err)
	if line != replyNonNumeric && line != replyOutOfMemory {
		c.srv.errLog.failed(line, err)
	}
	c.reply(line)
}

// reqKind says how the batch step treats a command.
type reqKind uint8

const (
	reqNone    reqKind = iota // asks nothing of the mode
	reqBatched                // its request runs with its neighbours'
)

// dropsTooLarge reports a set or ms refused as too large: memcached drops
// the old item rather than keep stale data under a key the client meant to
// overwrite.
func dropsTooLarge(p *pending) bool {
	return errors.Is(p.err, ErrObjectTooLarge) && (p.cmd.Op == consistency.OpSet || p.cmd.Op == consistency.OpMetaSet)
}

// batchRequest returns the request the batch step runs for p. A set or
// ms refused as too large deletes the key (dropsTooLarge), in its place in
// the pipeline.
func batchRequest(p *pending) (consistency.Request, reqKind) {
	cmd := &p.cmd
	if p.err != nil {
		if dropsTooLarge(p) {
			return consistency.Request{Op: consistency.OpDelete, Keys: cmd.Keys}, reqBatched
		}
		return consistency.Request{}, reqNone
	}
	switch p.spec.op {
	case 0:
		return consistency.Request{}, reqNone
	case consistency.OpGet, consistency.OpGets, consistency.OpGat, consistency.OpGats:
		if len(cmd.Keys) == 0 { // "gat <exptime>" names no key
			return consistency.Request{}, reqNone
		}
		return consistency.Request{Op: cmd.Op, Keys: cmd.Keys, Exptime: cmd.Exptime}, reqBatched
	case consistency.OpSet, consistency.OpAdd, consistency.OpReplace, consistency.OpAppend,
		consistency.OpPrepend, consistency.OpCas:
		return consistency.Request{Op: cmd.Op, Keys: cmd.Keys, Value: p.value,
			Flags: cmd.Flags, Exptime: cmd.Exptime, Cas: cmd.Cas}, reqBatched
	case consistency.OpIncr, consistency.OpDecr:
		return consistency.Request{Op: cmd.Op, Keys: cmd.Keys, Delta: cmd.Delta}, reqBatched
	case consistency.OpDelete:
		return consistency.Request{Op: consistency.OpDelete, Keys: cmd.Keys}, reqBatched
	case consistency.OpTouch:
		return consistency.Request{Op: consistency.OpTouch, Keys: cmd.Keys, Exptime: cmd.Exptime}, reqBatched
	case consistency.OpFlushAll:
		return consistency.Request{Op: consistency.OpFlushAll, Exptime: cmd.Exptime}, reqBatched
	case consistency.OpMetaGet, consistency.OpMetaSet, consistency.OpMetaDelete, consistency.OpMetaArithmetic:
		return metaRequest(p), reqBatched
	}
	return consistency.Request{}, reqNone
}

// submit runs, with one DoBatch, the requests of the commands of rest
// and keeps each outcome with its command.
func (c *conn) submit(rest []pending) {
	var reqs []consistency.Request
	n := 0
	for ; n < len(rest); n++ {
		req, kind := batchRequest(&rest[n])
		rest[n].submitted = true
		if kind == reqBatched {
			rest[n].hasReq = true
			reqs = append(reqs, req)
		}
	}
	if len(reqs) == 0 {
		return
	}
	outs := make([]consistency.Outcome, len(reqs))
	ctr := c.ctr
	ctr.queued.Add(-uint64(len(reqs)))
	ctr.inFlight.Add(uint64(len(reqs)))
	c.srv.mode.DoBatch(c.srv.ctx, reqs, outs)
	ctr.inFlight.Add(-uint64(len(reqs)))
	j := 0
	for i := range rest[:n] {
		if rest[i].hasReq {
			rest[i].out = outs[j]
			j++
		}
	}
}

// result returns the outcome the batch step got for p's request.
func (c *conn) result(p *pending) (consistency.Result, error) {
	return p.out.Result, p.out.Err
}
