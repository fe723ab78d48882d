package peer

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/internal/field"
)

// echoName is a handler that writes the authenticated peer name and returns
// when the connection closes.
func echoName(conn net.Conn, from string) {
	_, _ = io.WriteString(conn, from+"\n")
	_, _ = io.Copy(io.Discard, conn)
}

// startAcceptor starts a transport for peer b of cluster c with the echo
// handler on ChannelHeartbeat.
func startAcceptor(t *testing.T, c testCluster, edit func(*TransportConfig)) (*Transport, *syncBuffer) {
	t.Helper()
	return startAcceptorWith(t, c, edit, echoName)
}

// startAcceptorWith is startAcceptor with handler h on ChannelHeartbeat.
func startAcceptorWith(t *testing.T, c testCluster, edit func(*TransportConfig), h func(net.Conn, string)) (*Transport, *syncBuffer) {
	t.Helper()
	log, buf := newTestLogger(t, "b")
	cfg := c.transportConfig("b")
	cfg.Logger = log
	if edit != nil {
		edit(&cfg)
	}
	tr, err := NewTransport(cfg)
	require.NoError(t, err)
	tr.Handle(ChannelHeartbeat, h)
	require.NoError(t, tr.Start())
	t.Cleanup(func() { _ = tr.Close() })
	return tr, buf
}

func TestTransport_DialAuthenticatesAndRoutesChannel(t *testing.T) {
	c := newTestCluster(t, "a", "b")
	startAcceptor(t, c, nil)
	a, err := NewTransport(c.transportConfig("a"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	conn, err := a.Dial(ctx, "b", ChannelHeartbeat)
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(waitLimit)))
	line := make([]byte, 2)
	_, err = io.ReadFull(conn, line)
	require.NoError(t, err)
	assert.Equal(t, "a\n", string(line), "handler got the dialer's authenticated name")
}

func TestTransport_DialRefused(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*TransportConfig) // applied to the dialer a
		channel Channel
		wantErr error
		wantLog string
	}{
		{name: "wrong secret", edit: func(c *TransportConfig) { c.Secret = "other" },
			channel: ChannelHeartbeat, wantErr: ErrAuth, wantLog: "wrong secret"},
		{name: "wrong cluster", edit: func(c *TransportConfig) { c.ClusterName = "prod" },
			channel: ChannelHeartbeat, wantErr: ErrClusterMismatch, wantLog: "cluster name prod != test"},
		{name: "wrong mode", edit: func(c *TransportConfig) { c.Mode = "eventual" },
			channel: ChannelHeartbeat, wantErr: ErrModeMismatch, wantLog: "mode eventual != linearizable"},
		{name: "unknown peer name", edit: func(c *TransportConfig) {
			c.Peers["mallory"] = c.Peers["a"]
			c.Self = "mallory"
		}, channel: ChannelHeartbeat, wantErr: ErrUnknownPeer, wantLog: "unknown peer name mallory"},
		{name: "unregistered channel", channel: ChannelRaft, wantErr: ErrUnknownChannel, wantLog: "unknown channel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCluster(t, "a", "b")
			_, logs := startAcceptor(t, c, nil)
			cfg := c.transportConfig("a")
			cfg.Peers = map[string]string{"a": c.addrs["a"], "b": c.addrs["b"]}
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			a, err := NewTransport(cfg)
			require.NoError(t, err)
			t.Cleanup(func() { _ = a.Close() })

			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			conn, err := a.Dial(ctx, "b", tt.channel)
			if conn != nil {
				_ = conn.Close()
			}
			require.ErrorIs(t, err, tt.wantErr)
			waitLog(t, logs, "peer handshake refused: "+tt.wantLog)
		})
	}
}

func TestTransport_RejectsBadHandshakeAndKeepsServing(t *testing.T) {
	frame := func(n uint32, body []byte) []byte {
		return append(binary.BigEndian.AppendUint32([]byte(handshakeMagic), n), body...)
	}
	tests := []struct {
		name    string
		send    []byte
		wantLog string
	}{
		{name: "garbage bytes", send: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), wantLog: "bad magic"},
		{name: "memcache command", send: []byte("get foo\r\n"), wantLog: "bad magic"},
		{name: "oversized hello", send: frame(1<<20, make([]byte, 4096)), wantLog: "hello too large"},
		{name: "malformed hello", send: frame(5, []byte("hello")), wantLog: "malformed hello"},
		{name: "silent client", send: nil, wantLog: "peer handshake failed"},
	}
	c := newTestCluster(t, "a", "b")
	b, logs := startAcceptor(t, c, func(cfg *TransportConfig) { cfg.HandshakeTimeout = 300 * time.Millisecond })
	a, err := NewTransport(c.transportConfig("a"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := net.DialTimeout("tcp", b.Addr().String(), waitLimit)
			require.NoError(t, err)
			defer func() { _ = raw.Close() }()
			_, err = raw.Write(tt.send)
			require.NoError(t, err)

			// The acceptor closes the connection, at the latest when the
			// handshake times out; reading must end well before our deadline.
			require.NoError(t, raw.SetReadDeadline(time.Now().Add(waitLimit)))
			_, err = io.Copy(io.Discard, raw)
			var ne net.Error
			if err != nil && assert.ErrorAs(t, err, &ne) {
				assert.False(t, ne.Timeout(), "acceptor kept the connection open")
			}
			waitLog(t, logs, tt.wantLog)

			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			conn, err := a.Dial(ctx, "b", ChannelHeartbeat)
			require.NoError(t, err, "listener still serves")
			_ = conn.Close()
		})
	}
}

func TestTransport_DialStopsWithContext(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		// stop runs once the silent acceptor has read the magic.
		stop func(cancel context.CancelFunc)
		want error
	}{
		{name: "deadline", timeout: 300 * time.Millisecond, stop: func(context.CancelFunc) {}, want: context.DeadlineExceeded},
		{name: "cancel", timeout: waitLimit, stop: func(cancel context.CancelFunc) { cancel() }, want: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			// The acceptor reads the magic, then never reads or answers.
			client, server := net.Pipe()
			done := make(chan struct{})
			go func() {
				defer close(done)
				var magic [len(handshakeMagic)]byte
				if _, err := io.ReadFull(server, magic[:]); err == nil {
					tt.stop(cancel)
				}
			}()
			t.Cleanup(func() {
				_ = server.Close()
				<-done
			})

			a, err := NewTransport(TransportConfig{ClusterName: "test", Mode: "m", Secret: "s", Self: "a",
				Peers: map[string]string{"a": "a:1", "b": "b:1"}, HandshakeTimeout: 2 * waitLimit,
				Dial: func(context.Context, string, string) (net.Conn, error) { return client, nil }})
			require.NoError(t, err)
			defer func() { _ = a.Close() }()

			start := time.Now()
			_, err = a.Dial(ctx, "b", ChannelHeartbeat)
			assert.ErrorIs(t, err, tt.want)
			assert.Less(t, time.Since(start), waitLimit, "dial returned long before the handshake timeout")
		})
	}
}

func TestTransport_Lifecycle(t *testing.T) {
	c := newTestCluster(t, "a", "b")
	tr, err := NewTransport(c.transportConfig("a"))
	require.NoError(t, err)
	assert.Nil(t, tr.Addr(), "no address before Start")

	tr.Handle(ChannelHeartbeat, echoName)
	assert.Panics(t, func() { tr.Handle(ChannelHeartbeat, echoName) }, "registering a channel twice")
	require.NoError(t, tr.Start())
	assert.Equal(t, c.addrs["a"], tr.Addr().String())
	assert.Error(t, tr.Start(), "second Start")
	assert.Panics(t, func() { tr.Handle(ChannelRaft, echoName) }, "Handle after Start")

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, err = tr.Dial(ctx, "zed", ChannelHeartbeat)
	assert.ErrorIs(t, err, ErrUnknownPeer)

	require.NoError(t, tr.Close())
	assert.NoError(t, tr.Close(), "second Close")
	_, err = tr.Dial(ctx, "b", ChannelHeartbeat)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, tr.Start(), ErrClosed)
}

func TestTransport_CloseWaitsForHandlers(t *testing.T) {
	c := newTestCluster(t, "a", "b")
	var started, finished atomic.Int64
	b, _ := startAcceptorWith(t, c, nil, func(conn net.Conn, from string) {
		started.Add(1)
		_, _ = io.Copy(io.Discard, conn)  // returns once Close closes conn
		time.Sleep(50 * time.Millisecond) // slow cleanup that Close must wait for
		finished.Add(1)
	})
	a, err := NewTransport(c.transportConfig("a"))
	require.NoError(t, err)
	defer func() { _ = a.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	conn, err := a.Dial(ctx, "b", ChannelHeartbeat)
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	require.Eventually(t, func() bool { return started.Load() == 1 }, waitLimit, pollEvery)

	require.NoError(t, b.Close())
	assert.Equal(t, int64(1), finished.Load(), "Close returned before the handler did")
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(waitLimit)))
	_, err = io.Copy(io.Discard, conn)
	assert.NoError(t, err, "dialer sees EOF once the acceptor closes")
}

func TestTransportConfig_Validate(t *testing.T) {
	base := func() TransportConfig {
		return TransportConfig{ClusterName: "c", Mode: "m", Secret: "s", Self: "a",
			Peers: map[string]string{"a": "127.0.0.1:1", "b": "127.0.0.1:2"}}
	}
	tests := []struct {
		name  string
		edit  func(*TransportConfig)
		field string
	}{
		{name: "empty cluster", edit: func(c *TransportConfig) { c.ClusterName = "" }, field: "ClusterName"},
		{name: "empty mode", edit: func(c *TransportConfig) { c.Mode = "" }, field: "Mode"},
		{name: "empty secret", edit: func(c *TransportConfig) { c.Secret = "" }, field: "Secret"},
		{name: "self not in peers", edit: func(c *TransportConfig) { c.Self = "z" }, field: "Self"},
		{name: "long name", edit: func(c *TransportConfig) { c.ClusterName = string(make([]byte, 256)) }, field: "ClusterName"},
		{name: "empty peer address", edit: func(c *TransportConfig) { c.Peers["b"] = "" }, field: "Peers"},
		{name: "long peer name", edit: func(c *TransportConfig) { c.Peers[strings.Repeat("p", 256)] = "127.0.0.1:3" }, field: "Peers name"},
		{name: "negative handshake timeout", edit: func(c *TransportConfig) { c.HandshakeTimeout = -1 }, field: "HandshakeTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.edit(&cfg)
			_, err := NewTransport(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.field)
		})
	}
	_, err := NewTransport(base())
	assert.NoError(t, err, "base config is valid")

	cfg := base()
	cfg.ClusterName, cfg.Secret = "", ""
	fields, rest := field.All(cfg.Validate())
	assert.Empty(t, rest)
	var got []string
	for _, f := range fields {
		got = append(got, f.Error())
	}
	assert.Equal(t, []string{
		"invalid peer config: ClusterName must not be empty",
		"invalid peer config: Secret must not be empty",
		"invalid peer config: HandshakeTimeout must be positive, got 0s",
	}, got, "Validate reports every field, as it is: only NewTransport defaults a zero HandshakeTimeout")
}
