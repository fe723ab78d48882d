package mcclient

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteRequest(t *testing.T) {
	tests := []struct {
		name string
		call *call
		want string
	}{
		{"get", &call{op: opGet, key: "k"}, "get k\r\n"},
		{"multi-get", &call{op: opGetMulti, key: "a", keys: []string{"a", "b", "c"}}, "get a b c\r\n"},
		{"delete", &call{op: opDelete, key: "k"}, "delete k\r\n"},
		{"set", &call{op: opSet, key: "k", value: []byte("v\r\nx"), exptime: 1_800_000_000}, "set k 0 1800000000 4\r\nv\r\nx\r\n"},
		{"set expired", &call{op: opSet, key: "k", value: []byte{}, exptime: -1}, "set k 0 -1 0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			require.NoError(t, writeRequest(w, tt.call))
			require.NoError(t, w.Flush())
			assert.Equal(t, tt.want, buf.String())
		})
	}
}

func TestReadReply(t *testing.T) {
	get := &call{op: opGet, key: "k"}
	multi := &call{op: opGetMulti, key: "a", keys: []string{"a", "b", "c"}}
	set := &call{op: opSet, key: "k"}
	del := &call{op: opDelete, key: "k"}
	tests := []struct {
		name     string
		call     *call
		in       string
		want     reply
		errIs    error // of reply.err, when set
		connErr  error // the connection is out of step: readReply fails with this
		leftover string
	}{
		{name: "get hit", call: get, in: "VALUE k 0 3\r\na\r\n\r\nEND\r\nnext", want: reply{value: []byte("a\r\n")}, leftover: "next"},
		{name: "get hit with cas", call: get, in: "VALUE k 0 1 99\r\nx\r\nEND\r\n", want: reply{value: []byte("x")}},
		{name: "get hit with flags", call: get, in: "VALUE k 4294967295 1\r\nx\r\nEND\r\n", want: reply{value: []byte("x")}},
		{name: "get empty value", call: get, in: "VALUE k 0 0\r\n\r\nEND\r\n", want: reply{value: []byte{}}},
		{name: "get miss", call: get, in: "END\r\n", want: reply{miss: true}},
		{name: "get other key", call: get, in: "VALUE x 0 1\r\nx\r\nEND\r\n", connErr: ErrProtocol},
		{name: "get twice", call: get, in: "VALUE k 0 1\r\nx\r\nVALUE k 0 1\r\ny\r\nEND\r\n", connErr: ErrProtocol},
		{name: "get value without CRLF", call: get, in: "VALUE k 0 1\r\nxyEND\r\n", connErr: ErrProtocol},
		{name: "get bad length", call: get, in: "VALUE k 0 -1\r\nEND\r\n", connErr: ErrProtocol},
		{name: "get missing length", call: get, in: "VALUE k 0\r\nEND\r\n", connErr: ErrProtocol},
		{name: "get line without CR", call: get, in: "END\n", connErr: ErrProtocol},
		{name: "get error", call: get, in: "ERROR\r\n", connErr: ErrProtocol},
		{name: "get client error", call: get, in: "CLIENT_ERROR bad command line format\r\n", connErr: ErrProtocol},
		{name: "get server error", call: get, in: "SERVER_ERROR out of memory writing get response\r\n", connErr: ErrServer},
		{name: "get truncated", call: get, in: "VALUE k 0 10\r\nabc", connErr: io.ErrUnexpectedEOF},
		{name: "get eof", call: get, in: "", connErr: io.EOF},
		{
			name: "multi", call: multi, in: "VALUE a 0 1\r\n1\r\nVALUE c 0 1\r\n3\r\nEND\r\n",
			want: reply{values: map[string][]byte{"a": []byte("1"), "c": []byte("3")}},
		},
		{name: "multi none", call: multi, in: "END\r\n", want: reply{}},
		{name: "multi key with a control byte", call: multi, in: "VALUE \r 0 1\r\n1\r\nEND\r\n", connErr: ErrProtocol},
		{name: "multi server error after a value", call: multi, in: "VALUE a 0 1\r\n1\r\nSERVER_ERROR out of memory writing get response\r\n", connErr: ErrServer},
		{name: "set stored", call: set, in: "STORED\r\n", want: reply{}},
		{name: "set too large", call: set, in: "SERVER_ERROR object too large for cache\r\nSTORED\r\n", errIs: ErrTooLarge, leftover: "STORED\r\n"},
		{name: "set out of memory", call: set, in: "SERVER_ERROR out of memory storing object\r\n", errIs: ErrServer},
		{name: "set not stored", call: set, in: "NOT_STORED\r\n", connErr: ErrProtocol},
		{name: "set client error", call: set, in: "CLIENT_ERROR bad data chunk\r\n", connErr: ErrProtocol},
		{name: "set bare server error", call: set, in: "SERVER_ERROR\r\n", connErr: ErrProtocol},
		{name: "set server error without CR", call: set, in: "SERVER_ERROR out of memory\n", connErr: ErrServer},
		{name: "delete", call: del, in: "DELETED\r\n", want: reply{}},
		{name: "delete miss", call: del, in: "NOT_FOUND\r\n", want: reply{miss: true}},
		{name: "delete server error", call: del, in: "SERVER_ERROR out of memory\r\n", errIs: ErrServer},
		{name: "delete error", call: del, in: "ERROR\r\n", connErr: ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tt.in))
			got, err := readReply(r, tt.call)
			if tt.connErr != nil {
				require.ErrorIs(t, err, tt.connErr)
				assert.NotContains(t, err.Error(), "\n")
				return
			}
			require.NoError(t, err)
			if tt.errIs != nil {
				assert.ErrorIs(t, got.err, tt.errIs)
				got.err = nil
			}
			assert.Equal(t, tt.want, got)
			rest := new(strings.Builder)
			_, _ = r.WriteTo(rest)
			assert.Equal(t, tt.leftover, rest.String(), "bytes left for the next reply")
		})
	}
}

func TestServerError(t *testing.T) {
	tests := []struct {
		line      string
		is, isNot error // nil is: not a SERVER_ERROR line
	}{
		{"SERVER_ERROR object too large for cache\r\n", ErrTooLarge, ErrServer},
		{"SERVER_ERROR out of memory storing object\r\n", ErrServer, ErrTooLarge},
		{"SERVER_ERROR out of memory writing get response\r\n", ErrServer, ErrTooLarge},
		{"CLIENT_ERROR object too large for cache\r\n", nil, nil},
		{"STORED\r\n", nil, nil},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.line), func(t *testing.T) {
			err := serverError([]byte(tt.line))
			if tt.is == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.is)
			assert.NotErrorIs(t, err, tt.isNot)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

func TestReadReply_ValuesOwned(t *testing.T) {
	in := "VALUE a 0 1\r\n1\r\nVALUE b 0 1\r\n2\r\nEND\r\n"
	got, err := readReply(bufio.NewReader(strings.NewReader(in)), &call{op: opGetMulti, keys: []string{"a", "b"}})
	require.NoError(t, err)
	got.values["a"] = append(got.values["a"], 'x') // capacity is trimmed: no overwrite of b
	assert.Equal(t, []byte("2"), got.values["b"])
}

func TestLegalKey(t *testing.T) {
	tests := []struct {
		name string
		key  string
		want bool
	}{
		{"one byte", "k", true},
		{"at the limit", strings.Repeat("k", MaxKeyLen), true},
		{"over the limit", strings.Repeat("k", MaxKeyLen+1), false},
		{"empty", "", false},
		{"space", "a b", false},
		{"newline", "a\r\nb", false},
		{"NUL", "a\x00", false},
		{"control byte", "a\x01", false},
		{"DEL", "a\x7f", false},
		{"high bytes", "\xff#ключ", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, LegalKey(tt.key))
		})
	}
}

func FuzzParseValueLine(f *testing.F) {
	f.Add([]byte("VALUE k 0 3\r\n"))
	f.Add([]byte("VALUE k 0 3 7\r\n"))
	f.Add([]byte("VALUE  0 99999999999\r\n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		key, n, err := parseValueLine(line)
		if err != nil {
			return
		}
		if len(key) == 0 || n < 0 || n > 1<<30 {
			t.Fatalf("accepted %q: key %q, n %d", line, key, n)
		}
	})
}

// fuzzCalls are the requests FuzzReadReply reads replies to.
var fuzzCalls = []*call{
	{op: opGet, key: "k"},
	{op: opGetMulti, key: "a", keys: []string{"a", "b"}},
	{op: opSet, key: "k"},
	{op: opDelete, key: "k"},
}

// FuzzReadReply feeds the reply parser arbitrary bytes as the answer to
// each kind of request. It must never panic; a reply it accepts must have
// been consumed up to its terminator and mean what its bytes say (a
// re-encoded get reply parses to the same values); anything else must be
// a one-line error naming a protocol, server or read failure.
func FuzzReadReply(f *testing.F) {
	seeds := []string{
		"VALUE k 0 3\r\nabc\r\nEND\r\n",
		"VALUE k 0 1 99\r\nx\r\nEND\r\n",
		"VALUE a 0 1\r\n1\r\nVALUE b 5 2\r\n22\r\nEND\r\n",
		"END\r\n",
		"STORED\r\n",
		"DELETED\r\n",
		"NOT_FOUND\r\n",
		"SERVER_ERROR object too large for cache\r\n",
		"SERVER_ERROR out of memory storing object\r\n",
		"CLIENT_ERROR bad data chunk\r\n",
		"ERROR\r\n",
		"VALUE k 0 99999999999\r\n",
		"VALUE k 0 5\r\nab\r\n",
	}
	for op := range fuzzCalls {
		for _, s := range seeds {
			f.Add(uint8(op), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, op uint8, in []byte) {
		c := fuzzCalls[int(op)%len(fuzzCalls)]
		r := bufio.NewReader(bytes.NewReader(in))
		rep, err := readReply(r, c)
		if err != nil {
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrServer) &&
				!errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, bufio.ErrBufferFull) {
				t.Fatalf("%v reply %q: unclassified error %v", c.op, in, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		consumed := in[:len(in)-r.Buffered()]
		switch c.op {
		case opGet, opGetMulti:
			if !bytes.HasSuffix(consumed, []byte("END\r\n")) {
				t.Fatalf("accepted %q without reading up to END", in)
			}
			if rep.err != nil {
				t.Fatalf("get reply %q: refusal %v", in, rep.err)
			}
			var canon bytes.Buffer
			values := rep.values
			if c.op == opGet && !rep.miss {
				values = map[string][]byte{c.key: rep.value}
			}
			for k, v := range values {
				if !slices.Contains(c.keys, k) && k != c.key {
					// memcached only answers keys asked for, but a multi-get
					// takes what comes; it must still be one token.
					if k == "" || strings.ContainsAny(k, " \r\n") {
						t.Fatalf("reply %q: key %q", in, k)
					}
				}
				fmt.Fprintf(&canon, "VALUE %s 0 %d\r\n%s\r\n", k, len(v), v)
			}
			canon.WriteString("END\r\n")
			again, err := readReply(bufio.NewReader(&canon), c)
			if err != nil {
				t.Fatalf("re-encoded reply of %q: %v", in, err)
			}
			if c.op == opGet && (again.miss != rep.miss || !bytes.Equal(again.value, rep.value)) ||
				c.op == opGetMulti && len(again.values) != len(rep.values) {
				t.Fatalf("reply %q read as %+v, re-encoded as %+v", in, rep, again)
			}
		case opSet, opDelete:
			if !bytes.HasSuffix(consumed, []byte("\r\n")) || bytes.Count(consumed, []byte("\n")) != 1 {
				t.Fatalf("%v reply %q: consumed %q, want one line", c.op, in, consumed)
			}
			if rep.err != nil && !errors.Is(rep.err, ErrTooLarge) && !errors.Is(rep.err, ErrServer) {
				t.Fatalf("%v reply %q: refusal %v", c.op, in, rep.err)
			}
			if rep.miss && c.op != opDelete {
				t.Fatalf("set reply %q read as a miss", in)
			}
		}
	})
}
