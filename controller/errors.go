package controller

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/memcons/memcons/consistency"
)

// ProtocolError is a client mistake in the text protocol. It is answered with
// Reply (unless the command asked for noreply) and the connection stays
// usable, or, when Close is set, the connection is closed without a reply.
// IO errors are never ProtocolErrors: they close the connection.
type ProtocolError struct {
	Reply string // the reply line without "\r\n"
	Close bool   // close the connection instead of replying
}

// Error returns the reply line.
func (e *ProtocolError) Error() string {
	if e.Close {
		return e.Reply
	}
	return e.Reply
}

// The protocol errors, each worded exactly as memcached 1.6 words it.
var (
	// ErrUnknownCommand is an unknown command or a wrong number of tokens.
	ErrUnknownCommand = &ProtocolError{Reply: "ERROR"}
	// ErrBadFormat is a bad key or a bad number on a command line.
	ErrBadFormat = &ProtocolError{Reply: "CLIENT_ERROR bad command line format"}
	// ErrBadDataChunk is a data block not followed by "\r\n".
	ErrBadDataChunk = &ProtocolError{Reply: "CLIENT_ERROR bad data chunk"}
	// ErrObjectTooLarge is a data block over the item size limit; the block is
	// swallowed.
	ErrObjectTooLarge = &ProtocolError{Reply: "SERVER_ERROR object too large for cache"}
	// ErrBadExptime is an exptime (touch, gat, flush_all) that is not a number.
	ErrBadExptime = &ProtocolError{Reply: "CLIENT_ERROR invalid exptime argument"}
	// ErrBadDelta is an incr/decr amount that is not an unsigned 64-bit number.
	ErrBadDelta = &ProtocolError{Reply: "CLIENT_ERROR invalid numeric delta argument"}
	// ErrDeleteUsage is a delete with arguments memcached no longer accepts.
	ErrDeleteUsage = &ProtocolError{Reply: "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"}
	// ErrLineTooLong is a command line without a newline past the line limit;
	// memcached closes such connections.
	ErrLineTooLong = &ProtocolError{Reply: "line too long", Close: true}
	// ErrHTTP is an HTTP request line; memcached closes such connections.
	ErrHTTP = &ProtocolError{Reply: "HTTP request on memcached port", Close: true}
)

// replyNonNumeric is memcached's answer to incr/decr of a non-number.
const replyNonNumeric = "CLIENT_ERROR cannot increment or decrement non-numeric value"

// replyOutOfMemory is memcached's answer when an item cannot be stored.
const replyOutOfMemory = "SERVER_ERROR out of memory storing object"

// The SERVER_ERROR lines for failures of the cluster, each saying what
// happened and what to do; the error's detail goes to the log.
const (
	replyNoQuorum        = "SERVER_ERROR no leader: cluster has no quorum"
	replyLeaderUnreached = "SERVER_ERROR no leader reachable: retry or use another peer"
	replyNoLeader        = "SERVER_ERROR no leader: election in progress, retry"
	replyOutcomeUnknown  = "SERVER_ERROR timeout: outcome unknown"
	replyStopping        = "SERVER_ERROR shutting down: use another peer"
	replyReplica         = "SERVER_ERROR replica unavailable"
	replyKeyUnstorable   = "SERVER_ERROR key too long for the replica once escaped"
	replyTimeout         = "SERVER_ERROR timeout: retry"
	replyUnavailable     = "SERVER_ERROR unavailable: retry later"
	replyInternal        = "SERVER_ERROR internal error: see the peer's log"
)

// errorReply is the one place that turns an error from parsing or from the
// Mode into the memcached reply line (without "\r\n"). closeConn reports a
// protocol error that closes the connection instead of replying. It never
// copies the error's text: that is for the log (see conn.fail).
func errorReply(err error) (line string, closeConn bool) {
	var pe *ProtocolError
	var nl *consistency.NoLeaderError
	switch {
	case errors.As(err, &pe):
		return pe.Reply, pe.Close
	case errors.Is(err, consistency.ErrNonNumeric):
		return replyNonNumeric, false
	case errors.Is(err, consistency.ErrTooLarge):
		return replyOutOfMemory, false
	case errors.As(err, &nl):
		return noLeaderReply(nl), false
	case errors.Is(err, consistency.ErrOutcomeUnknown):
		return replyOutcomeUnknown, false
	case errors.Is(err, consistency.ErrStopping), errors.Is(err, context.Canceled):
		// The server cancels its requests' context only when it closes.
		return replyStopping, false
	case errors.Is(err, consistency.ErrKeyUnstorable):
		return replyKeyUnstorable, false
	case errors.Is(err, consistency.ErrReplica):
		return replyReplica, false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return replyTimeout, false
	case errors.Is(err, consistency.ErrUnavailable):
		return replyUnavailable, false
	}
	return replyInternal, false
}

// noLeaderReply words a NoLeaderError: "SERVER_ERROR no leader: cluster
// has no quorum (peer2, peer3 unreachable)".
func noLeaderReply(e *consistency.NoLeaderError) string {
	switch {
	case e.NoQuorum && len(e.Unreachable) > 0:
		return replyNoQuorum + " (" + strings.Join(e.Unreachable, ", ") + " unreachable)"
	case e.NoQuorum:
		return replyNoQuorum
	case e.Leader != "":
		return replyLeaderUnreached
	}
	return replyNoLeader
}

// oneLine makes s safe to send as the rest of a reply line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }), " ")
}

// isErrorReply reports whether a reply line counts as an error.
func isErrorReply(line string) bool {
	return strings.HasPrefix(line, "ERROR") || strings.HasPrefix(line, "CLIENT_ERROR") || strings.HasPrefix(line, "SERVER_ERROR")
}
