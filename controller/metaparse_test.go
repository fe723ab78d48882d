package controller

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
)

func TestParseMeta_Lines(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Command
	}{
		{"mg flags in order", "mg k v f t c O9 q", Command{Name: "mg", Op: consistency.OpMetaGet, Keys: []string{"k"}, DataLen: NoData,
			Meta: &MetaFlags{Letters: "vftcOq", Opaque: "O9", Value: true, Quiet: true}}},
		{"mg item-changing flags keep their order", "mg k R30 u T60 N5", Command{Name: "mg", Op: consistency.OpMetaGet, Keys: []string{"k"}, DataLen: NoData, Exptime: 60,
			Meta: &MetaFlags{Letters: "RuTN", NoBump: true, Args: consistency.MetaArgs{Order: "RTN", TTL: true, Vivify: true, VivifyExptime: 5, Recache: true, RecacheExptime: 30}}}},
		{"mg base64 key", "mg YQ== b k", Command{Name: "mg", Op: consistency.OpMetaGet, Keys: []string{"a"}, DataLen: NoData,
			Meta: &MetaFlags{Letters: "bk", Binary: true}}},
		{"ms with every option", "ms k 5 MA C7 I F3 T-1 c k", Command{Name: "ms", Op: consistency.OpMetaSet, Keys: []string{"k"}, DataLen: 5, Flags: 3, Exptime: -1, Cas: 7,
			Meta: &MetaFlags{Letters: "MCIFTck", Args: consistency.MetaArgs{Order: "T", Mode: 'A', CompareCas: true, Invalidate: true, TTL: true}}}},
		{"md invalidate", "md k I T30 C1 q", Command{Name: "md", Op: consistency.OpMetaDelete, Keys: []string{"k"}, DataLen: NoData, Exptime: 30, Cas: 1,
			Meta: &MetaFlags{Letters: "ITCq", Quiet: true, Args: consistency.MetaArgs{Order: "T", Invalidate: true, TTL: true, CompareCas: true}}}},
		{"ma defaults", "ma k", Command{Name: "ma", Op: consistency.OpMetaArithmetic, Keys: []string{"k"}, DataLen: NoData, Delta: 1,
			Meta: &MetaFlags{Args: consistency.MetaArgs{Mode: 'I'}}}},
		{"ma decrement alias", "ma k M- D9 N0 J4 v", Command{Name: "ma", Op: consistency.OpMetaArithmetic, Keys: []string{"k"}, DataLen: NoData, Delta: 9,
			Meta: &MetaFlags{Letters: "MDNJv", Value: true, Args: consistency.MetaArgs{Order: "N", Mode: 'D', Vivify: true, Initial: 4}}}},
		{"ms E", "ms k 1 E18446744073709551615 c s", Command{Name: "ms", Op: consistency.OpMetaSet, Keys: []string{"k"}, DataLen: 1,
			Meta: &MetaFlags{Letters: "Ecs", Args: consistency.MetaArgs{NewCas: 1<<64 - 1, HasNewCas: true}}}},
		{"mg E of zero", "mg k N30 E0", Command{Name: "mg", Op: consistency.OpMetaGet, Keys: []string{"k"}, DataLen: NoData,
			Meta: &MetaFlags{Letters: "NE", Args: consistency.MetaArgs{Order: "N", Vivify: true, VivifyExptime: 30, HasNewCas: true}}}},
		{"md x with flags, ttl and E", "md k x F5 T30 E9 I", Command{Name: "md", Op: consistency.OpMetaDelete, Keys: []string{"k"}, DataLen: NoData, Flags: 5, Exptime: 30,
			Meta: &MetaFlags{Letters: "xFTEI", Args: consistency.MetaArgs{Order: "T", RemoveValue: true, TTL: true, NewCas: 9, HasNewCas: true, Invalidate: true}}}},
		{"ma E", "ma k E7", Command{Name: "ma", Op: consistency.OpMetaArithmetic, Keys: []string{"k"}, DataLen: NoData, Delta: 1,
			Meta: &MetaFlags{Letters: "E", Args: consistency.MetaArgs{Mode: 'I', NewCas: 7, HasNewCas: true}}}},
		{"mn ignores words", "mn a b", Command{Name: "mn", DataLen: NoData}},
		{"me binary", "me YWI= b", Command{Name: "me", Op: consistency.OpGet, Keys: []string{"ab"}, DataLen: NoData, Meta: &MetaFlags{Binary: true}}},
		{"mg opaque too long runs up to the O token", "mg k T30 O123456789012345678901234567890123 N5", Command{Name: "mg", Op: consistency.OpMetaGet, Keys: []string{"k"}, DataLen: NoData, Exptime: 30,
			Meta: &MetaFlags{Letters: "TON", Opaque: "O123456789012345678901234567890123", OpaqueTooLong: true,
				Args: consistency.MetaArgs{Order: "T", TTL: true, Vivify: true, VivifyExptime: 5, NoWin: true}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCommand([]byte(tt.line))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseMeta_Errors(t *testing.T) {
	tests := []struct {
		name, line string
		want       error
		dataLen    int // the data block a refused ms still swallows
	}{
		{"duplicate flag", "mg k v v", errMetaDuplicate, NoData},
		{"unknown flag", "mg k z", errMetaInvalidFlag, NoData},
		{"unknown flag wins over a bad token", "mg k Tx z", errMetaInvalidFlag, NoData},
		{"bad E token", "mg k E-1", errMetaBadToken, NoData},
		{"E over 64 bits", "ms k 1 E18446744073709551616", errMetaBadToken, 1},
		{"md bad E token", "md k Ex", errMetaInvalidOrDup, NoData},
		{"bad token", "mg k Tx", errMetaBadToken, NoData},
		{"bad F keeps the format error", "mg k Fx", ErrBadFormat, NoData},
		{"bad F keeps an earlier error", "mg k Tx Fx", errMetaBadToken, NoData},
		{"later error wins", "mg k Tx Mab", errMetaModeLength, NoData},
		{"undecodable key", "mg a b", errMetaDecodeKey, NoData},
		{"too many mg flags", "mg k a b c d e f g h i j k l m n o p q r", errMetaGetTooMany, NoData},
		{"too many md flags", "md k a b c d e f g h i j k l m n o p q r", errMetaTooMany, NoData},
		{"md opaque too long", "md k O" + "12345678901234567890123456789012", errMetaOpaque, NoData},
		{"md flag error", "md k Tx", errMetaInvalidOrDup, NoData},
		{"ma flag error", "ma k zz", errMetaInvalidOrDup, NoData},
		{"ma mode", "ma k MX", errMetaArithMode, NoData},
		{"ms mode swallows", "ms k 3 MX", errMetaSetMode, 3},
		{"ms flag error swallows", "ms k 4 zz", errMetaInvalidFlag, 4},
		{"ms without length", "ms k", ErrBadFormat, NoData},
		{"ms bad length", "ms k -1", ErrBadFormat, NoData},
		{"mg alone", "mg", ErrUnknownCommand, NoData},
		{"me alone", "me", ErrBadFormat, NoData},
		{"me undecodable", "me a b", ErrBadFormat, NoData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCommand([]byte(tt.line))
			assert.Equal(t, tt.want, err)
			assert.Equal(t, tt.dataLen, got.DataLen)
		})
	}
}

func TestMemcachedBase64Decode_AsMemcached(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"YQ==", "a", true},
		{"YWI=", "ab", true},
		{"YWJj", "abc", true},
		{"Y Q = =", "a", true}, // bytes outside the alphabet (a space cannot reach here) are skipped
		{"Y!Q==", "a", true},   // bytes outside the alphabet are skipped
		{"YQ==YWJj", "a", true},
		{"YQ", "", false},
		{"====", "", false},
		{"A===", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := memcachedBase64Decode([]byte(tt.in))
		assert.Equal(t, tt.ok, ok, "%q", tt.in)
		if tt.ok {
			assert.Equal(t, tt.want, string(got), "%q", tt.in)
		}
	}
}

func TestSlabClass_MemcachedDefaults(t *testing.T) {
	// memcached -vv lists its default classes: 96, 120, 152, 192, ...
	for _, tt := range []struct{ size, cls int }{{1, 1}, {96, 1}, {97, 2}, {120, 2}, {121, 3}, {152, 3}, {153, 4}, {1 << 20, 39}} {
		assert.Equal(t, tt.cls, slabClass(tt.size), "size %d", tt.size)
	}
}
