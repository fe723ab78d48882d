package peer

import "errors"

// ErrAuth means the other side did not prove knowledge of the cluster secret.
var ErrAuth = errors.New("wrong secret")

// ErrClusterMismatch means the other side belongs to a different cluster.
var ErrClusterMismatch = errors.New("cluster name mismatch")

// ErrModeMismatch means the other side runs a different consistency mode.
var ErrModeMismatch = errors.New("mode mismatch")

// ErrUnknownPeer means a peer name is not in the configured peer list.
var ErrUnknownPeer = errors.New("unknown peer name")

// ErrUnknownChannel means no handler is registered for the requested channel.
var ErrUnknownChannel = errors.New("unknown channel")

// ErrBadHandshake means the handshake bytes did not follow the protocol.
var ErrBadHandshake = errors.New("bad handshake")

// ErrFrameTooLarge means a length-prefixed message exceeded its size bound.
var ErrFrameTooLarge = errors.New("frame too large")

// ErrClosed means the transport or membership has been closed.
var ErrClosed = errors.New("peer layer closed")

// ErrInvalidConfig means a configuration field broke a rule; the wrapping
// message names the field.
var ErrInvalidConfig = errors.New("invalid peer config")
