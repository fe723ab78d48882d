package ordered_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// errServer is a SERVER_ERROR or other failure reply from a peer.
var errServer = errors.New("server error")

// textClient is a minimal memcached text-protocol client on one connection,
// so tests control exactly which peer and connection each command uses.
type textClient struct {
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration
}

func dialText(addr string, timeout time.Duration) (*textClient, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &textClient{conn: c, r: bufio.NewReader(c), timeout: timeout}, nil
}

func (c *textClient) Close() error { return c.conn.Close() }

// roundTrip sends one command and reads its reply up to the line that
// ends it (END for retrievals, else the first line).
func (c *textClient) roundTrip(cmd string, retrieval bool) ([]string, error) {
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
			return lines, fmt.Errorf("%w: %s", errServer, line)
		}
		lines = append(lines, line)
		if !retrieval || line == "END" {
			return lines, nil
		}
	}
}

// gets returns the value and cas unique of key; found is false on a miss.
func (c *textClient) gets(key string) (value string, cas uint64, found bool, err error) {
	lines, err := c.roundTrip("gets "+key+"\r\n", true)
	if err != nil {
		return "", 0, false, err
	}
	if len(lines) == 1 {
		return "", 0, false, nil
	}
	if len(lines) != 3 {
		return "", 0, false, fmt.Errorf("gets %s: unexpected reply %q", key, lines)
	}
	f := strings.Fields(lines[0])
	if len(f) != 5 {
		return "", 0, false, fmt.Errorf("gets %s: bad header %q", key, lines[0])
	}
	cas, err = strconv.ParseUint(f[4], 10, 64)
	return lines[1], cas, true, err
}

// store runs set/add/replace/append/prepend and returns the reply line.
func (c *textClient) store(op, key, value string) (string, error) {
	lines, err := c.roundTrip(fmt.Sprintf("%s %s 0 0 %d\r\n%s\r\n", op, key, len(value), value), false)
	if err != nil {
		return "", err
	}
	return lines[0], nil
}

func (c *textClient) cas(key, value string, unique uint64) (string, error) {
	lines, err := c.roundTrip(fmt.Sprintf("cas %s 0 0 %d %d\r\n%s\r\n", key, len(value), unique, value), false)
	if err != nil {
		return "", err
	}
	return lines[0], nil
}

// simple runs a one-line command (incr, delete, ...) and returns the reply.
func (c *textClient) simple(cmd string) (string, error) {
	lines, err := c.roundTrip(cmd+"\r\n", false)
	if err != nil {
		return "", err
	}
	return lines[0], nil
}
