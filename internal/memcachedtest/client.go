package memcachedtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// ErrReply is an ERROR, CLIENT_ERROR or SERVER_ERROR reply: the server
// refused the command, and the connection stays usable.
var ErrReply = errors.New("error reply")

// ErrProtocol is a reply that breaks the protocol's framing; the
// connection is out of step and must be closed.
var ErrProtocol = errors.New("protocol error")

// Item is one VALUE block of a retrieval reply.
type Item struct {
	Found bool // false for a miss; every other field is then zero
	Key   string
	Flags uint32
	Value string // the block's bytes exactly, "\r\n" included if the value holds it
	Cas   uint64 // the unique that gets and gats show; 0 for get and gat
}

// Reply is one reply, read by the protocol's framing.
type Reply struct {
	// Line is the line that ends the reply, without "\r\n": END, STORED,
	// DELETED, a number, VERSION 1.6.21, SERVER_ERROR ...
	Line  string
	Items []Item   // get, gets, gat, gats: the VALUE blocks, in order
	Stats []string // stats: the STAT lines, without "\r\n"
	Raw   string   // every byte of the reply, as received
}

// Client is a memcached text-protocol client on one connection, for tests
// that control which connection sends what, or that check replies byte
// for byte. It sends each request as given and reads its reply by the
// protocol's framing: a VALUE block by its byte count (so values holding
// "\r\n" come back whole), STAT lines up to END, any other reply as one
// line. One request at a time; it is not safe for concurrent use. After
// an error other than ErrReply the connection is out of step (a late
// reply would answer the next request): close it.
type Client struct {
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration
}

// Dial connects to addr; timeout bounds the dial and each later request.
func Dial(addr string, timeout time.Duration) (*Client, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &Client{conn: c, r: bufio.NewReader(c), timeout: timeout}, nil
}

// SetTimeout sets the bound of each later request.
func (c *Client) SetTimeout(d time.Duration) { c.timeout = d }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Do sends req, one request (a command line and, for a storage command,
// its data block, each ending in "\r\n" unless the test means otherwise),
// and reads the reply to its command line. A command ending in noreply
// gets no reply: Do then returns the zero Reply at once. An error reply
// comes back in the Reply as well as in an error wrapping ErrReply.
func (c *Client) Do(req string) (Reply, error) {
	if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return Reply{}, err
	}
	if _, err := io.WriteString(c.conn, req); err != nil {
		return Reply{}, err
	}
	cmd, _, _ := strings.Cut(req, "\n")
	return readReply(c.r, strings.TrimSuffix(cmd, "\r"))
}

// Get reads key with get; a miss is the zero Item.
func (c *Client) Get(key string) (Item, error) { return c.one("get", key) }

// Gets reads key and its cas unique with gets; a miss is the zero Item.
func (c *Client) Gets(key string) (Item, error) { return c.one("gets", key) }

func (c *Client) one(verb, key string) (Item, error) {
	r, err := c.Do(verb + " " + key + "\r\n")
	if err != nil {
		return Item{}, err
	}
	switch {
	case len(r.Items) == 0:
		return Item{}, nil
	case len(r.Items) > 1 || r.Items[0].Key != key:
		return Item{}, fmt.Errorf("%w: %s %s answered %q", ErrProtocol, verb, key, r.Raw)
	}
	return r.Items[0], nil
}

// GetsMulti reads keys with one gets command; missing keys are absent from
// the result.
func (c *Client) GetsMulti(keys []string) (map[string]Item, error) {
	r, err := c.Do("gets " + strings.Join(keys, " ") + "\r\n")
	if err != nil {
		return nil, err
	}
	out := make(map[string]Item, len(r.Items))
	for _, it := range r.Items {
		out[it.Key] = it
	}
	return out, nil
}

// Store runs set, add, replace, append or prepend with flags and exptime 0
// and returns the reply line.
func (c *Client) Store(op, key, value string) (string, error) {
	r, err := c.Do(fmt.Sprintf("%s %s 0 0 %d\r\n%s\r\n", op, key, len(value), value))
	return r.Line, err
}

// Cas stores value under key, flags and exptime 0, if the item's cas
// unique is still unique, and returns the reply line.
func (c *Client) Cas(key, value string, unique uint64) (string, error) {
	r, err := c.Do(fmt.Sprintf("cas %s 0 0 %d %d\r\n%s\r\n", key, len(value), unique, value))
	return r.Line, err
}

// Simple runs a one-line command (incr, delete, touch, version,
// flush_all, ...) and returns the reply line.
func (c *Client) Simple(cmd string) (string, error) {
	r, err := c.Do(cmd + "\r\n")
	return r.Line, err
}

// Stats runs "stats <args>" ("stats" when args is empty) and returns
// name -> value.
func (c *Client) Stats(args string) (map[string]string, error) {
	cmd := "stats"
	if args != "" {
		cmd += " " + args
	}
	r, err := c.Do(cmd + "\r\n")
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(r.Stats))
	for _, l := range r.Stats {
		name, value, _ := strings.Cut(strings.TrimPrefix(l, "STAT "), " ")
		out[name] = value
	}
	return out, nil
}

// framing is how the reply to a command is delimited.
type framing int

const (
	oneLine   framing = iota // one line
	values                   // VALUE blocks, then END
	statLines                // STAT lines, then END
	none                     // noreply: nothing
)

// framingOf returns the framing of the reply to the command line cmd.
func framingOf(cmd string) framing {
	f := strings.Fields(cmd)
	if len(f) == 0 {
		return oneLine
	}
	switch f[0] {
	case "get", "gets", "gat", "gats":
		return values // their last word is a key, even "noreply"
	case "stats":
		if len(f) == 2 && f[1] == "reset" || len(f) == 3 && f[1] == "detail" && f[2] != "dump" {
			return oneLine // RESET; detail on/off answer OK
		}
		return statLines
	}
	if f[len(f)-1] == "noreply" {
		return none
	}
	return oneLine
}

// readReply reads from r the reply to the command line cmd.
func readReply(r *bufio.Reader, cmd string) (rep Reply, err error) {
	fr := framingOf(cmd)
	if fr == none {
		return Reply{}, nil
	}
	var raw strings.Builder
	defer func() { rep.Raw = raw.String() }()
	for {
		line, err := r.ReadString('\n')
		raw.WriteString(line)
		if err != nil {
			return rep, fmt.Errorf("reply to %q: %w", cmd, err)
		}
		text, ok := strings.CutSuffix(line, "\r\n")
		if !ok {
			return rep, fmt.Errorf("%w: reply line %q does not end in \\r\\n", ErrProtocol, line)
		}
		if text == "ERROR" || strings.HasPrefix(text, "CLIENT_ERROR") || strings.HasPrefix(text, "SERVER_ERROR") {
			rep.Line = text
			return rep, fmt.Errorf("%w: %s", ErrReply, text)
		}
		switch {
		case fr == oneLine || text == "END":
			rep.Line = text
			return rep, nil
		case fr == values && strings.HasPrefix(text, "VALUE "):
			it, err := readValue(r, text, &raw)
			if err != nil {
				return rep, err
			}
			rep.Items = append(rep.Items, it)
		case fr == statLines && strings.HasPrefix(text, "STAT "):
			rep.Stats = append(rep.Stats, text)
		default:
			return rep, fmt.Errorf("%w: unexpected line %q in the reply to %q", ErrProtocol, text, cmd)
		}
	}
}

// readValue reads the data block that the header "VALUE <key> <flags>
// <bytes> [<cas>]" announces, copying it to raw.
func readValue(r *bufio.Reader, header string, raw *strings.Builder) (Item, error) {
	f := strings.Fields(header)
	if len(f) != 4 && len(f) != 5 {
		return Item{}, fmt.Errorf("%w: bad VALUE line %q", ErrProtocol, header)
	}
	flags, err1 := strconv.ParseUint(f[2], 10, 32)
	n, err2 := strconv.Atoi(f[3])
	var unique uint64
	var err3 error
	if len(f) == 5 {
		unique, err3 = strconv.ParseUint(f[4], 10, 64)
	}
	if err := errors.Join(err1, err2, err3); err != nil || n < 0 {
		return Item{}, fmt.Errorf("%w: bad VALUE line %q", ErrProtocol, header)
	}
	block := make([]byte, n+2)
	k, err := io.ReadFull(r, block)
	raw.Write(block[:k])
	if err != nil {
		return Item{}, fmt.Errorf("value of %s: %w", f[1], err)
	}
	if string(block[n:]) != "\r\n" {
		return Item{}, fmt.Errorf("%w: value of %s is not %d bytes and \\r\\n", ErrProtocol, f[1], n)
	}
	return Item{Found: true, Key: f[1], Flags: uint32(flags), Value: string(block[:n]), Cas: unique}, nil
}
