package kvcontroller

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReplicaKey_RoundTrip(t *testing.T) {
	tests := []struct {
		name, key, want string
	}{
		{"plain key unchanged", "user:42", "user:42"},
		{"high bytes unchanged", "ключ\xb0", "ключ\xb0"},
		{"control character escaped", "a\x10b", "a\xffQb"},
		{"tab escaped", "a\tb", "a\xffJb"},
		{"space escaped", "a b", "a\xffab"},
		{"DEL escaped", "\x7f", "\xff!"},
		{"escape byte escaped", "\xff", "\xff#"},
		{"escapes at both ends and in a row", "\x00mid\x01\x7f", "\xffAmid\xffB\xff!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rk, err := replicaKey(tt.key)
			require.NoError(t, err)
			assert.Equal(t, tt.want, rk)
			back, err := clientKey(rk)
			require.NoError(t, err)
			assert.Equal(t, tt.key, back)
		})
	}
}

func TestReplicaKey_TooLongOnceEscaped(t *testing.T) {
	_, err := replicaKey(strings.Repeat("\x01", 200))
	assert.ErrorIs(t, err, ErrKeyUnstorable)
	assert.ErrorIs(t, err, ErrBackend)
}

func TestClientKey_RejectsBadEscapes(t *testing.T) {
	for _, rk := range []string{"\xff", "a\xffz", "\xff\x01"} {
		_, err := clientKey(rk)
		assert.ErrorIs(t, err, ErrCorrupt, "%q", rk)
	}
}

func FuzzReplicaKey(f *testing.F) {
	for _, s := range []string{"", "a", "\x10\xff", "a b\tc", "\xff#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		rk, err := replicaKey(key)
		if err != nil {
			return
		}
		for i := 0; i < len(rk); i++ {
			if rk[i] <= ' ' || rk[i] == 0x7f {
				t.Fatalf("replica key %q has byte %#x", rk, rk[i])
			}
		}
		back, err := clientKey(rk)
		if err != nil || back != key {
			t.Fatalf("round trip %q -> %q -> %q, %v", key, rk, back, err)
		}
	})
}
