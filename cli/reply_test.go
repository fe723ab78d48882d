package cli

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadResponse_Kinds(t *testing.T) {
	tests := []struct {
		name    string
		kind    replyKind
		in      string
		status  string
		lines   []string
		items   []item
		stats   []stat
		failed  bool
		unread  string // what must be left for the next reply
		wantErr error
	}{
		{name: "line", kind: replyLine, in: "STORED\r\nEND\r\n", status: "STORED", lines: []string{"STORED"}, unread: "END\r\n"},
		{name: "meta VA block", kind: replyLine, in: "VA 2 f0\r\nhi\r\n", status: "VA 2 f0", lines: []string{"VA 2 f0", "hi"}},
		{name: "values", kind: replyValues, in: "VALUE a 3 2\r\nhi\r\nVALUE b 0 3 77\r\nx\ny\r\nEND\r\nX",
			status: "END", lines: []string{"VALUE a 3 2", "hi", "VALUE b 0 3 77", "x\ny", "END"},
			items: []item{{key: "a", flags: 3, data: []byte("hi")}, {key: "b", cas: 77, hasCas: true, data: []byte("x\ny")}}, unread: "X"},
		{name: "values miss", kind: replyValues, in: "END\r\n", status: "END", lines: []string{"END"}},
		{name: "values error", kind: replyValues, in: "CLIENT_ERROR bad command line format\r\n", status: "CLIENT_ERROR bad command line format",
			lines: []string{"CLIENT_ERROR bad command line format"}, failed: true},
		{name: "stats", kind: replyStats, in: "STAT pid 12\r\nSTAT version 1.6 beta\r\nEND\r\n", status: "END",
			lines: []string{"STAT pid 12", "STAT version 1.6 beta", "END"},
			stats: []stat{{name: "pid", value: "12"}, {name: "version", value: "1.6 beta"}}},
		{name: "stats reset", kind: replyStats, in: "RESET\r\n", status: "RESET", lines: []string{"RESET"}},
		{name: "stats error", kind: replyStats, in: "ERROR\r\n", status: "ERROR", lines: []string{"ERROR"}, failed: true},
		{name: "dump", kind: replyDump, in: "key=a exp=-1\r\nkey=b exp=-1\r\nEND\r\n", status: "END",
			lines: []string{"key=a exp=-1", "key=b exp=-1", "END"}},
		{name: "dump busy", kind: replyDump, in: "BUSY currently processing crawler request\r\n", status: "BUSY currently processing crawler request",
			lines: []string{"BUSY currently processing crawler request"}},
		{name: "quiet meta success", kind: replyMeta, in: "MN\r\n", status: "MN"},
		{name: "quiet meta hit", kind: replyMeta, in: "VA 1\r\nz\r\nMN\r\n", status: "VA 1", lines: []string{"VA 1", "z"}},
		{name: "quiet meta error", kind: replyMeta, in: "CLIENT_ERROR bad\r\nHD\r\nMN\r\n", status: "CLIENT_ERROR bad",
			lines: []string{"CLIENT_ERROR bad", "HD"}, failed: true},
		{name: "noreply reads nothing", kind: replyNone, in: "STORED\r\n", unread: "STORED\r\n"},
		{name: "bare newline accepted", kind: replyLine, in: "DELETED\n", status: "DELETED", lines: []string{"DELETED"}},
		{name: "bad value line", kind: replyValues, in: "VALUE a\r\n", status: "VALUE a", lines: []string{"VALUE a"}, wantErr: ErrProtocol},
		{name: "bad block end", kind: replyValues, in: "VALUE a 0 2\r\nhiXX", status: "VALUE a 0 2", lines: []string{"VALUE a 0 2"}, wantErr: ErrProtocol},
		{name: "short block", kind: replyValues, in: "VALUE a 0 5\r\nhi", status: "VALUE a 0 5", lines: []string{"VALUE a 0 5"}, wantErr: io.ErrUnexpectedEOF},
		{name: "cut line", kind: replyLine, in: "STOR", wantErr: io.ErrUnexpectedEOF},
		{name: "closed", kind: replyLine, in: "", wantErr: io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tt.in))
			resp, err := readResponse(r, tt.kind)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.status, resp.status, "status")
			assert.Equal(t, tt.lines, resp.lines, "lines")
			assert.Equal(t, tt.items, resp.items, "items")
			assert.Equal(t, tt.stats, resp.stats, "stats")
			assert.Equal(t, tt.failed, resp.failed(), "failed")
			if tt.wantErr == nil {
				rest, _ := io.ReadAll(r)
				assert.Equal(t, tt.unread, string(rest), "unread")
			}
		})
	}
}

func TestReadResponse_LongLine(t *testing.T) {
	in := strings.Repeat("x", maxReplyLine+bufio.MaxScanTokenSize) + "\r\n"
	_, err := readResponse(bufio.NewReader(strings.NewReader(in)), replyLine)
	assert.ErrorIs(t, err, ErrProtocol)
}

func TestPrintResponse_Formats(t *testing.T) {
	tests := []struct {
		name string
		line string
		resp response
		want string
	}{
		{name: "get hit", line: "get a", resp: response{status: "END", items: []item{{key: "a", data: []byte("hello world")}}},
			want: "hello world\n"},
		{name: "get miss", line: "get a", resp: response{status: "END"}, want: "(not found)\n"},
		{name: "get flags", line: "get a", resp: response{status: "END", items: []item{{key: "a", flags: 5, data: []byte("v")}}},
			want: "v  (flags 5)\n"},
		{name: "gets cas", line: "gets a", resp: response{status: "END", items: []item{{key: "a", cas: 9, hasCas: true, data: []byte("v")}}},
			want: "v  (cas 9)\n"},
		{name: "get unprintable", line: "get a", resp: response{status: "END", items: []item{{key: "a", data: []byte("a\r\nb\x00")}}},
			want: "\"a\\r\\nb\\x00\"\n"},
		{name: "get empty", line: "get a", resp: response{status: "END", items: []item{{key: "a"}}}, want: "\"\"\n"},
		{name: "get padded", line: "get a", resp: response{status: "END", items: []item{{key: "a", data: []byte(" x")}}}, want: "\" x\"\n"},
		{name: "get many in asked order", line: "get b a c",
			resp: response{status: "END", items: []item{{key: "a", data: []byte("1")}, {key: "b", data: []byte("two words")}}},
			want: "b = two words\na = 1\nc (not found)\n"},
		{name: "error reply", line: "get a", resp: response{status: "SERVER_ERROR out of memory"}, want: "SERVER_ERROR out of memory\n"},
		{name: "status line", line: "delete a", resp: response{status: "NOT_FOUND"}, want: "NOT_FOUND\n"},
		{name: "stats aligned", line: "stats",
			resp: response{status: "END", lines: []string{"STAT pid 1", "STAT curr_connections 10", "END"}},
			want: "pid               1\ncurr_connections  10\n"},
		{name: "raw as received", line: "raw get a",
			resp: response{status: "END", lines: []string{"VALUE a 0 1", "v", "END"}}, want: "VALUE a 0 1\nv\nEND\n"},
		{name: "raw noreply prints nothing", line: "verbosity 1 noreply", resp: response{}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, err := parseCommand(tt.line)
			require.NoError(t, err)
			var buf bytes.Buffer
			require.NoError(t, printResponse(&buf, cmd, tt.resp))
			assert.Equal(t, tt.want, buf.String())
		})
	}
}
