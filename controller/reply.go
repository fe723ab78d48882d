package controller

import (
	"bufio"
	"strconv"

	"github.com/memcons/memcons/consistency"
)

const crlf = "\r\n"

// statusLine returns the reply line memcached gives for a Result status
// other than StatusNone and StatusNumber.
func statusLine(s consistency.Status) (string, bool) {
	switch s {
	case consistency.StatusStored:
		return "STORED", true
	case consistency.StatusNotStored:
		return "NOT_STORED", true
	case consistency.StatusExists:
		return "EXISTS", true
	case consistency.StatusNotFound:
		return "NOT_FOUND", true
	case consistency.StatusDeleted:
		return "DELETED", true
	case consistency.StatusTouched:
		return "TOUCHED", true
	case consistency.StatusOK:
		return "OK", true
	}
	return "", false
}

// replyWriter formats replies into a connection's buffered writer, reusing
// one scratch buffer for the numbers of each VALUE line.
type replyWriter struct {
	w       *bufio.Writer
	scratch []byte
}

// line writes s and "\r\n".
func (rw *replyWriter) line(s string) {
	_, _ = rw.w.WriteString(s)
	_, _ = rw.w.WriteString(crlf)
}

// number writes n as an incr/decr reply.
func (rw *replyWriter) number(n uint64) {
	rw.scratch = strconv.AppendUint(rw.scratch[:0], n, 10)
	rw.scratch = append(rw.scratch, crlf...)
	_, _ = rw.w.Write(rw.scratch)
}

// value writes one retrieval hit: "VALUE <key> <flags> <bytes>[ <cas>]\r\n"
// then the data and "\r\n".
func (rw *replyWriter) value(it *consistency.Item, withCas bool) {
	b := append(rw.scratch[:0], "VALUE "...)
	b = append(b, it.Key...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(it.Flags), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(it.Value)), 10)
	if withCas {
		b = append(b, ' ')
		b = strconv.AppendUint(b, it.Unique(), 10)
	}
	b = append(b, crlf...)
	rw.scratch = b
	_, _ = rw.w.Write(b)
	_, _ = rw.w.Write(it.Value)
	_, _ = rw.w.WriteString(crlf)
}

// stat writes one "STAT <name> <value>" line.
func (rw *replyWriter) stat(name, value string) {
	b := append(rw.scratch[:0], "STAT "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, value...)
	b = append(b, crlf...)
	rw.scratch = b
	_, _ = rw.w.Write(b)
}

// meta writes a meta reply line b and "\r\n"; b is kept as the scratch
// buffer, which it was built in.
func (rw *replyWriter) meta(b []byte) {
	b = append(b, crlf...)
	rw.scratch = b
	_, _ = rw.w.Write(b)
}

// data writes a data block and its "\r\n".
func (rw *replyWriter) data(v []byte) {
	_, _ = rw.w.Write(v)
	_, _ = rw.w.WriteString(crlf)
}
