package metrics

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// get returns the status and body of GET http://addr/path, or an error
// when nothing answers.
func get(addr, path string) (int, string, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, ln.Close())
	return port
}

// TestHTTPServer_SetAddr walks one server through the address changes a
// reload makes and checks after each where it answers.
func TestHTTPServer_SetAddr(t *testing.T) {
	m := New()
	h := NewHTTPServer(m.Registry(), false, nil)
	defer func() { require.NoError(t, h.Close()) }()
	port := freePort(t)

	var prev string
	for _, step := range []struct {
		name    string
		addr    string
		wantErr bool
		serving bool // answers at Addr() afterwards
		moved   bool // no longer answers at the previous address
	}{
		{name: "off at first", addr: "", serving: false},
		{name: "on", addr: "127.0.0.1:0", serving: true},
		{name: "the same address again does nothing", addr: "127.0.0.1:0", serving: true},
		{name: "to a fixed port", addr: "127.0.0.1:" + port, serving: true, moved: true},
		{name: "the same port on every interface frees it first", addr: "0.0.0.0:" + port, serving: true},
		{name: "an address without a port is refused, serving on", addr: "127.0.0.1", wantErr: true, serving: true},
		{name: "off", addr: "", serving: false, moved: true},
		{name: "on again", addr: "localhost:0", serving: true},
	} {
		t.Run(step.name, func(t *testing.T) {
			err := h.SetAddr(step.addr)
			if step.wantErr {
				assert.Error(t, err)
			} else {
				require.NoError(t, err)
			}
			addr := h.Addr()
			if !step.serving {
				assert.Empty(t, addr)
			} else {
				code, body, err := get(addr, "/metrics")
				require.NoError(t, err)
				assert.Equal(t, http.StatusOK, code)
				assert.Contains(t, body, "go_goroutines")
			}
			if step.moved && prev != "" && prev != addr {
				_, _, err := get(prev, "/metrics")
				assert.Error(t, err, "nothing answers at %s any more", prev)
			}
			prev = addr
		})
	}
	require.NoError(t, h.Close())
	assert.Error(t, h.SetAddr("127.0.0.1:0"), "a closed server stays closed")
	require.NoError(t, h.Close(), "Close twice")
}

// TestHTTPServer_Pprof checks that /debug/pprof/ follows SetPprof and that
// /metrics answers either way.
func TestHTTPServer_Pprof(t *testing.T) {
	h := NewHTTPServer(New().Registry(), true, nil)
	defer func() { require.NoError(t, h.Close()) }()
	require.NoError(t, h.SetAddr("127.0.0.1:0"))
	for _, tt := range []struct {
		on   bool
		path string
		want int
	}{
		{true, "/debug/pprof/", http.StatusOK},
		{true, "/debug/pprof/cmdline", http.StatusOK},
		{false, "/debug/pprof/", http.StatusNotFound},
		{false, "/debug/pprof/heap", http.StatusNotFound},
		{false, "/metrics", http.StatusOK},
	} {
		h.SetPprof(tt.on)
		code, body, err := get(h.Addr(), tt.path)
		require.NoError(t, err)
		assert.Equal(t, tt.want, code, "%s with pprof on=%v", tt.path, tt.on)
		if tt.want == http.StatusNotFound {
			assert.True(t, strings.Contains(body, "pprof = on"), "the refusal says how to turn it on")
		}
	}
}
