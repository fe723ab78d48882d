// Package consistency decides when a request may touch the store: the Mode
// interface, its implementations, the apply step shared by all of them, and
// the hybrid logical clock.
package consistency

import (
	"context"
	"errors"
	"fmt"
)

// ErrNonNumeric reports incr/decr on a value that is not a decimal number.
var ErrNonNumeric = errors.New("cannot increment or decrement non-numeric value")

// ErrUnavailable reports that the mode cannot serve the request now (no
// quorum, replica down); the controller answers SERVER_ERROR with the cause.
var ErrUnavailable = errors.New("unavailable")

// ErrDataDir reports state under a peer's data directory that the mode
// cannot use (a corrupt log, stable store or snapshot); the message names
// the file and what is wrong with it.
var ErrDataDir = errors.New("unusable data")

// ErrUnknownMode reports a mode name that is not one of the three.
var ErrUnknownMode = errors.New("unknown consistency mode")

// Mode executes requests under one consistency promise. Implementations are
// safe for concurrent use.
type Mode interface {
	// Do executes req and returns its result. A non-nil error means the
	// request failed as a whole; errors.Is(err, ErrNonNumeric) is a client
	// error, anything else a server error.
	Do(ctx context.Context, req *Request) (Result, error)
	// Kind returns which promise this mode keeps.
	Kind() Kind
	// Role returns this peer's role in the mode ("leader", "follower",
	// "peer", "catching up", ...).
	Role() string
	// Progress returns the mode's progress marker for status displays
	// (applied index, last sync).
	Progress() string
	// Close stops the mode's goroutines and waits for them.
	Close() error
}

// Starter is implemented by modes that need the peer port running before
// they can serve (joining the log, a first sync). The server calls Start
// after the peer layer is up and before the client port opens.
type Starter interface {
	Start(ctx context.Context) error
}

// Detail is one named fact a mode reports for `show` (leader, term, last
// sync, pending pushes, ...).
type Detail struct {
	Key   string
	Value string
}

// Reporter is implemented by modes with more to report than Role and
// Progress; the details travel in heartbeats and appear in `stats cluster`
// and `show`. Keys are short snake_case words.
type Reporter interface {
	Details() []Detail
}

// Kind names a consistency promise, chosen once for the whole cluster.
type Kind string

const (
	// Linearizable places every read and write in one cluster-wide order:
	// each operation appears to take effect at one instant between its
	// request and its response.
	Linearizable Kind = "linearizable"
	// Sequential places writes in one cluster-wide order and serves reads
	// from the local replica; a connection always sees its own writes.
	Sequential Kind = "sequential"
	// Eventual applies writes locally and acknowledges them at once; replicas
	// converge to last-writer-wins once peers can talk.
	Eventual Kind = "eventual"
)

// ParseKind returns the Kind named s.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case Linearizable, Sequential, Eventual:
		return k, nil
	}
	return "", fmt.Errorf("%w %q (want linearizable, sequential or eventual)", ErrUnknownMode, s)
}
