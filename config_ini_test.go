package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIniCodec_Decode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]any
	}{
		{
			name: "sections become nested maps",
			in:   "[cluster]\nmode = sequential\n[peer1]\nclient_addr = 127.0.0.1:8000\n",
			want: map[string]any{
				"cluster": map[string]any{"mode": "sequential"},
				"peer1":   map[string]any{"client_addr": "127.0.0.1:8000"},
			},
		},
		{
			name: "inline comment after a space is dropped",
			in:   "[cluster]\nmode = eventual   ; linearizable | sequential | eventual\nstore = memory # or memcached\n",
			want: map[string]any{"cluster": map[string]any{"mode": "eventual", "store": "memory"}},
		},
		{
			name: "comment characters inside a value are kept",
			in:   "[cluster]\nsecret = a;b#c\n",
			want: map[string]any{"cluster": map[string]any{"secret": "a;b#c"}},
		},
		{
			name: "keys outside a section stay at the top level",
			in:   "stray = 1\n[cluster]\nname = x\n",
			want: map[string]any{"stray": "1", "cluster": map[string]any{"name": "x"}},
		},
		{
			name: "empty section is kept",
			in:   "[peer9]\n",
			want: map[string]any{"peer9": map[string]any{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]any{}
			require.NoError(t, iniCodec{}.Decode([]byte(tt.in), got))
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestIniCodec_DecodeRejectsMalformed(t *testing.T) {
	err := iniCodec{}.Decode([]byte("[cluster\nmode = x\n"), map[string]any{})
	assert.Error(t, err)
}

func TestIniCodec_EncodeRoundTrip(t *testing.T) {
	in := map[string]any{
		"top":     "v",
		"cluster": map[string]any{"mode": "linearizable", "peers": []string{"a", "b"}, "max_connections": 7},
		"peer1":   map[string]any{"client_addr": "127.0.0.1:8000"},
	}
	b, err := iniCodec{}.Encode(in)
	require.NoError(t, err)

	got := map[string]any{}
	require.NoError(t, iniCodec{}.Decode(b, got))
	assert.Equal(t, map[string]any{
		"top":     "v",
		"cluster": map[string]any{"mode": "linearizable", "peers": "a, b", "max_connections": "7"},
		"peer1":   map[string]any{"client_addr": "127.0.0.1:8000"},
	}, got)
}

func TestNewViper_ReadsIniThroughRegistry(t *testing.T) {
	v, err := newViper()
	require.NoError(t, err)
	require.NoError(t, v.ReadConfig(bytes.NewBufferString("[cluster]\nmode = sequential\n[peer1]\npeer_addr = h:1\n")))
	assert.Equal(t, "sequential", v.GetString("cluster.mode"))
	assert.Equal(t, "h:1", v.GetString("peer1.peer_addr"))
}
