package memcachedtest

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadReply_Framing(t *testing.T) {
	tests := []struct {
		name    string
		cmd     string
		in      string // what the server sent
		want    Reply  // Raw is checked against the bytes read
		wantErr error  // errors.Is target; nil for success
		left    string // what must stay unread
	}{
		{name: "value holding CRLF", cmd: "gets k",
			in:   "VALUE k 5 6 42\r\na\r\nb\r\n\r\nEND\r\n",
			want: Reply{Line: "END", Items: []Item{{Found: true, Key: "k", Flags: 5, Value: "a\r\nb\r\n", Cas: 42}}}},
		{name: "value that looks like END", cmd: "get k",
			in:   "VALUE k 0 5\r\nEND\r\n\r\nEND\r\n",
			want: Reply{Line: "END", Items: []Item{{Found: true, Key: "k", Value: "END\r\n"}}}},
		{name: "empty value", cmd: "get k", in: "VALUE k 0 0\r\n\r\nEND\r\n",
			want: Reply{Line: "END", Items: []Item{{Found: true, Key: "k"}}}},
		{name: "miss", cmd: "gets k", in: "END\r\n", want: Reply{Line: "END"}},
		{name: "multi-get in order", cmd: "get b a c",
			in:   "VALUE b 0 1\r\n2\r\nVALUE a 0 1\r\n1\r\nEND\r\n",
			want: Reply{Line: "END", Items: []Item{{Found: true, Key: "b", Value: "2"}, {Found: true, Key: "a", Value: "1"}}}},
		{name: "gat", cmd: "gats 10 k", in: "VALUE k 0 1 7\r\nv\r\nEND\r\n",
			want: Reply{Line: "END", Items: []Item{{Found: true, Key: "k", Value: "v", Cas: 7}}}},
		{name: "a key named noreply is read", cmd: "get noreply", in: "END\r\n", want: Reply{Line: "END"}},
		{name: "one line", cmd: "set k 0 0 1", in: "STORED\r\nEND\r\n", want: Reply{Line: "STORED"}, left: "END\r\n"},
		{name: "number", cmd: "incr k 1", in: "11\r\n", want: Reply{Line: "11"}},
		{name: "stats", cmd: "stats cluster", in: "STAT self a\r\nSTAT mode x y\r\nEND\r\n",
			want: Reply{Line: "END", Stats: []string{"STAT self a", "STAT mode x y"}}},
		{name: "noreply reads nothing", cmd: "set k 0 0 1 noreply", in: "STORED\r\n", left: "STORED\r\n"},
		{name: "ERROR", cmd: "bogus", in: "ERROR\r\n", want: Reply{Line: "ERROR"}, wantErr: ErrReply},
		{name: "CLIENT_ERROR", cmd: "set k 0 0 x", in: "CLIENT_ERROR bad data chunk\r\n",
			want: Reply{Line: "CLIENT_ERROR bad data chunk"}, wantErr: ErrReply},
		{name: "SERVER_ERROR after a value", cmd: "get a b",
			in:      "VALUE a 0 1\r\n1\r\nSERVER_ERROR no quorum\r\n",
			want:    Reply{Line: "SERVER_ERROR no quorum", Items: []Item{{Found: true, Key: "a", Value: "1"}}},
			wantErr: ErrReply},
		{name: "stats reset", cmd: "stats reset", in: "RESET\r\nEND\r\n", want: Reply{Line: "RESET"}, left: "END\r\n"},
		{name: "SERVER_ERROR to stats", cmd: "stats", in: "SERVER_ERROR busy\r\n",
			want: Reply{Line: "SERVER_ERROR busy"}, wantErr: ErrReply},
		{name: "bare LF", cmd: "version", in: "VERSION 1\n", wantErr: ErrProtocol},
		{name: "block without CRLF", cmd: "get k", in: "VALUE k 0 1\r\nvvvEND\r\n",
			want: Reply{}, wantErr: ErrProtocol, left: "END\r\n"},
		{name: "bad byte count", cmd: "get k", in: "VALUE k 0 -1\r\nEND\r\n", wantErr: ErrProtocol, left: "END\r\n"},
		{name: "bad flags", cmd: "get k", in: "VALUE k x 1\r\nv\r\nEND\r\n", wantErr: ErrProtocol, left: "v\r\nEND\r\n"},
		{name: "STORED to a get", cmd: "get k", in: "STORED\r\n", wantErr: ErrProtocol},
		{name: "VALUE in stats", cmd: "stats", in: "VALUE k 0 1\r\nv\r\nEND\r\n", wantErr: ErrProtocol, left: "v\r\nEND\r\n"},
		{name: "short block", cmd: "get k", in: "VALUE k 0 4\r\nab", wantErr: io.ErrUnexpectedEOF},
		{name: "no END", cmd: "get k", in: "VALUE k 0 1\r\nv\r\n", wantErr: io.EOF,
			want: Reply{Items: []Item{{Found: true, Key: "k", Value: "v"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tt.in))
			got, err := readReply(r, tt.cmd)
			if tt.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.wantErr)
			}
			rest, _ := io.ReadAll(r)
			assert.Equal(t, tt.left, string(rest), "left unread")
			assert.Equal(t, tt.in[:len(tt.in)-len(rest)], got.Raw, "Raw is every byte read")
			got.Raw = ""
			if tt.wantErr != ErrProtocol {
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

// TestClient_AgainstMemcached runs the client's requests against a real
// memcached, each on a connection that earlier requests used.
func TestClient_AgainstMemcached(t *testing.T) {
	c, err := Dial(Start(t), 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })

	tests := []struct {
		name  string
		check func(t *testing.T, c *Client)
	}{
		{"value holding CRLF", func(t *testing.T, c *Client) {
			v := "line 1\r\nEND\r\n\r\n"
			reply, err := c.Store("set", "crlf", v)
			require.NoError(t, err)
			require.Equal(t, "STORED", reply)
			it, err := c.Gets("crlf")
			require.NoError(t, err)
			assert.Equal(t, v, it.Value)
			assert.True(t, it.Found)
			assert.NotZero(t, it.Cas)
			r, err := c.Do("get crlf\r\n")
			require.NoError(t, err)
			assert.Equal(t, "VALUE crlf 0 15\r\n"+v+"\r\nEND\r\n", r.Raw, "byte for byte")
		}},
		{"flags and empty value", func(t *testing.T, c *Client) {
			r, err := c.Do("set empty 4294967295 0 0\r\n\r\n")
			require.NoError(t, err)
			require.Equal(t, "STORED", r.Line)
			it, err := c.Get("empty")
			require.NoError(t, err)
			assert.Equal(t, Item{Found: true, Key: "empty", Flags: 4294967295}, it)
		}},
		{"miss", func(t *testing.T, c *Client) {
			it, err := c.Gets("never-set")
			require.NoError(t, err)
			assert.Equal(t, Item{}, it)
		}},
		{"multi-get", func(t *testing.T, c *Client) {
			for _, k := range []string{"m1", "m2"} {
				_, err := c.Store("set", k, "v-"+k)
				require.NoError(t, err)
			}
			got, err := c.GetsMulti([]string{"m2", "absent", "m1"})
			require.NoError(t, err)
			require.Len(t, got, 2)
			assert.Equal(t, "v-m1", got["m1"].Value)
			assert.Equal(t, "v-m2", got["m2"].Value)
			r, err := c.Do("get m2 absent m1\r\n")
			require.NoError(t, err)
			require.Len(t, r.Items, 2)
			assert.Equal(t, []string{"m2", "m1"}, []string{r.Items[0].Key, r.Items[1].Key}, "in the order asked")
		}},
		{"cas", func(t *testing.T, c *Client) {
			_, err := c.Store("set", "c", "1")
			require.NoError(t, err)
			it, err := c.Gets("c")
			require.NoError(t, err)
			reply, err := c.Cas("c", "2", it.Cas)
			require.NoError(t, err)
			assert.Equal(t, "STORED", reply)
			reply, err = c.Cas("c", "3", it.Cas)
			require.NoError(t, err)
			assert.Equal(t, "EXISTS", reply)
		}},
		{"error replies keep the connection", func(t *testing.T, c *Client) {
			reply, err := c.Simple("bogus")
			require.ErrorIs(t, err, ErrReply)
			assert.Equal(t, "ERROR", reply)
			_, err = c.Store("set", "text", "abc")
			require.NoError(t, err)
			reply, err = c.Simple("incr text 1")
			require.ErrorIs(t, err, ErrReply)
			assert.True(t, strings.HasPrefix(reply, "CLIENT_ERROR"), reply)
			reply, err = c.Simple("version")
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(reply, "VERSION "), reply)
		}},
		{"noreply", func(t *testing.T, c *Client) {
			r, err := c.Do("set quiet 0 0 1 noreply\r\nq\r\n")
			require.NoError(t, err)
			assert.Equal(t, Reply{}, r)
			it, err := c.Get("quiet")
			require.NoError(t, err)
			assert.Equal(t, "q", it.Value, "the next reply answers the next request")
			_, err = c.Do("delete quiet noreply\r\n")
			require.NoError(t, err)
			it, err = c.Get("quiet")
			require.NoError(t, err)
			assert.False(t, it.Found)
		}},
		{"stats", func(t *testing.T, c *Client) {
			st, err := c.Stats("")
			require.NoError(t, err)
			assert.NotEmpty(t, st["pid"])
			assert.NotEmpty(t, st["version"])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, c) })
	}
}
