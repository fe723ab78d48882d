// Package consistency is the contract between the client port and the
// consistency modes: the Mode interface, Request and Result, and the pure
// apply step (ApplyWrite) and replica helpers every mode shares. The modes
// themselves are consistency/eventual and consistency/ordered.
package consistency

import (
	"context"
	"errors"
	"fmt"
)

// ErrNonNumeric reports incr/decr on a value that is not a decimal number.
var ErrNonNumeric = errors.New("cannot increment or decrement non-numeric value")

// ErrTooLarge reports a write whose item would exceed the size limit (an
// append past item_size_max, or an item the replica refused as too large).
var ErrTooLarge = errors.New("object too large")

// ErrUnavailable reports that the mode cannot serve the request now (no
// quorum, replica down); the controller answers SERVER_ERROR saying so
// (controller/errors.go) and logs the cause.
var ErrUnavailable = errors.New("unavailable")

// ErrDataDir reports state under a peer's data directory that the mode
// cannot use (a corrupt log, stable store or snapshot); the message names
// the file and what is wrong with it.
var ErrDataDir = errors.New("unusable data")

// ErrUnknownMode reports a mode name that is not one of the three. Its
// text is the config error line a user reads, so it has no package prefix.
var ErrUnknownMode = errors.New("unknown consistency mode")

// Mode executes requests under one consistency promise. Implementations are
// safe for concurrent use.
type Mode interface {
	// Do executes req and returns its result. A non-nil error means the
	// request failed as a whole; errors.Is(err, ErrNonNumeric) is a client
	// error, anything else a server error.
	Do(ctx context.Context, req *Request) (Result, error)
	// DoBatch executes reqs in order, as Do would one after another, and
	// sets outs[i] to the outcome of reqs[i] (len(outs) == len(reqs)). A
	// mode may propose, forward and confirm the requests of one batch
	// together; a request still sees the effect of every write before it.
	DoBatch(ctx context.Context, reqs []Request, outs []Outcome)
	// Kind returns which promise this mode keeps.
	Kind() Kind
	// Role returns this peer's role in the mode ("leader", "follower",
	// "peer", "catching up", ...).
	Role() string
	// Progress returns the mode's progress marker for status displays
	// (applied index, last sync).
	Progress() string
	// Details are what the mode reports beyond Role and Progress; they
	// travel in heartbeats and appear in `stats cluster` and `show`. Keys
	// are short snake_case words.
	Details() []Detail
	// Start joins the cluster (the log, a first sync); the server calls it
	// after the peer port is up and before the client port opens.
	Start(ctx context.Context) error
	// Close stops the mode's goroutines and waits for them.
	Close() error
}

// Executor is the part of a Mode that serves requests: what the client
// port needs.
type Executor interface {
	Do(ctx context.Context, req *Request) (Result, error)
	DoBatch(ctx context.Context, reqs []Request, outs []Outcome)
}

// Outcome is the answer to one request of a batch: its result, or the
// error Do would have returned.
type Outcome struct {
	Result Result
	Err    error
}

// DoEach runs a batch one request at a time through do: DoBatch for a mode
// that gains nothing from seeing the requests together.
func DoEach(ctx context.Context, do func(context.Context, *Request) (Result, error), reqs []Request, outs []Outcome) {
	for i := range reqs {
		outs[i].Result, outs[i].Err = do(ctx, &reqs[i])
	}
}

// Detail is one named fact a mode reports for `show` (leader, term, last
// sync, pending pushes, ...).
type Detail struct {
	Key   string
	Value string
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
