package peer

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testParams = handshakeParams{Cluster: "test", Mode: "eventual", Self: "b", Secret: []byte("s3cret")}

func TestHello_DecodeRejectsMalformed(t *testing.T) {
	good := encodeHello(hello{Channel: ChannelSync, Nonce: make([]byte, nonceLen), Cluster: "c", Mode: "m", Name: "n"})
	tests := []struct {
		name  string
		input []byte
	}{
		{name: "empty", input: nil},
		{name: "short nonce", input: good[:10]},
		{name: "missing fields", input: good[:1+nonceLen]},
		{name: "field longer than rest", input: append(append([]byte{}, good[:1+nonceLen]...), 9, 'x')},
		{name: "trailing bytes", input: append(append([]byte{}, good...), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeHello(tt.input)
			assert.Error(t, err)
		})
	}
	h, err := decodeHello(good)
	require.NoError(t, err)
	assert.Equal(t, hello{Channel: ChannelSync, Nonce: make([]byte, nonceLen), Cluster: "c", Mode: "m", Name: "n"}, h)
}

func FuzzDecodeHello(f *testing.F) {
	f.Add(encodeHello(hello{Channel: ChannelRaft, Nonce: make([]byte, nonceLen), Cluster: "c", Mode: "m", Name: "a"}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		h, err := decodeHello(p)
		if err != nil {
			return
		}
		assert.Equal(t, p, encodeHello(h), "a decoded hello re-encodes to the same bytes")
	})
}

// runAcceptor runs acceptHandshake for peers a and b over one end of a pipe.
func runAcceptor(t *testing.T, conn net.Conn) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		defer func() { _ = conn.Close() }()
		_, err := acceptHandshake(conn, testParams,
			func(n string) bool { return n == "a" || n == "b" },
			func(ch Channel) bool { return ch == ChannelHeartbeat })
		done <- err
	}()
	return done
}

// TestAcceptHandshake_RejectsForgedProof plays a dialer that skips checking
// the acceptor's proof and answers with a forged one.
func TestAcceptHandshake_RejectsForgedProof(t *testing.T) {
	client, server := net.Pipe()
	defer func() { _ = client.Close() }()
	require.NoError(t, client.SetDeadline(time.Now().Add(waitLimit)))
	done := runAcceptor(t, server)

	_, err := io.WriteString(client, handshakeMagic)
	require.NoError(t, err)
	h := hello{Channel: ChannelHeartbeat, Nonce: make([]byte, nonceLen), Cluster: "test", Mode: "eventual", Name: "a"}
	require.NoError(t, writeFrame(client, encodeHello(h), maxHandshakeFrame))
	challenge, err := readFrame(client, maxHandshakeFrame)
	require.NoError(t, err)
	require.Len(t, challenge, 1+nonceLen+macLen)
	require.NoError(t, writeFrame(client, append([]byte{codeOK}, make([]byte, macLen)...), maxHandshakeFrame))

	verdict, err := readFrame(client, maxHandshakeFrame)
	require.NoError(t, err)
	assert.Equal(t, []byte{codeAuth}, verdict)
	err = <-done
	assert.ErrorIs(t, err, ErrAuth)
	assert.Contains(t, err.Error(), "wrong secret")
}

// TestAcceptHandshake_ReplayedProofFails replays a proof from one handshake
// into another: the acceptor's fresh nonce makes it worthless.
func TestAcceptHandshake_ReplayedProofFails(t *testing.T) {
	dialer := testParams
	dialer.Self = "a"
	nonceD := bytes.Repeat([]byte{7}, nonceLen)
	h := hello{Channel: ChannelHeartbeat, Nonce: nonceD, Cluster: "test", Mode: "eventual", Name: "a"}

	var lastProof []byte
	for round := range 2 {
		client, server := net.Pipe()
		require.NoError(t, client.SetDeadline(time.Now().Add(waitLimit)))
		done := runAcceptor(t, server)
		_, err := io.WriteString(client, handshakeMagic)
		require.NoError(t, err)
		require.NoError(t, writeFrame(client, encodeHello(h), maxHandshakeFrame))
		challenge, err := readFrame(client, maxHandshakeFrame)
		require.NoError(t, err)
		require.Len(t, challenge, 1+nonceLen+macLen)
		proof := lastProof
		if round == 0 {
			nonceA := challenge[1 : 1+nonceLen]
			proof = handshakeMAC(dialer.Secret, roleDialer, nonceD, nonceA, "test", "eventual", "a", ChannelHeartbeat)
			lastProof = proof
		}
		require.NoError(t, writeFrame(client, append([]byte{codeOK}, proof...), maxHandshakeFrame))
		verdict, err := readFrame(client, maxHandshakeFrame)
		require.NoError(t, err)
		if round == 0 {
			assert.Equal(t, []byte{codeOK}, verdict, "fresh proof accepted")
			assert.NoError(t, <-done)
		} else {
			assert.Equal(t, []byte{codeAuth}, verdict, "replayed proof refused")
			assert.ErrorIs(t, <-done, ErrAuth)
		}
		_ = client.Close()
	}
}

func TestHandshake_DialerAndAcceptorAgree(t *testing.T) {
	client, server := net.Pipe()
	defer func() { _ = client.Close() }()
	require.NoError(t, client.SetDeadline(time.Now().Add(waitLimit)))
	done := runAcceptor(t, server)
	dialer := testParams
	dialer.Self = "a"
	require.NoError(t, dialHandshake(client, dialer, "b", ChannelHeartbeat))
	assert.NoError(t, <-done)
}
