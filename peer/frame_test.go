package peer

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFrame_RoundTrip(t *testing.T) {
	for _, payload := range [][]byte{{}, []byte("x"), bytes.Repeat([]byte("ab"), 500)} {
		var buf bytes.Buffer
		require.NoError(t, writeFrame(&buf, payload, 1000))
		got, err := readFrame(&buf, 1000)
		require.NoError(t, err)
		assert.Equal(t, payload, got)
		assert.Zero(t, buf.Len(), "frame fully consumed")
	}
}

func TestFrame_ReadRejects(t *testing.T) {
	header := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	tests := []struct {
		name  string
		input []byte
		want  error
	}{
		{name: "length over limit", input: append(header(11), make([]byte, 11)...), want: ErrFrameTooLarge},
		{name: "hostile length", input: header(0xFFFFFFFF), want: ErrFrameTooLarge},
		{name: "empty input", input: nil, want: io.EOF},
		{name: "truncated header", input: []byte{0, 0}, want: io.ErrUnexpectedEOF},
		{name: "truncated body", input: append(header(5), 'a', 'b'), want: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readFrame(bytes.NewReader(tt.input), 10)
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

func TestFrame_WriteRejectsOversized(t *testing.T) {
	var buf bytes.Buffer
	err := writeFrame(&buf, make([]byte, 11), 10)
	assert.ErrorIs(t, err, ErrFrameTooLarge)
	assert.Zero(t, buf.Len(), "nothing written")
}
