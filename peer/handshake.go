package peer

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
)

// The handshake, after the dialer's 4-byte magic, is four frames:
//
//	dialer   → acceptor  hello:     channel, nonceD, cluster, mode, dialer name
//	acceptor → dialer    challenge: ok, nonceA, MAC(acceptor) | refusal code
//	dialer   → acceptor  response:  ok, MAC(dialer) | codeAuth
//	acceptor → dialer    verdict:   ok | refusal code
//
// Each MAC is HMAC-SHA256 with the cluster secret over a role label, both
// nonces, cluster name, mode, the prover's own name and the channel. The
// dialer only sends its MAC after it verified the acceptor's, so a stranger
// posing as a peer learns nothing it could relay to a real one.

const (
	// handshakeMagic opens every peer connection; it rejects stray clients
	// (a memcache client or an HTTP probe) before any frame is parsed.
	handshakeMagic = "MCP1"
	// maxHandshakeFrame bounds every handshake message.
	maxHandshakeFrame = 1024
	// nonceLen is the size of each side's random challenge.
	nonceLen = 32
	// macLen is the size of an HMAC-SHA256.
	macLen = sha256.Size
	// maxNameLen bounds cluster, mode and peer names (one length byte each).
	maxNameLen = 255

	roleDialer   = "memcons peer v1 dialer"
	roleAcceptor = "memcons peer v1 acceptor"
)

// Status codes carried in the first byte of challenge, response and verdict.
const (
	codeOK byte = iota
	codeAuth
	codeCluster
	codeMode
	codeUnknownPeer
	codeUnknownChannel
	codeBadHandshake
)

// codeErr maps a refusal code to its sentinel.
func codeErr(code byte) error {
	switch code {
	case codeAuth:
		return ErrAuth
	case codeCluster:
		return ErrClusterMismatch
	case codeMode:
		return ErrModeMismatch
	case codeUnknownPeer:
		return ErrUnknownPeer
	case codeUnknownChannel:
		return ErrUnknownChannel
	default:
		return ErrBadHandshake
	}
}

// refusal is the acceptor's reason for turning a connection away; its text
// is what the acceptor logs.
type refusal struct {
	code   byte
	reason string
}

func (r *refusal) Error() string { return r.reason }
func (r *refusal) Unwrap() error { return codeErr(r.code) }

// hello is the dialer's first message.
type hello struct {
	Channel Channel
	Nonce   []byte
	Cluster string
	Mode    string
	Name    string
}

// handshakeParams is what one side brings to a handshake.
type handshakeParams struct {
	Cluster string
	Mode    string
	Self    string
	Secret  []byte
}

func encodeHello(h hello) []byte {
	var b bytes.Buffer
	b.WriteByte(byte(h.Channel))
	b.Write(h.Nonce)
	for _, s := range []string{h.Cluster, h.Mode, h.Name} {
		b.WriteByte(byte(len(s)))
		b.WriteString(s)
	}
	return b.Bytes()
}

func decodeHello(p []byte) (hello, error) {
	if len(p) < 1+nonceLen {
		return hello{}, fmt.Errorf("hello of %d bytes is too short", len(p))
	}
	h := hello{Channel: Channel(p[0]), Nonce: p[1 : 1+nonceLen]}
	rest := p[1+nonceLen:]
	fields := []*string{&h.Cluster, &h.Mode, &h.Name}
	for i, f := range fields {
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return hello{}, fmt.Errorf("hello field %d is truncated", i)
		}
		n := int(rest[0])
		*f = string(rest[1 : 1+n])
		rest = rest[1+n:]
	}
	if len(rest) != 0 {
		return hello{}, fmt.Errorf("hello has %d trailing bytes", len(rest))
	}
	return h, nil
}

// handshakeMAC is one side's proof that it knows the cluster secret.
func handshakeMAC(secret []byte, role string, nonceD, nonceA []byte, cluster, mode, name string, ch Channel) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(role))
	m.Write(nonceD)
	m.Write(nonceA)
	for _, s := range []string{cluster, mode, name} {
		m.Write([]byte{byte(len(s))})
		m.Write([]byte(s))
	}
	m.Write([]byte{byte(ch)})
	return m.Sum(nil)
}

func newNonce() ([]byte, error) {
	n := make([]byte, nonceLen)
	if _, err := rand.Read(n); err != nil {
		return nil, fmt.Errorf("read random nonce: %w", err)
	}
	return n, nil
}

// dialHandshake runs the dialer's side against the peer named peer.
func dialHandshake(rw io.ReadWriter, p handshakeParams, peer string, ch Channel) error {
	nonceD, err := newNonce()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(rw, handshakeMagic); err != nil {
		return fmt.Errorf("send magic: %w", err)
	}
	h := hello{Channel: ch, Nonce: nonceD, Cluster: p.Cluster, Mode: p.Mode, Name: p.Self}
	if err := writeFrame(rw, encodeHello(h), maxHandshakeFrame); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}

	challenge, err := readFrame(rw, maxHandshakeFrame)
	if err != nil {
		return fmt.Errorf("read challenge: %w", err)
	}
	if len(challenge) == 0 {
		return fmt.Errorf("empty challenge: %w", ErrBadHandshake)
	}
	if challenge[0] != codeOK {
		return fmt.Errorf("refused: %w", codeErr(challenge[0]))
	}
	if len(challenge) != 1+nonceLen+macLen {
		return fmt.Errorf("challenge of %d bytes: %w", len(challenge), ErrBadHandshake)
	}
	nonceA := challenge[1 : 1+nonceLen]
	want := handshakeMAC(p.Secret, roleAcceptor, nonceD, nonceA, p.Cluster, p.Mode, peer, ch)
	if !hmac.Equal(want, challenge[1+nonceLen:]) {
		// Tell the acceptor why, so its log says so, then give up.
		_ = writeFrame(rw, []byte{codeAuth}, maxHandshakeFrame)
		return fmt.Errorf("peer did not prove the cluster secret: %w", ErrAuth)
	}

	proof := handshakeMAC(p.Secret, roleDialer, nonceD, nonceA, p.Cluster, p.Mode, p.Self, ch)
	if err := writeFrame(rw, append([]byte{codeOK}, proof...), maxHandshakeFrame); err != nil {
		return fmt.Errorf("send proof: %w", err)
	}
	verdict, err := readFrame(rw, maxHandshakeFrame)
	if err != nil {
		return fmt.Errorf("read verdict: %w", err)
	}
	if len(verdict) != 1 {
		return fmt.Errorf("verdict of %d bytes: %w", len(verdict), ErrBadHandshake)
	}
	if verdict[0] != codeOK {
		return fmt.Errorf("refused: %w", codeErr(verdict[0]))
	}
	return nil
}

// acceptHandshake runs the acceptor's side. known reports whether a peer name
// is configured; hasChannel whether a handler is registered. A *refusal error
// has already been sent to the dialer; other errors are IO failures.
func acceptHandshake(rw io.ReadWriter, p handshakeParams, known func(string) bool, hasChannel func(Channel) bool) (hello, error) {
	refuse := func(code byte, format string, args ...any) (hello, error) {
		_ = writeFrame(rw, []byte{code}, maxHandshakeFrame)
		return hello{}, &refusal{code: code, reason: fmt.Sprintf(format, args...)}
	}

	var magic [len(handshakeMagic)]byte
	if _, err := io.ReadFull(rw, magic[:]); err != nil {
		return hello{}, fmt.Errorf("read magic: %w", err)
	}
	if magic[0] == tlsRecordHandshake {
		return refuse(codeBadHandshake, "TLS connection on a plain peer port (the dialing peer has cluster.peer_tls = on, this peer has it off)")
	}
	if string(magic[:]) != handshakeMagic {
		return refuse(codeBadHandshake, "bad magic %q", magic[:])
	}
	payload, err := readFrame(rw, maxHandshakeFrame)
	if errors.Is(err, ErrFrameTooLarge) {
		return refuse(codeBadHandshake, "hello too large: %v", err)
	}
	if err != nil {
		return hello{}, fmt.Errorf("read hello: %w", err)
	}
	h, err := decodeHello(payload)
	if err != nil {
		return refuse(codeBadHandshake, "malformed hello: %v", err)
	}
	if h.Cluster != p.Cluster {
		return refuse(codeCluster, "cluster name %s != %s", h.Cluster, p.Cluster)
	}
	if h.Mode != p.Mode {
		return refuse(codeMode, "mode %s != %s", h.Mode, p.Mode)
	}
	if !known(h.Name) {
		return refuse(codeUnknownPeer, "unknown peer name %s", h.Name)
	}

	nonceA, err := newNonce()
	if err != nil {
		return hello{}, err
	}
	proof := handshakeMAC(p.Secret, roleAcceptor, h.Nonce, nonceA, p.Cluster, p.Mode, p.Self, h.Channel)
	challenge := append(append([]byte{codeOK}, nonceA...), proof...)
	if err := writeFrame(rw, challenge, maxHandshakeFrame); err != nil {
		return hello{}, fmt.Errorf("send challenge: %w", err)
	}

	resp, err := readFrame(rw, maxHandshakeFrame)
	if err != nil {
		return hello{}, fmt.Errorf("read proof from %q: %w", h.Name, err)
	}
	switch {
	case len(resp) == 1 && resp[0] == codeAuth:
		return hello{}, &refusal{code: codeAuth, reason: fmt.Sprintf("wrong secret: peer %s could not verify our proof", h.Name)}
	case len(resp) != 1+macLen || resp[0] != codeOK:
		return refuse(codeBadHandshake, "malformed proof of %d bytes from %s", len(resp), h.Name)
	}
	want := handshakeMAC(p.Secret, roleDialer, h.Nonce, nonceA, h.Cluster, h.Mode, h.Name, h.Channel)
	if !hmac.Equal(want, resp[1:]) {
		return refuse(codeAuth, "wrong secret from peer %s", h.Name)
	}
	if !hasChannel(h.Channel) {
		return refuse(codeUnknownChannel, "unknown channel %q from peer %s", byte(h.Channel), h.Name)
	}
	if err := writeFrame(rw, []byte{codeOK}, maxHandshakeFrame); err != nil {
		return hello{}, fmt.Errorf("send verdict: %w", err)
	}
	return h, nil
}
