package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// client is one connection to a peer's client port that is dialled on
// first use and again after it broke. It is not safe for concurrent use.
type client struct {
	addr    string
	timeout time.Duration
	conn    net.Conn // nil until dialled, and after an error closed it
	r       *bufio.Reader
	w       *bufio.Writer
}

func newClient(addr string, timeout time.Duration) *client {
	return &client{addr: addr, timeout: timeout}
}

// connect dials unless a connection is open.
func (c *client) connect(ctx context.Context) error {
	if c.conn != nil {
		return nil
	}
	d := net.Dialer{Timeout: c.timeout}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return fmt.Errorf("cannot connect: %w", err) // err names the address
	}
	c.conn = conn
	c.r = bufio.NewReader(conn)
	c.w = bufio.NewWriter(conn)
	return nil
}

// Close closes the connection; it is safe to call more than once.
func (c *client) Close() error {
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn, c.r, c.w = nil, nil, nil
	return err
}

// do sends req and reads a reply of the given kind. When a connection that
// was already open turns out to have dropped before any byte of the reply
// came back, do dials again and sends req once more. Any error closes the
// connection, so the next call starts on a fresh one.
func (c *client) do(ctx context.Context, req string, kind replyKind) (response, error) {
	reused := c.conn != nil
	if err := c.connect(ctx); err != nil {
		return response{}, err
	}
	resp, answered, err := c.roundTrip(ctx, req, kind)
	if err == nil {
		return resp, nil
	}
	_ = c.Close()
	if !reused || answered || !dropped(err) || ctx.Err() != nil {
		return resp, err
	}
	if err := c.connect(ctx); err != nil {
		return response{}, err
	}
	resp, _, err = c.roundTrip(ctx, req, kind)
	if err != nil {
		_ = c.Close()
	}
	return resp, err
}

// roundTrip writes req and reads the reply; answered reports whether any
// byte of the reply arrived.
func (c *client) roundTrip(ctx context.Context, req string, kind replyKind) (resp response, answered bool, err error) {
	conn := c.conn
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return response{}, false, fmt.Errorf("set deadline: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
	}()

	if _, err := c.w.WriteString(req); err != nil {
		return response{}, false, fmt.Errorf("send to %s: %w", c.addr, err)
	}
	if err := c.w.Flush(); err != nil {
		return response{}, false, fmt.Errorf("send to %s: %w", c.addr, err)
	}
	if kind == replyNone {
		return response{}, false, nil
	}
	if _, err := c.r.Peek(1); err != nil {
		return response{}, false, fmt.Errorf("read from %s: %w", c.addr, err)
	}
	resp, err = readResponse(c.r, kind)
	if err != nil {
		return resp, true, fmt.Errorf("read from %s: %w", c.addr, err)
	}
	return resp, true, nil
}

// dropped reports whether err says the peer closed or reset the connection
// (as opposed to a timeout, after which the server may still act on it).
func dropped(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}
