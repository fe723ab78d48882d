package crashtest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// ErrServer is a SERVER_ERROR, CLIENT_ERROR or ERROR reply; the connection
// stays usable.
var ErrServer = errors.New("crashtest: error reply")

// Conn is a memcached text-protocol connection to one peer: one command at
// a time, each bounded by the timeout, so a test knows exactly which
// connection (session) sent what. After any error other than ErrServer
// the connection must be closed, since a late reply would be read as the
// answer to the next command.
type Conn struct {
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration
}

// Dial connects to addr; timeout bounds the dial and every later command.
func Dial(addr string, timeout time.Duration) (*Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &Conn{conn: c, r: bufio.NewReader(c), timeout: timeout}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.conn.Close() }

// roundTrip sends cmd and reads its reply: up to END for retrievals and
// stats, else one line.
func (c *Conn) roundTrip(cmd string, multiline bool) ([]string, error) {
	if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return nil, err
	}
	if _, err := c.conn.Write([]byte(cmd)); err != nil {
		return nil, err
	}
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return lines, err
		}
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, "SERVER_ERROR") || strings.HasPrefix(line, "CLIENT_ERROR") || line == "ERROR" {
			return lines, fmt.Errorf("%w: %s", ErrServer, line)
		}
		lines = append(lines, line)
		if !multiline || line == "END" {
			return lines, nil
		}
	}
}

// Item is a value read with gets.
type Item struct {
	Found  bool
	Value  string
	Unique uint64
}

// Gets reads key with its cas unique.
func (c *Conn) Gets(key string) (Item, error) {
	lines, err := c.roundTrip("gets "+key+"\r\n", true)
	if err != nil {
		return Item{}, err
	}
	switch len(lines) {
	case 1:
		return Item{}, nil
	case 3:
	default:
		return Item{}, fmt.Errorf("gets %s: unexpected reply %q", key, lines)
	}
	f := strings.Fields(lines[0])
	if len(f) != 5 || f[0] != "VALUE" || f[1] != key {
		return Item{}, fmt.Errorf("gets %s: bad header %q", key, lines[0])
	}
	u, err := strconv.ParseUint(f[4], 10, 64)
	if err != nil {
		return Item{}, fmt.Errorf("gets %s: bad unique in %q", key, lines[0])
	}
	return Item{Found: true, Value: lines[1], Unique: u}, nil
}

// Store runs set, add, replace, append or prepend and returns the reply.
func (c *Conn) Store(op, key, value string) (string, error) {
	lines, err := c.roundTrip(fmt.Sprintf("%s %s 0 0 %d\r\n%s\r\n", op, key, len(value), value), false)
	if err != nil {
		return "", err
	}
	return lines[0], nil
}

// Cas stores value if the item's unique is still unique.
func (c *Conn) Cas(key, value string, unique uint64) (string, error) {
	lines, err := c.roundTrip(fmt.Sprintf("cas %s 0 0 %d %d\r\n%s\r\n", key, len(value), unique, value), false)
	if err != nil {
		return "", err
	}
	return lines[0], nil
}

// Simple runs a one-line command (incr, delete, version) and returns the
// reply line.
func (c *Conn) Simple(cmd string) (string, error) {
	lines, err := c.roundTrip(cmd+"\r\n", false)
	if err != nil {
		return "", err
	}
	return lines[0], nil
}

// Stats runs `stats <args>` and returns name -> value.
func (c *Conn) Stats(args string) (map[string]string, error) {
	cmd := "stats"
	if args != "" {
		cmd += " " + args
	}
	lines, err := c.roundTrip(cmd+"\r\n", true)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range lines {
		if f := strings.SplitN(l, " ", 3); len(f) == 3 && f[0] == "STAT" {
			out[f[1]] = f[2]
		}
	}
	return out, nil
}

// GetsMulti reads keys with one gets command; missing keys are absent
// from the result.
func (c *Conn) GetsMulti(keys []string) (map[string]Item, error) {
	lines, err := c.roundTrip("gets "+strings.Join(keys, " ")+"\r\n", true)
	if err != nil {
		return nil, err
	}
	out := map[string]Item{}
	for i := 0; i < len(lines)-1; i += 2 {
		f := strings.Fields(lines[i])
		if len(f) != 5 || f[0] != "VALUE" {
			return nil, fmt.Errorf("gets: bad header %q", lines[i])
		}
		u, err := strconv.ParseUint(f[4], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("gets: bad unique in %q", lines[i])
		}
		out[f[1]] = Item{Found: true, Value: lines[i+1], Unique: u}
	}
	if len(lines) == 0 || lines[len(lines)-1] != "END" || len(lines)%2 != 1 {
		return nil, fmt.Errorf("gets: unexpected reply of %d lines", len(lines))
	}
	return out, nil
}
