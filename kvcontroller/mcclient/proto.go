package mcclient

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// opKind is the memcached command a pipelined call sends.
type opKind uint8

const (
	opGet opKind = iota
	opGetMulti
	opSet
	opDelete
)

func (o opKind) String() string {
	switch o {
	case opGet, opGetMulti:
		return "get"
	case opSet:
		return "set"
	case opDelete:
		return "delete"
	}
	return "op" + strconv.Itoa(int(o))
}

// reply is what memcached answered to one pipelined call.
type reply struct {
	// value is the value of a get hit, owned by the receiver.
	value []byte
	// values maps keys to values for a multi-get.
	values map[string][]byte
	// miss reports a get miss or a delete of a missing key.
	miss bool
	// err is a refusal of this call alone (memcached stays in step), such
	// as a too-large item; it wraps ErrTooLarge or ErrServer.
	err error
}

// writeRequest encodes the request of c into w. Keys are already checked
// by LegalKey.
func writeRequest(w *bufio.Writer, c *call) error {
	b := w.AvailableBuffer()
	switch c.op {
	case opGet:
		b = append(b, "get "...)
		b = append(b, c.key...)
	case opGetMulti:
		b = append(b, "get"...)
		for _, k := range c.keys {
			b = append(b, ' ')
			b = append(b, k...)
		}
	case opDelete:
		b = append(b, "delete "...)
		b = append(b, c.key...)
	case opSet:
		b = append(b, "set "...)
		b = append(b, c.key...)
		b = append(b, " 0 "...)
		b = strconv.AppendInt(b, int64(c.exptime), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(len(c.value)), 10)
		b = append(b, "\r\n"...)
		if _, err := w.Write(b); err != nil {
			return err
		}
		if _, err := w.Write(c.value); err != nil {
			return err
		}
		_, err := w.WriteString("\r\n")
		return err
	default:
		return fmt.Errorf("%w: unknown op %v", ErrProtocol, c.op)
	}
	b = append(b, "\r\n"...)
	_, err := w.Write(b)
	return err
}

// readReply reads the reply to c from r. An error means the connection is
// out of step or broken; refusals of c alone are in reply.err.
//
// What memcached 1.6 answers, and how each answer is taken:
//
//	get:    VALUE <key> <flags> <bytes>[ <cas>] blocks, then END
//	set:    STORED; SERVER_ERROR object too large for cache (ErrTooLarge)
//	        or out of memory storing object (ErrServer), the value swallowed
//	delete: DELETED; NOT_FOUND (a miss)
//
// A SERVER_ERROR to a get (out of memory writing get response) may follow
// VALUE blocks already sent, so it closes the connection like ERROR and
// CLIENT_ERROR (which mean memcached did not parse what was sent) and any
// other line (ErrProtocol).
func readReply(r *bufio.Reader, c *call) (reply, error) {
	switch c.op {
	case opGet, opGetMulti:
		return readGetReply(r, c)
	case opSet:
		return readStatusReply(r, "STORED\r\n", "")
	case opDelete:
		return readStatusReply(r, "DELETED\r\n", "NOT_FOUND\r\n")
	}
	return reply{}, fmt.Errorf("%w: unknown op %v", ErrProtocol, c.op)
}

// readStatusReply reads a one-line reply: ok, miss (if not empty), or a
// SERVER_ERROR, after which memcached has consumed the request and stays in
// step. Anything else is a protocol error.
func readStatusReply(r *bufio.Reader, ok, miss string) (reply, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return reply{}, fmt.Errorf("read reply: %w", err)
	}
	switch {
	case string(line) == ok:
		return reply{}, nil
	case miss != "" && string(line) == miss:
		return reply{miss: true}, nil
	}
	if err := serverError(line); err != nil {
		return reply{err: err}, nil
	}
	return reply{}, unexpected(line)
}

// tooLarge starts the message memcached gives when an item exceeds its
// item size limit (-I), whatever its free memory: "SERVER_ERROR object too
// large for cache" (proto_text.c; the meta protocol uses the same words).
const tooLarge = "object too large"

// serverError returns the error of a SERVER_ERROR line (ErrTooLarge or
// ErrServer), or nil if line is not one ending in "\r\n".
func serverError(line []byte) error {
	msg, ok := bytes.CutPrefix(line, []byte("SERVER_ERROR "))
	msg, crlf := bytes.CutSuffix(msg, []byte("\r\n"))
	switch {
	case !ok || !crlf:
		return nil
	case bytes.HasPrefix(msg, []byte(tooLarge)):
		return fmt.Errorf("%w: SERVER_ERROR %s", ErrTooLarge, clip(msg))
	}
	return fmt.Errorf("%w: %s", ErrServer, clip(msg))
}

// unexpected returns the error for a reply line that does not answer the
// request: ErrServer for a SERVER_ERROR (of any kind: too large only means
// something as the answer to a set), ErrProtocol for anything else.
func unexpected(line []byte) error {
	if msg, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("SERVER_ERROR ")); ok {
		return fmt.Errorf("%w: %s", ErrServer, clip(msg))
	}
	return fmt.Errorf("%w: unexpected reply %q", ErrProtocol, clip(bytes.TrimRight(line, "\r\n")))
}

// readGetReply reads VALUE blocks up to END. A single get accepts only its
// own key; a multi-get collects every value by key.
func readGetReply(r *bufio.Reader, c *call) (reply, error) {
	var rep reply
	if c.op == opGet {
		rep.miss = true
	}
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return reply{}, fmt.Errorf("read reply: %w", err)
		}
		if string(line) == "END\r\n" {
			return rep, nil
		}
		key, n, err := parseValueLine(line)
		if err != nil {
			return reply{}, err
		}
		// key aliases r's buffer: use it before reading the value.
		var owned string
		switch {
		case c.op == opGetMulti:
			owned = string(key)
		case string(key) != c.key || !rep.miss:
			return reply{}, fmt.Errorf("%w: VALUE for %q answering get %q", ErrProtocol, clip(key), clip([]byte(c.key)))
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return reply{}, fmt.Errorf("read value: %w", err)
		}
		if !bytes.HasSuffix(buf, []byte("\r\n")) {
			return reply{}, fmt.Errorf("%w: value of %d bytes not followed by CRLF", ErrProtocol, n)
		}
		v := buf[:n:n]
		if c.op == opGetMulti {
			if rep.values == nil {
				rep.values = make(map[string][]byte, len(c.keys))
			}
			rep.values[owned] = v
		} else {
			rep.value, rep.miss = v, false
		}
	}
}

// parseValueLine parses `VALUE <key> <flags> <bytes>[ <cas>]\r\n`; key
// aliases line.
func parseValueLine(line []byte) (key []byte, n int, err error) {
	rest, ok := bytes.CutPrefix(line, []byte("VALUE "))
	if !ok {
		return nil, 0, unexpected(line)
	}
	rest, ok = bytes.CutSuffix(rest, []byte("\r\n"))
	key, rest, ok2 := bytes.Cut(rest, []byte(" "))
	_, rest, ok3 := bytes.Cut(rest, []byte(" ")) // flags: always 0 here
	size, _, _ := bytes.Cut(rest, []byte(" "))
	n, okN := parseLen(size)
	if !ok || !ok2 || !ok3 || !okN || !legalKey(key) {
		return nil, 0, fmt.Errorf("%w: bad VALUE line %q", ErrProtocol, clip(bytes.TrimRight(line, "\r\n")))
	}
	return key, n, nil
}

// parseLen parses a non-negative decimal length of at most 1 GiB.
func parseLen(b []byte) (int, bool) {
	const maxLen = 1 << 30
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= maxLen
}

// clip shortens protocol text quoted in error messages.
func clip(b []byte) []byte {
	const maxQuoted = 64
	if len(b) > maxQuoted {
		return b[:maxQuoted]
	}
	return b
}
