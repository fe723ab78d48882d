package mcclient

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"
)

// Metadump waits for a busy LRU crawler with a backoff doubling from
// busyBackoffMin to busyBackoffMax, for at most busyWaitMax.
const (
	busyBackoffMin = 5 * time.Millisecond
	busyBackoffMax = 200 * time.Millisecond
	busyWaitMax    = 15 * time.Second
)

// FlushAll removes every item (`flush_all`).
func (c *Client) FlushAll(ctx context.Context) error {
	return c.command(ctx, "flush_all", "flush_all\r\n", func(r *bufio.Reader) error {
		line, err := readLine(r)
		if err != nil {
			return err
		}
		if string(line) != "OK\r\n" {
			return unexpected(line)
		}
		return nil
	})
}

// Version returns the server's version (`version`); it is also the cheapest
// way to learn that memcached answers.
func (c *Client) Version(ctx context.Context) (string, error) {
	var v string
	err := c.command(ctx, "version", "version\r\n", func(r *bufio.Reader) error {
		line, err := readLine(r)
		if err != nil {
			return err
		}
		rest, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("VERSION "))
		if !ok {
			return unexpected(line)
		}
		v = string(rest)
		return nil
	})
	return v, err
}

// Stats returns memcached's general statistics (`stats`) by name, values
// as memcached wrote them.
func (c *Client) Stats(ctx context.Context) (map[string]string, error) {
	var st map[string]string
	err := c.command(ctx, "stats", "stats\r\n", func(r *bufio.Reader) error {
		var err error
		st, err = readStats(r)
		return err
	})
	return st, err
}

// Stat is one "STAT <Name> <Value>" line of memcached's statistics.
type Stat struct{ Name, Value string }

// StatGroup returns the lines of `stats <group>` (items, slabs, ...) in
// memcached's order; ErrProtocol if memcached does not know the group.
func (c *Client) StatGroup(ctx context.Context, group string) ([]Stat, error) {
	if group == "" || bytes.ContainsAny([]byte(group), " \r\n") {
		return nil, fmt.Errorf("mcclient: stats group %q: %w", group, ErrProtocol)
	}
	var lines []Stat
	err := c.command(ctx, "stats "+group, "stats "+group+"\r\n", func(r *bufio.Reader) error {
		return readStatLines(r, func(name, value []byte) {
			lines = append(lines, Stat{string(name), string(value)})
		})
	})
	return lines, err
}

// Metadump lists every key memcached holds, decoded, in no useful order.
// While the LRU crawler is busy with another request it retries, backing
// off, for up to 15 s or until ctx is done; then ErrBusy.
//
// It walks the hash table (`lru_crawler metadump hash`), not the LRUs
// (`metadump all`): the LRU walk silently skips any item another
// connection holds at that instant, so under read load it misses keys, hot
// keys most of all; the hash walk holds each bucket's lock and lists every
// unexpired item. Keys written while it runs may or may not be listed.
func (c *Client) Metadump(ctx context.Context) ([]string, error) {
	backoff := busyBackoffMin
	giveUp := time.Now().Add(busyWaitMax)
	for {
		var keys []string
		// memcached refuses metadump after other commands on a connection
		// and ignores commands after it, so each attempt dials its own.
		err := c.command(ctx, "metadump", "lru_crawler metadump hash\r\n", func(r *bufio.Reader) error {
			var err error
			keys, err = readMetadump(r)
			return err
		})
		if !errors.Is(err, ErrBusy) {
			return keys, err
		}
		if time.Now().Add(backoff).After(giveUp) {
			return nil, fmt.Errorf("memcached metadump: busy for %v: %w", busyWaitMax, ErrBusy)
		}
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("memcached metadump: %w", ctx.Err())
		case <-c.pipe.closing:
			timer.Stop()
			return nil, ErrClosed
		case <-timer.C:
		}
		backoff = min(2*backoff, busyBackoffMax)
	}
}

// readLine reads one reply line, "\r\n" included; the line aliases r's
// buffer.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return nil, fmt.Errorf("read reply: %w", err)
	}
	return line, nil
}

// readMetadump reads metadump lines (`key=<url-encoded> exp=... ...\n`) up
// to `END\r\n` and returns the decoded keys; ErrBusy if the crawler is busy.
func readMetadump(r *bufio.Reader) ([]string, error) {
	var keys []string
	for {
		line, err := readLine(r)
		if err != nil {
			return nil, err
		}
		switch {
		case string(line) == "END\r\n":
			return keys, nil
		case bytes.HasPrefix(line, []byte("BUSY")):
			// "BUSY currently processing crawler request"
			return nil, ErrBusy
		}
		k, err := parseMetadumpKey(line)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
}

// parseMetadumpKey returns the decoded key of one metadump line.
func parseMetadumpKey(line []byte) (string, error) {
	rest, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("key="))
	if !ok {
		return "", unexpected(line)
	}
	enc, _, _ := bytes.Cut(rest, []byte(" "))
	k, err := url.PathUnescape(string(enc))
	if err != nil || k == "" {
		return "", fmt.Errorf("%w: bad metadump key %q", ErrProtocol, clip(enc))
	}
	return k, nil
}

// readStats reads `STAT <name> <value>\r\n` lines up to `END\r\n`.
func readStats(r *bufio.Reader) (map[string]string, error) {
	st := map[string]string{}
	err := readStatLines(r, func(name, value []byte) { st[string(name)] = string(value) })
	if err != nil {
		return nil, err
	}
	return st, nil
}

// readStatLines calls fn with each `STAT <name> <value>\r\n` line up to
// `END\r\n`; the slices alias r's buffer.
func readStatLines(r *bufio.Reader, fn func(name, value []byte)) error {
	for {
		line, err := readLine(r)
		if err != nil {
			return err
		}
		if string(line) == "END\r\n" {
			return nil
		}
		rest, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("STAT "))
		if !ok {
			return unexpected(line)
		}
		name, value, _ := bytes.Cut(rest, []byte(" "))
		fn(name, value)
	}
}

// command sends cmd on a new connection and lets read parse the answer.
// Each network operation is bounded by Timeout; ctx being done, or Close,
// closes the connection.
func (c *Client) command(ctx context.Context, op, cmd string, read func(*bufio.Reader) error) error {
	select {
	case <-c.pipe.closing:
		return ErrClosed
	default:
	}
	d := net.Dialer{Timeout: c.timeout}
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return c.commandErr(ctx, op, err)
	}
	defer nc.Close()
	for _, done := range []context.Context{ctx, c.pipe.ctx} {
		closed := make(chan struct{})
		stop := context.AfterFunc(done, func() {
			_ = nc.Close()
			close(closed)
		})
		defer func() {
			if !stop() {
				<-closed
			}
		}()
	}

	if err := nc.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return c.commandErr(ctx, op, err)
	}
	if _, err := io.WriteString(nc, cmd); err != nil {
		return c.commandErr(ctx, op, err)
	}
	if err := read(bufio.NewReader(&deadlineReader{c: nc, timeout: c.timeout})); err != nil {
		return c.commandErr(ctx, op, err)
	}
	return nil
}

// commandErr puts the cause of a failed command in context: ctx's error
// if it is done, ErrClosed if the client closed, otherwise err.
func (c *Client) commandErr(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("memcached %s: %w", op, ctxErr)
	}
	if c.pipe.ctx.Err() != nil {
		return ErrClosed
	}
	return fmt.Errorf("memcached %s: %w", op, err)
}

// deadlineReader extends the read deadline of c before every Read.
type deadlineReader struct {
	c       net.Conn
	timeout time.Duration
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if err := d.c.SetReadDeadline(time.Now().Add(d.timeout)); err != nil {
		return 0, err
	}
	return d.c.Read(p)
}
