package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

const (
	maxReplyLine = 64 << 10 // longest reply line accepted
	maxBlock     = 1 << 30  // largest data block accepted (memcached's -I limit)
)

// item is one VALUE of a get-like reply.
type item struct {
	key    string
	flags  uint32
	cas    uint64
	hasCas bool
	data   []byte
}

// stat is one STAT line: the value is the rest of the line after the name.
type stat struct {
	name, value string
}

// response is one reply, read according to its replyKind.
type response struct {
	lines  []string // every line as received (data blocks too), without line ends
	status string   // the line that ended the reply: END, STORED, an error line, ...
	items  []item   // VALUE blocks
	stats  []stat   // STAT lines
}

// failed reports whether the server answered with an error line.
func (r response) failed() bool { return isErrorLine(r.status) }

// isErrorLine reports whether l is ERROR, CLIENT_ERROR ... or SERVER_ERROR ....
func isErrorLine(l string) bool {
	return l == "ERROR" || l == "CLIENT_ERROR" || l == "SERVER_ERROR" ||
		strings.HasPrefix(l, "ERROR ") ||
		strings.HasPrefix(l, "CLIENT_ERROR ") || strings.HasPrefix(l, "SERVER_ERROR ")
}

// readResponse reads one reply of the given kind from r.
func readResponse(r *bufio.Reader, kind replyKind) (response, error) {
	var resp response
	if kind == replyNone {
		return resp, nil
	}
	for {
		line, err := readLine(r)
		if err != nil {
			return resp, err
		}
		if kind == replyMeta && line == "MN" {
			if resp.status == "" {
				resp.status = line
			}
			return resp, nil
		}
		resp.lines = append(resp.lines, line)
		if kind != replyMeta || resp.status == "" || !isErrorLine(resp.status) {
			resp.status = line
		}
		done, err := resp.take(r, kind, line)
		if err != nil || done {
			return resp, err
		}
	}
}

// take handles one line of a reply of the given kind and reports whether
// the reply is complete.
func (resp *response) take(r *bufio.Reader, kind replyKind, line string) (bool, error) {
	if isErrorLine(line) && kind != replyMeta {
		return true, nil
	}
	switch kind {
	case replyLine, replyMeta:
		if strings.HasPrefix(line, "VA ") {
			fields := strings.Fields(line)
			if len(fields) < 2 {
				return true, fmt.Errorf("%w: unexpected line %q", ErrProtocol, line)
			}
			data, err := readBlock(r, fields[1])
			if err != nil {
				return true, err
			}
			resp.lines = append(resp.lines, string(data))
		}
		return kind == replyLine, nil
	case replyValues:
		if line == "END" {
			return true, nil
		}
		it, err := parseValueLine(line)
		if err != nil {
			return true, err
		}
		data, err := readBlock(r, strings.Fields(line)[3])
		if err != nil {
			return true, err
		}
		it.data = data
		resp.items = append(resp.items, it)
		resp.lines = append(resp.lines, string(data))
		return false, nil
	case replyStats:
		if line == "END" || line == "RESET" || line == "OK" {
			return true, nil
		}
		if rest, ok := strings.CutPrefix(line, "STAT "); ok {
			name, value, _ := strings.Cut(rest, " ")
			resp.stats = append(resp.stats, stat{name: name, value: value})
		}
		return false, nil
	case replyDump:
		return line == "END" || strings.HasPrefix(line, "BUSY"), nil
	}
	return true, nil
}

// readLine reads one line and strips its \r\n (or \n).
func readLine(r *bufio.Reader) (string, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		switch {
		case err == nil:
			return string(bytes.TrimSuffix(bytes.TrimSuffix(buf, []byte("\n")), []byte("\r"))), nil
		case errors.Is(err, bufio.ErrBufferFull) && len(buf) <= maxReplyLine:
			continue
		case errors.Is(err, bufio.ErrBufferFull):
			return "", fmt.Errorf("%w: reply line longer than %d bytes", ErrProtocol, maxReplyLine)
		case errors.Is(err, io.EOF) && len(buf) > 0:
			return "", fmt.Errorf("read reply: %w", io.ErrUnexpectedEOF)
		default:
			return "", fmt.Errorf("read reply: %w", err)
		}
	}
}

// readBlock reads a data block of the announced size and its \r\n.
func readBlock(r *bufio.Reader, size string) ([]byte, error) {
	n, err := strconv.Atoi(size)
	if err != nil || n < 0 || n > maxBlock {
		return nil, fmt.Errorf("%w: bad data block size %q", ErrProtocol, size)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("read data block: %w", err)
	}
	if !bytes.HasSuffix(buf, []byte("\r\n")) {
		return nil, fmt.Errorf("%w: data block does not end with \\r\\n", ErrProtocol)
	}
	return buf[:n], nil
}

// parseValueLine parses "VALUE <key> <flags> <bytes> [<cas>]" (the data
// block is read by the caller).
func parseValueLine(line string) (item, error) {
	fields := strings.Fields(line)
	if len(fields) < 4 || len(fields) > 5 || fields[0] != "VALUE" {
		return item{}, fmt.Errorf("%w: unexpected line %q", ErrProtocol, line)
	}
	flags, err := strconv.ParseUint(fields[2], 10, 32)
	if err != nil {
		return item{}, fmt.Errorf("%w: bad flags in %q", ErrProtocol, line)
	}
	it := item{key: fields[1], flags: uint32(flags)}
	if len(fields) == 5 {
		if it.cas, err = strconv.ParseUint(fields[4], 10, 64); err != nil {
			return item{}, fmt.Errorf("%w: bad cas unique in %q", ErrProtocol, line)
		}
		it.hasCas = true
	}
	return it, nil
}
