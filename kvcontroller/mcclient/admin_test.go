package mcclient

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadMetadump(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  []string
		errIs error // nil: no error
	}{
		{name: "empty", in: "END\r\n"},
		{
			name: "keys",
			in:   "key=a%2Fb%25c%2Bd exp=-1 la=1 cas=1 fetch=no cls=1 size=73\nkey=plain exp=5 la=1 cas=2 fetch=yes cls=1 size=61\nEND\r\n",
			want: []string{"a/b%c+d", "plain"},
		},
		{name: "key only", in: "key=x\nEND\r\n", want: []string{"x"}},
		{name: "plus stays plus", in: "key=a+b\nEND\r\n", want: []string{"a+b"}},
		{name: "busy", in: "BUSY currently processing crawler request\r\n", errIs: ErrBusy},
		{name: "error line", in: "ERROR locked try again later\r\n", errIs: ErrProtocol},
		{name: "bad escape", in: "key=%zz exp=-1\nEND\r\n", errIs: ErrProtocol},
		{name: "empty key", in: "key= exp=-1\nEND\r\n", errIs: ErrProtocol},
		{name: "truncated", in: "key=a exp=-1\n", errIs: io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readMetadump(bufio.NewReader(strings.NewReader(tt.in)))
			if tt.errIs == nil {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
				return
			}
			require.ErrorIs(t, err, tt.errIs)
			if tt.errIs != ErrBusy {
				assert.NotErrorIs(t, err, ErrBusy)
			}
		})
	}
}

func TestReadStats(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  map[string]string
		errIs error
	}{
		{
			name: "fields",
			in:   "STAT pid 1\r\nSTAT curr_items 3\r\nSTAT version 1.6.18\r\nSTAT empty \r\nEND\r\n",
			want: map[string]string{"pid": "1", "curr_items": "3", "version": "1.6.18", "empty": ""},
		},
		{name: "none", in: "END\r\n", want: map[string]string{}},
		{name: "error line", in: "ERROR\r\n", errIs: ErrProtocol},
		{name: "server error", in: "SERVER_ERROR out of memory\r\n", errIs: ErrServer},
		{name: "truncated", in: "STAT curr_items 1\r\n", errIs: io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readStats(bufio.NewReader(strings.NewReader(tt.in)))
			if tt.errIs != nil {
				assert.ErrorIs(t, err, tt.errIs)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzParseMetadumpKey(f *testing.F) {
	f.Add([]byte("key=a%2Fb exp=-1 la=1\n"))
	f.Add([]byte("key=%\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, line []byte) {
		k, err := parseMetadumpKey(line)
		if err == nil && k == "" {
			t.Fatalf("empty key without error from %q", line)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), []byte("\n")) {
			t.Fatalf("multi-line error %q", err)
		}
	})
}
