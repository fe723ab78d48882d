package controller

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/internal/memcachedtest"
)

// assertServing checks that a fresh connection still gets answers.
func assertServing(t *testing.T, addr string) {
	t.Helper()
	c := dial(t, addr)
	r := bufio.NewReader(c)
	assert.Equal(t, "STORED\r\n", roundTrip(t, c, r, "set alive 0 0 2\r\nok\r\n", isLine("STORED")))
	assert.Equal(t, "VALUE alive 0 2\r\nok\r\nEND\r\n", roundTrip(t, c, r, "get alive\r\n", isLine("END")))
}

// TestBadInput_Garbage sends seeded random bytes: every connection ends with
// replies or a clean close, and the server keeps serving.
func TestBadInput_Garbage(t *testing.T) {
	_, addr := startServer(t, Config{}, nil, Options{}, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		garbage := make([]byte, 1+rng.IntN(8192))
		for j := range garbage {
			garbage[j] = byte(rng.UintN(256))
			if i%2 == 0 && rng.IntN(20) == 0 {
				garbage[j] = '\n' // many short lines
			}
		}
		c := dial(t, addr)
		// The garbage may make the server close early (a line too long),
		// so write errors are expected; then half-close so the server sees
		// EOF after the garbage.
		<-sendAll(c, garbage)
		_ = c.(*net.TCPConn).CloseWrite()
		out, closed, err := readUntil(c, nil)
		require.NoError(t, err)
		assert.True(t, closed)
		for _, line := range strings.SplitAfter(string(out), "\r\n") {
			if line == "" {
				continue
			}
			// Garbage may well contain "get k" and the like, so any
			// memcached reply may appear; it must be a whole line.
			assert.True(t, strings.HasSuffix(line, "\r\n"), "partial reply line %q", line)
		}
	}
	assertServing(t, addr)
}

// TestBadInput_HugeLength checks a set announcing about 2 GB: as in
// memcached, 2147483648 wraps to a negative length (bad format, the
// connection stays usable) and 2000000000 is too large, its data swallowed
// until the client gives up.
func TestBadInput_HugeLength(t *testing.T) {
	targets := map[string]func(t *testing.T) string{
		"memcons": func(t *testing.T) string {
			_, addr := startServer(t, Config{}, nil, Options{}, nil)
			return addr
		},
		"memcached": func(t *testing.T) string { return memcachedtest.Start(t) },
	}
	for name, start := range targets {
		t.Run(name, func(t *testing.T) {
			addr := start(t)
			c := dial(t, addr)
			r := bufio.NewReader(c)
			assert.Equal(t, "CLIENT_ERROR bad command line format\r\nEND\r\n",
				roundTrip(t, c, r, "set k 0 0 2147483648\r\nget k\r\n", isLine("END")))

			c2 := dial(t, addr)
			_, err := io.WriteString(c2, "set k 0 0 2000000000\r\n"+strings.Repeat("x", 1<<20))
			require.NoError(t, err)
			require.NoError(t, c2.Close())
			assertServing(t, addr)
		})
	}
}

func TestBadInput_LongLines(t *testing.T) {
	_, addr := startServer(t, Config{MaxLineLength: 40000}, nil, Options{}, nil)
	keys := strings.Repeat(" somekey", 2500) // 20000 bytes: past the read buffer
	tests := []struct {
		name   string
		send   string
		want   string
		closes bool
	}{
		{"long get line works", "get" + keys + "\r\n", "END\r\n", false},
		{"long gets line works", "gets" + keys + "\r\n", "END\r\n", false},
		{"get line past the limit", "get" + keys + keys + "\r\n", "", true},
		{"other line without newline", "set " + strings.Repeat("x", 2100), "", true},
		{"no newline at all", strings.Repeat("x", 30000), "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			sent := sendAll(c, []byte(tc.send))
			var out []byte
			var closed bool
			var err error
			if tc.closes {
				out, closed, err = readUntil(c, nil)
			} else {
				out, closed, err = readUntil(c, []byte(tc.want))
				require.NoError(t, <-sent)
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(out))
			assert.Equal(t, tc.closes, closed)
		})
	}
	assertServing(t, addr)
}

func TestBadInput_DisconnectMidValue(t *testing.T) {
	srv, addr := startServer(t, Config{}, nil, Options{}, nil)
	for _, partial := range []string{"set k 0 0 100\r\nabc", "set k 0 0 3\r\nabc\r", "set k 0 0 3\r\n", "set k 0 0"} {
		c := dial(t, addr)
		_, err := io.WriteString(c, partial)
		require.NoError(t, err)
		require.NoError(t, c.Close())
	}
	waitFor(t, "connections to close", func() bool { return srv.counters.currConns.Load() == 0 })
	c := dial(t, addr)
	assert.Equal(t, "END\r\n", roundTrip(t, c, bufio.NewReader(c), "get k\r\n", isLine("END")), "nothing half-stored")
	assertServing(t, addr)
}

// TestBadInput_ThousandConnections opens 1,000 connections at once against
// a limit of 900: 900 are served, the rest get memcached's refusal.
func TestBadInput_ThousandConnections(t *testing.T) {
	const total, limit = 1000, 900
	srv, addr := startServer(t, Config{MaxConns: limit}, nil, Options{}, nil)
	conns := make([]net.Conn, total)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", addr, ioTimeout)
			if err == nil {
				conns[i] = c
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	})
	var mu sync.Mutex
	served, refused := 0, 0
	for _, c := range conns {
		require.NotNil(t, c, "dial failed")
		wg.Go(func() {
			_ = c.SetDeadline(time.Now().Add(ioTimeout))
			_, _ = io.WriteString(c, "version\r\n")
			line, err := bufio.NewReader(c).ReadString('\n')
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && line == "VERSION "+DefaultVersion+"\r\n":
				served++
			case err == nil && line == "ERROR Too many open connections\r\n":
				refused++
			default:
				t.Errorf("unexpected answer %q, %v", line, err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, limit, served)
	assert.Equal(t, total-limit, refused)
	assert.EqualValues(t, total-limit, srv.counters.rejectedConns.Load())
	for _, c := range conns {
		_ = c.Close()
	}
	waitFor(t, "every connection to go", func() bool { return srv.counters.currConns.Load() == 0 })
	assertServing(t, addr)
}

func TestBadInput_LineOverSmallLimit(t *testing.T) {
	_, addr := startServer(t, Config{MaxLineLength: 512}, nil, Options{}, nil)
	long := "get" + strings.Repeat(" k", 300) + "\r\n"
	for name, send := range map[string]string{
		"first line":             long,
		"behind a short command": "get a\r\n" + long,
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, addr)
			<-sendAll(c, []byte(send))
			out, closed, err := readUntil(c, nil)
			require.NoError(t, err)
			assert.True(t, closed)
			assert.Equal(t, strings.Repeat("END\r\n", strings.Count(send, "\n")-1), string(out))
		})
	}
	assertServing(t, addr)
}

// TestBadInput_ValueTooLargeKeepsPipeline checks that a refused value is
// swallowed exactly: the command after it, in the same write, is answered.
func TestBadInput_ValueTooLargeKeepsPipeline(t *testing.T) {
	_, addr := startServer(t, Config{ItemSizeMax: 2048}, nil, Options{}, nil)
	c := dial(t, addr)
	big := bytes.Repeat([]byte("\n"), 5000) // newlines inside must not count as commands
	req := append([]byte("set k 0 0 5000\r\n"), big...)
	req = append(req, "\r\nget k\r\n"...)
	sent := sendAll(c, req)
	out, _, err := readUntil(c, []byte("END\r\n"))
	require.NoError(t, err)
	require.NoError(t, <-sent)
	assert.Equal(t, "SERVER_ERROR object too large for cache\r\nEND\r\n", string(out))
}
