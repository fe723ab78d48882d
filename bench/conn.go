package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// errDial marks a failed dial.
var errDial = errors.New("cannot connect")

// errReply marks an answer of the server that is not the expected one
// (ERROR, CLIENT_ERROR, SERVER_ERROR, NOT_STORED, ...): the connection stays
// usable.
var errReply = errors.New("unexpected reply")

// conn is one text-protocol connection with one request in flight at a
// time. It is not safe for concurrent use.
type conn struct {
	base    context.Context // ends the connection's use: dialling and requests in progress
	addr    string
	timeout time.Duration
	nc      net.Conn // nil until dialled and after an IO error
	r       *bufio.Reader
	w       *bufio.Writer
	line    []byte      // scratch for building requests
	unwatch func() bool // stops the context watch of the open connection
}

// newConn returns a connection to addr that dials on first use; cancelling
// base interrupts a request in progress.
func newConn(base context.Context, addr string, timeout time.Duration) *conn {
	return &conn{base: base, addr: addr, timeout: timeout}
}

// ensure dials if the connection is not open.
func (c *conn) ensure() error {
	if c.nc != nil {
		return nil
	}
	d := net.Dialer{Timeout: c.timeout}
	nc, err := d.DialContext(c.base, "tcp", c.addr)
	if err != nil {
		return fmt.Errorf("%w: %w", errDial, err) // err names the address
	}
	c.nc = nc
	// A cancelled run cuts a request in progress short.
	c.unwatch = context.AfterFunc(c.base, func() { _ = nc.SetDeadline(time.Now()) })
	c.r = bufio.NewReaderSize(nc, 16<<10)
	c.w = bufio.NewWriterSize(nc, 16<<10)
	return nil
}

// Close closes the connection; it is safe to call more than once.
func (c *conn) Close() error {
	if c.nc == nil {
		return nil
	}
	c.unwatch()
	err := c.nc.Close()
	c.nc, c.r, c.w, c.unwatch = nil, nil, nil, nil
	return err
}

// begin dials if needed and sets the deadline of one request: the timeout,
// or the deadline of ctx (the phase of the run) if that comes first.
func (c *conn) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.ensure(); err != nil {
		return err
	}
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.nc.SetDeadline(deadline); err != nil {
		return c.fail(fmt.Errorf("set deadline: %w", err))
	}
	return nil
}

// fail closes the connection after an IO or framing error, which leaves
// the reply stream out of step; reply errors keep it.
func (c *conn) fail(err error) error {
	if !errors.Is(err, errReply) {
		_ = c.Close()
	}
	return err
}

// get fetches key and reports whether it was found.
func (c *conn) get(ctx context.Context, key []byte) (hit bool, err error) {
	if err := c.begin(ctx); err != nil {
		return false, err
	}
	c.line = append(append(append(c.line[:0], "get "...), key...), "\r\n"...)
	if err := c.send(); err != nil {
		return false, c.fail(err)
	}
	line, err := c.readLine()
	if err != nil {
		return false, c.fail(err)
	}
	if bytes.Equal(line, []byte("END")) {
		return false, nil
	}
	size, err := valueSize(line)
	if err != nil {
		return false, c.fail(err)
	}
	if _, err := c.r.Discard(size + 2); err != nil {
		return false, c.fail(fmt.Errorf("read value: %w", err))
	}
	if line, err = c.readLine(); err != nil {
		return false, c.fail(err)
	}
	if !bytes.Equal(line, []byte("END")) {
		return false, c.fail(fmt.Errorf("expected END after one value, got %q", line))
	}
	return true, nil
}

// set stores value under key.
func (c *conn) set(ctx context.Context, key, value []byte) error {
	if err := c.begin(ctx); err != nil {
		return err
	}
	c.line = append(append(append(c.line[:0], "set "...), key...), " 0 0 "...)
	c.line = append(strconv.AppendInt(c.line, int64(len(value)), 10), "\r\n"...)
	if _, err := c.w.Write(c.line); err != nil {
		return c.fail(fmt.Errorf("send: %w", err))
	}
	if _, err := c.w.Write(value); err != nil {
		return c.fail(fmt.Errorf("send: %w", err))
	}
	c.line = append(c.line[:0], "\r\n"...)
	if err := c.send(); err != nil {
		return c.fail(err)
	}
	line, err := c.readLine()
	if err != nil {
		return c.fail(err)
	}
	if !bytes.Equal(line, []byte("STORED")) {
		return fmt.Errorf("%w: set answered %q", errReply, line)
	}
	return nil
}

// send writes c.line and flushes.
func (c *conn) send() error {
	if _, err := c.w.Write(c.line); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// readLine reads one reply line without its \r\n; the slice is valid until
// the next read. Error lines become errReply.
func (c *conn) readLine() ([]byte, error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read reply: %w", err)
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if isErrorLine(line) {
		return nil, fmt.Errorf("%w: %q", errReply, line)
	}
	return line, nil
}

func isErrorLine(l []byte) bool {
	return bytes.Equal(l, []byte("ERROR")) || bytes.HasPrefix(l, []byte("CLIENT_ERROR")) ||
		bytes.HasPrefix(l, []byte("SERVER_ERROR"))
}

// valueSize reads the byte count of "VALUE <key> <flags> <bytes>".
func valueSize(line []byte) (int, error) {
	fields := bytes.Fields(line)
	if len(fields) < 4 || !bytes.Equal(fields[0], []byte("VALUE")) {
		return 0, fmt.Errorf("expected VALUE or END, got %q", line)
	}
	n, err := strconv.Atoi(string(fields[3]))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad value size in %q", line)
	}
	return n, nil
}
