package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitArgs_Quoting(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{name: "empty", in: "", want: nil},
		{name: "spaces and tabs", in: "  a \t b  c ", want: []string{"a", "b", "c"}},
		{name: "double quoted space", in: `k "hello world"`, want: []string{"k", "hello world"}},
		{name: "single quoted literal", in: `k 'a \n "b"'`, want: []string{"k", `a \n "b"`}},
		{name: "empty quoted", in: `k ""`, want: []string{"k", ""}},
		{name: "joined parts", in: `a"b c"d`, want: []string{"ab cd"}},
		{name: "escapes", in: `"\\ \" \n \r \t \0 \x41"`, want: []string{"\\ \" \n \r \t \x00 A"}},
		{name: "unterminated double", in: `k "abc`, wantErr: true},
		{name: "unterminated single", in: `k 'abc`, wantErr: true},
		{name: "trailing backslash", in: `"abc\`, wantErr: true},
		{name: "bad hex", in: `"\xZZ"`, wantErr: true},
		{name: "short hex", in: `"\x4"`, wantErr: true},
		{name: "unknown escape", in: `"\q"`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitArgs(tt.in)
			if tt.wantErr {
				assert.ErrorIs(t, err, ErrUsage)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseCommand_Friendly(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		action  action
		wire    string
		reply   replyKind
		keys    []string
		dataLen int
	}{
		{name: "blank", line: "   ", action: actNone, dataLen: -1},
		{name: "comment", line: "# note", action: actNone, dataLen: -1},
		{name: "set", line: "set k v", action: actSend, wire: "set k 0 0 1\r\nv\r\n", reply: replyLine, dataLen: -1},
		{name: "set ttl flags", line: "set k hello 60 7", action: actSend, wire: "set k 7 60 5\r\nhello\r\n", reply: replyLine, dataLen: -1},
		{name: "set quoted", line: `set k "hello world"`, action: actSend, wire: "set k 0 0 11\r\nhello world\r\n", reply: replyLine, dataLen: -1},
		{name: "set empty value", line: `set k ""`, action: actSend, wire: "set k 0 0 0\r\n\r\n", reply: replyLine, dataLen: -1},
		{name: "set value with line break", line: `set k "a\r\nb"`, action: actSend, wire: "set k 0 0 4\r\na\r\nb\r\n", reply: replyLine, dataLen: -1},
		{name: "upper case verb", line: "SET k v", action: actSend, wire: "set k 0 0 1\r\nv\r\n", reply: replyLine, dataLen: -1},
		{name: "add", line: "add k v 5", action: actSend, wire: "add k 0 5 1\r\nv\r\n", reply: replyLine, dataLen: -1},
		{name: "replace", line: "replace k v", action: actSend, wire: "replace k 0 0 1\r\nv\r\n", reply: replyLine, dataLen: -1},
		{name: "append", line: "append k v", action: actSend, wire: "append k 0 0 1\r\nv\r\n", reply: replyLine, dataLen: -1},
		{name: "prepend", line: "prepend k v", action: actSend, wire: "prepend k 0 0 1\r\nv\r\n", reply: replyLine, dataLen: -1},
		{name: "cas", line: "cas k v 42", action: actSend, wire: "cas k 0 0 1 42\r\nv\r\n", reply: replyLine, dataLen: -1},
		{name: "cas ttl flags", line: "cas k v 42 10 3", action: actSend, wire: "cas k 3 10 1 42\r\nv\r\n", reply: replyLine, dataLen: -1},
		{name: "get one", line: "get a", action: actSend, wire: "get a\r\n", reply: replyValues, keys: []string{"a"}, dataLen: -1},
		{name: "get many", line: "get a b c", action: actSend, wire: "get a b c\r\n", reply: replyValues, keys: []string{"a", "b", "c"}, dataLen: -1},
		{name: "gets", line: "gets a", action: actSend, wire: "gets a\r\n", reply: replyValues, keys: []string{"a"}, dataLen: -1},
		{name: "gat", line: "gat 30 a b", action: actSend, wire: "gat 30 a b\r\n", reply: replyValues, keys: []string{"a", "b"}, dataLen: -1},
		{name: "delete", line: "delete a", action: actSend, wire: "delete a\r\n", reply: replyLine, dataLen: -1},
		{name: "incr default", line: "incr n", action: actSend, wire: "incr n 1\r\n", reply: replyLine, dataLen: -1},
		{name: "decr amount", line: "decr n 5", action: actSend, wire: "decr n 5\r\n", reply: replyLine, dataLen: -1},
		{name: "touch", line: "touch a 100", action: actSend, wire: "touch a 100\r\n", reply: replyLine, dataLen: -1},
		{name: "flush", line: "flush", action: actSend, wire: "flush_all\r\n", reply: replyLine, dataLen: -1},
		{name: "flush delay", line: "flush 10", action: actSend, wire: "flush_all 10\r\n", reply: replyLine, dataLen: -1},
		{name: "stats", line: "stats", action: actSend, wire: "stats\r\n", reply: replyStats, dataLen: -1},
		{name: "stats group", line: "stats slabs", action: actSend, wire: "stats slabs\r\n", reply: replyStats, dataLen: -1},
		{name: "version", line: "version", action: actSend, wire: "version\r\n", reply: replyLine, dataLen: -1},
		{name: "show", line: "show", action: actShow, dataLen: -1},
		{name: "help", line: "help", action: actHelp, dataLen: -1},
		{name: "exit", line: "exit", action: actExit, dataLen: -1},
		{name: "quit", line: "QUIT", action: actExit, dataLen: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCommand(tt.line)
			require.NoError(t, err)
			assert.Equal(t, tt.action, got.action, "action")
			assert.Equal(t, tt.wire, got.wire, "wire")
			assert.Equal(t, tt.reply, got.reply, "reply kind")
			assert.Equal(t, tt.keys, got.keys, "keys")
			assert.Equal(t, tt.dataLen, got.dataLen, "data length")
		})
	}
}

func TestParseCommand_Raw(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		wire    string
		reply   replyKind
		dataLen int
	}{
		{name: "unknown verb", line: "verbosity 1", wire: "verbosity 1\r\n", reply: replyLine, dataLen: -1},
		{name: "noreply", line: "verbosity 1 noreply", wire: "verbosity 1 noreply\r\n", reply: replyNone, dataLen: -1},
		{name: "upper case is raw", line: "GETX a", wire: "GETX a\r\n", reply: replyLine, dataLen: -1},
		{name: "raw storage", line: "raw set k 0 0 5", wire: "set k 0 0 5\r\n", reply: replyLine, dataLen: 5},
		{name: "raw storage noreply", line: "raw set k 0 0 5 noreply", wire: "set k 0 0 5 noreply\r\n", reply: replyNone, dataLen: 5},
		{name: "raw cas", line: "raw cas k 0 0 2 99", wire: "cas k 0 0 2 99\r\n", reply: replyLine, dataLen: 2},
		{name: "raw cas noreply", line: "raw cas k 0 0 2 99 noreply", wire: "cas k 0 0 2 99 noreply\r\n", reply: replyNone, dataLen: 2},
		{name: "raw storage malformed", line: "raw set k 0 0", wire: "set k 0 0\r\n", reply: replyLine, dataLen: -1},
		{name: "raw get", line: "raw get a b", wire: "get a b\r\n", reply: replyValues, dataLen: -1},
		{name: "raw gats", line: "gats 1 a", wire: "gats 1 a\r\n", reply: replyValues, dataLen: -1},
		{name: "raw stats", line: "raw stats items", wire: "stats items\r\n", reply: replyStats, dataLen: -1},
		{name: "metadump", line: "lru_crawler metadump all", wire: "lru_crawler metadump all\r\n", reply: replyDump, dataLen: -1},
		{name: "lru_crawler other", line: "lru_crawler crawl all", wire: "lru_crawler crawl all\r\n", reply: replyLine, dataLen: -1},
		{name: "meta get", line: "mg k v", wire: "mg k v\r\n", reply: replyLine, dataLen: -1},
		{name: "meta get quiet", line: "mg k v q", wire: "mg k v q\r\n", reply: replyMeta, dataLen: -1},
		{name: "meta set", line: "ms k 3 T0", wire: "ms k 3 T0\r\n", reply: replyLine, dataLen: 3},
		{name: "meta set quiet", line: "ms k 3 q", wire: "ms k 3 q\r\n", reply: replyMeta, dataLen: 3},
		{name: "meta key named q is not quiet", line: "md q", wire: "md q\r\n", reply: replyLine, dataLen: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCommand(tt.line)
			require.NoError(t, err)
			assert.Equal(t, actSend, got.action)
			assert.Equal(t, "raw", got.verb)
			assert.Equal(t, tt.wire, got.wire, "wire")
			assert.Equal(t, tt.reply, got.reply, "reply kind")
			assert.Equal(t, tt.dataLen, got.dataLen, "data length")
		})
	}
}

func TestParseCommand_UsageErrors(t *testing.T) {
	tests := []struct {
		name string
		line string
	}{
		{name: "set without value", line: "set k"},
		{name: "set too many", line: "set k v 1 2 3"},
		{name: "set bad ttl", line: "set k v soon"},
		{name: "set negative flags", line: "set k v 0 -1"},
		{name: "set flags too big", line: "set k v 0 4294967296"},
		{name: "key with space", line: `set "a b" v`},
		{name: "key with control", line: "get \"a\\x01\""},
		{name: "key too long", line: "get " + strings.Repeat("k", maxKeyLen+1)},
		{name: "empty key", line: `delete ""`},
		{name: "get nothing", line: "get"},
		{name: "cas without unique", line: "cas k v"},
		{name: "cas bad unique", line: "cas k v x"},
		{name: "gat without key", line: "gat 10"},
		{name: "gat bad ttl", line: "gat x k"},
		{name: "delete two", line: "delete a b"},
		{name: "incr bad amount", line: "incr n -1"},
		{name: "touch without ttl", line: "touch k"},
		{name: "flush bad delay", line: "flush x"},
		{name: "version with args", line: "version x"},
		{name: "raw without line", line: "raw"},
		{name: "unterminated quote", line: `set k "v`},
		{name: "watch", line: "watch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseCommand(tt.line)
			assert.ErrorIs(t, err, ErrUsage)
		})
	}
}
