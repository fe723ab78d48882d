package controller

import (
	"bytes"
	"io"
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
