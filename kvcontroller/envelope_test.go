package kvcontroller

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnvelope_RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		item Item
	}{
		{"zero", Item{Key: "k", Value: []byte{}}},
		{"all fields", Item{Key: "k", Value: []byte("v\r\n\x00"), Flags: 0xdeadbeef, Exptime: 1_800_000_000, Version: 1 << 60, Tombstone: true}},
		{"extremes", Item{Key: "k", Value: []byte("x"), Flags: math.MaxUint32, Exptime: math.MinInt64, Version: math.MaxUint64}},
		{"negative exptime", Item{Key: "k", Value: []byte("x"), Exptime: -1}},
		{"stale with its win sent", Item{Key: "k", Value: []byte("x"), Version: 9, Stale: true, WinSent: true}},
		{"win sent only", Item{Key: "k", Value: []byte{}, WinSent: true}},
		{"binary key", Item{Key: "\x00 k", Value: []byte("x"), KeyBinary: true}},
		{"expiry version", Item{Key: "k", Value: []byte("x"), Exptime: 1_800_000_000, Version: 5, ExpiryVersion: 9}},
		{"expired tombstone keeps its registers", Item{Key: "k", Value: []byte{}, Exptime: 7, Version: 5, ExpiryVersion: math.MaxUint64, Tombstone: true}},
		{"client-chosen cas", Item{Key: "k", Value: []byte("x"), Version: 9, Cas: math.MaxUint64, HasCas: true, Stale: true}},
		{"client-chosen cas of zero", Item{Key: "k", Value: []byte{}, Version: 9, HasCas: true}},
		{"expiry version and chosen cas", Item{Key: "k", Value: []byte("x"), Exptime: 9, Version: 5, ExpiryVersion: 6, Cas: 1, HasCas: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := EncodeEnvelope(tt.item)
			assert.Len(t, b, EnvelopeSize(tt.item))
			got, err := DecodeEnvelope(tt.item.Key, b)
			require.NoError(t, err)
			assert.Equal(t, tt.item, got)
		})
	}
}

func TestAppendEnvelope_KeepsPrefix(t *testing.T) {
	it := Item{Key: "k", Value: []byte("value"), Version: 3}
	b := AppendEnvelope([]byte("prefix"), it)
	require.True(t, bytes.HasPrefix(b, []byte("prefix")))
	got, err := DecodeEnvelope("k", b[len("prefix"):])
	require.NoError(t, err)
	assert.Equal(t, it, got)
}

// TestDecodeEnvelope_BeforeExpiryVersion decodes the bytes an older memcons
// wrote (no optional field): replicas it filled stay readable, and an item
// without an expiry version is still written the same way.
func TestDecodeEnvelope_BeforeExpiryVersion(t *testing.T) {
	old := []byte{0xC5, 1, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0x6b, 0x49, 0xd2, 0x00, 0, 0, 0, 0, 0, 0, 0, 7, 'h', 'i'}
	it := Item{Key: "k", Value: []byte("hi"), Flags: 5, Exptime: 1_800_000_000, Version: 7}
	got, err := DecodeEnvelope("k", old)
	require.NoError(t, err)
	assert.Equal(t, it, got)
	assert.Equal(t, old, EncodeEnvelope(it))
}

func TestDecodeEnvelope_NilValueDecodesEmpty(t *testing.T) {
	got, err := DecodeEnvelope("k", EncodeEnvelope(Item{Key: "k"}))
	require.NoError(t, err)
	assert.NotNil(t, got.Value)
	assert.Empty(t, got.Value)
}

func TestDecodeEnvelope_Corrupt(t *testing.T) {
	valid := EncodeEnvelope(Item{Key: "k", Value: []byte("v")})
	with := func(i int, b byte) []byte {
		c := bytes.Clone(valid)
		c[i] = b
		return c
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"short header", valid[:EnvelopeOverhead-1]},
		{"bad magic", with(0, 'V')},
		{"unknown format", with(1, 2)},
		{"unknown bits", with(offBits, 0x10)},
		{"expiry version bit, field cut short", with(offBits, bitExpiryVersion)},
		{"expiry version bit with version 0", func() []byte {
			b := append(EncodeEnvelope(Item{}), make([]byte, 8)...)
			b[offBits] = bitExpiryVersion
			return b
		}()},
		{"cas bit without its field", with(offBits, bitCas)[:EnvelopeOverhead+1]},
		{"plain memcached value", []byte("VALUE k 0 1\r\nhello world, not ours\r\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEnvelope("k", tt.in)
			assert.ErrorIs(t, err, ErrCorrupt)
		})
	}
}

func TestEnvelope_OldBytesDecodeWithoutCas(t *testing.T) {
	// An envelope written before the CAS field existed: 23 header bytes,
	// bit 2 clear, then the value.
	old := append([]byte{envelopeMagic, envelopeFormat, bitStale, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7}, "val"...)
	got, err := DecodeEnvelope("k", old)
	require.NoError(t, err)
	assert.Equal(t, Item{Key: "k", Value: []byte("val"), Flags: 5, Version: 7, Stale: true}, got)
	assert.Equal(t, uint64(7), got.Unique())
	assert.Equal(t, old, EncodeEnvelope(got), "an item without a chosen CAS keeps the old encoding")
}

func TestItem_UniqueIsTheChosenCasWhenSet(t *testing.T) {
	tests := []struct {
		name string
		it   Item
		want uint64
	}{
		{"version", Item{Version: 7, Cas: 9}, 7},
		{"chosen", Item{Version: 7, Cas: 9, HasCas: true}, 9},
		{"chosen zero", Item{Version: 7, HasCas: true}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, tt.it.Unique()) })
	}
}

func TestDecodeEnvelope_ValueCannotGrowIntoInput(t *testing.T) {
	b := EncodeEnvelope(Item{Key: "k", Value: []byte("ab")})
	got, err := DecodeEnvelope("k", b[:len(b)-1])
	require.NoError(t, err)
	_ = append(got.Value, 'Z')
	assert.Equal(t, byte('b'), b[len(b)-1], "append to Value wrote into the input")
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("garbage"))
	f.Add(EncodeEnvelope(Item{Value: []byte("hello"), Flags: 5, Exptime: 100, Version: 7}))
	f.Add(EncodeEnvelope(Item{Tombstone: true}))
	f.Add(EncodeEnvelope(Item{Value: []byte("x"), Stale: true, WinSent: true, KeyBinary: true}))
	f.Add(EncodeEnvelope(Item{Value: []byte("x"), Exptime: 100, Version: 7, ExpiryVersion: 9}))
	f.Add(EncodeEnvelope(Item{Exptime: 1, Version: 7, ExpiryVersion: 8, Tombstone: true}))
	f.Add(EncodeEnvelope(Item{Value: []byte("x"), Version: 3, Cas: 1 << 40, HasCas: true}))
	f.Add(EncodeEnvelope(Item{Value: []byte("x"), Version: 3, ExpiryVersion: 4, Cas: 1 << 40, HasCas: true}))
	f.Fuzz(func(t *testing.T, b []byte) {
		it, err := DecodeEnvelope("k", b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		// Every accepted input is canonical: re-encoding reproduces it.
		if again := EncodeEnvelope(it); !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, want %x", again, b)
		}
	})
}

func FuzzEnvelopeRoundTrip(f *testing.F) {
	f.Add([]byte("v"), uint32(0), int64(0), uint64(0), uint64(0), false)
	f.Add([]byte("\r\nEND\r\n"), uint32(math.MaxUint32), int64(-1), uint64(math.MaxUint64), uint64(1), true)
	f.Fuzz(func(t *testing.T, value []byte, flags uint32, exptime int64, version, expiryVersion uint64, tomb bool) {
		in := Item{Key: "k", Value: value, Flags: flags, Exptime: exptime, Version: version, ExpiryVersion: expiryVersion, Tombstone: tomb}
		out, err := DecodeEnvelope("k", EncodeEnvelope(in))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(in.Value, out.Value) {
			t.Fatalf("value %q, want %q", out.Value, in.Value)
		}
		in.Value, out.Value = nil, nil
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("item %+v, want %+v", out, in)
		}
	})
}
