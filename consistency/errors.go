package consistency

import (
	"errors"
	"fmt"
	"strings"

	"github.com/memcons/memcons/kvcontroller"
)

// The failures a client can be told about apart from ErrUnavailable's
// general "not now": the controller turns each into its own reply line
// (controller/errors.go), and the error's full text goes to the log.
var (
	// ErrOutcomeUnknown reports a write that was sent toward the log and
	// may or may not take effect: its answer never came. Errors that wrap
	// it wrap ErrUnavailable too.
	ErrOutcomeUnknown = errors.New("outcome unknown")
	// ErrStopping reports a request this peer did not finish because it
	// is shutting down. Errors that wrap it wrap ErrUnavailable too.
	ErrStopping = errors.New("peer shutting down")
	// ErrReplica reports that this peer's replica failed or did not
	// answer; it is the store's kvcontroller.ErrBackend, which every
	// such store error wraps.
	ErrReplica = kvcontroller.ErrBackend
	// ErrKeyUnstorable reports a key the replica cannot hold once escaped
	// (kvcontroller.ErrKeyUnstorable); such errors wrap ErrReplica too.
	ErrKeyUnstorable = kvcontroller.ErrKeyUnstorable
)

// NoLeaderError reports a request that found no leader it could reach
// within the wait. errors.Is matches ErrUnavailable and the cause.
type NoLeaderError struct {
	// Leader is the leader this peer knows of but could not reach; empty
	// when none is elected.
	Leader string
	// Unreachable names the other peers this peer does not hear, in
	// config order; nil when it hears them all or cannot tell.
	Unreachable []string
	// NoQuorum reports that this peer hears fewer than a majority of the
	// peers, itself included, so no leader can be elected on its side.
	NoQuorum bool
	// Cause is the last failure seen while waiting.
	Cause error
}

// Error returns every detail, for the log.
func (e *NoLeaderError) Error() string {
	var b strings.Builder
	switch {
	case e.NoQuorum:
		b.WriteString("no quorum")
	case e.Leader != "":
		fmt.Fprintf(&b, "leader %s unreachable", e.Leader)
	default:
		b.WriteString("no leader elected")
	}
	if len(e.Unreachable) > 0 {
		fmt.Fprintf(&b, " (%s unreachable)", strings.Join(e.Unreachable, ", "))
	}
	if e.Cause != nil {
		fmt.Fprintf(&b, ": %v", e.Cause)
	}
	return b.String()
}

// Unwrap returns ErrUnavailable and the cause.
func (e *NoLeaderError) Unwrap() []error { return []error{ErrUnavailable, e.Cause} }

// Unreachable returns the peers up reports silent, in the order of peers,
// and whether those heard (self, which up must report, included) form a
// majority.
func Unreachable(peers []string, up func(name string) bool) (silent []string, quorum bool) {
	for _, p := range peers {
		if !up(p) {
			silent = append(silent, p)
		}
	}
	return silent, 2*(len(peers)-len(silent)) > len(peers)
}
