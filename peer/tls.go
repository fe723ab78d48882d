package peer

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
)

// tlsRecordHandshake is the first byte of every TLS connection (a
// handshake record carrying the ClientHello).
const tlsRecordHandshake = 0x16

// acceptTLS looks at the first byte of an accepted connection: a TLS
// ClientHello gets the mutual TLS handshake, a plain peer's magic is
// refused with a reason that names the setting that differs.
func (t *Transport) acceptTLS(c net.Conn) (net.Conn, error) {
	br := bufio.NewReaderSize(c, 512)
	first, err := br.Peek(1)
	if err != nil {
		return nil, fmt.Errorf("read first byte: %w", err)
	}
	if first[0] != tlsRecordHandshake {
		if p, _ := br.Peek(len(handshakeMagic)); string(p) == handshakeMagic {
			return nil, &refusal{code: codeBadHandshake,
				reason: "plain connection on a TLS peer port (this peer has cluster.peer_tls = on, the dialing peer has it off)"}
		}
		return nil, &refusal{code: codeBadHandshake, reason: fmt.Sprintf("not a TLS handshake (first byte %#02x)", first[0])}
	}
	tc := tls.Server(&bufferedConn{Conn: c, r: br}, t.cfg.TLS.PeerServerConfig())
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	return tc, nil
}

// bufferedConn is a net.Conn whose reads come through r, which has
// already buffered the connection's first bytes.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }
