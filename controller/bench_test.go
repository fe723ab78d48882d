package controller

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkServer_Pipeline measures one connection sending 100 pipelined
// commands (a set and 99 gets) per write.
func BenchmarkServer_Pipeline(b *testing.B) {
	_, addr := startServer(b, Config{}, nil, Options{}, nil)
	c := dial(b, addr)
	var req bytes.Buffer
	req.WriteString("set bench 0 0 10\r\n0123456789\r\n")
	for range 99 {
		req.WriteString("get bench\r\n")
	}
	reply := "STORED\r\n" + repeat("VALUE bench 0 10\r\n0123456789\r\nEND\r\n", 99)
	buf := make([]byte, len(reply))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, err := c.Write(req.Bytes())
		require.NoError(b, err)
		_, err = io.ReadFull(c, buf)
		require.NoError(b, err)
	}
	b.StopTimer()
	require.Equal(b, reply, string(buf))
}

func repeat(s string, n int) string { return string(bytes.Repeat([]byte(s), n)) }

// BenchmarkParseCommand measures the pure parser on one line of each kind,
// without the socket: the command lookup, the words and the numbers.
func BenchmarkParseCommand(b *testing.B) {
	for _, line := range []string{
		"get key-with-some-length",
		"get a b c d e f",
		"set key-with-some-length 0 0 10",
		"cas k 1 2 3 4 noreply",
		"incr counter 1",
		"delete k noreply",
		"flush_all 10",
		"version",
		"frobnicate k",
		"mg key-with-some-length v f t c",
		"ms key-with-some-length 10 T0 F5 MS q",
	} {
		name, _, _ := strings.Cut(line, " ")
		b.Run(name+"/"+strconv.Itoa(len(line)), func(b *testing.B) {
			buf := []byte(line)
			b.ReportAllocs()
			for b.Loop() {
				_, _ = ParseCommand(buf)
			}
		})
	}
}

// BenchmarkAccessTable_Fetch measures what remembering a fetch (mg h and
// l, me) adds to every retrieval hit.
func BenchmarkAccessTable_Fetch(b *testing.B) {
	t := newAccessTable()
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = "key:" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			t.fetch(keys[i%len(keys)], 1, 1_800_000_000, true)
			i++
		}
	})
}
