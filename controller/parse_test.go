package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/kvcontroller"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Command
		err  error
	}{
		{"get one", "get k", Command{Name: "get", Op: consistency.OpGet, Keys: []string{"k"}, DataLen: NoData}, nil},
		{"get many with CR", "get a b c\r", Command{Name: "get", Op: consistency.OpGet, Keys: []string{"a", "b", "c"}, DataLen: NoData}, nil},
		{"gets", "gets a", Command{Name: "gets", Op: consistency.OpGets, Keys: []string{"a"}, DataLen: NoData}, nil},
		{"gat", "gat -5 a b", Command{Name: "gat", Op: consistency.OpGat, Keys: []string{"a", "b"}, Exptime: -5, DataLen: NoData}, nil},
		{"gats without keys", "gats 5", Command{Name: "gats", Op: consistency.OpGats, Exptime: 5, DataLen: NoData}, nil},
		{"set", "set k 1 2 3", Command{Name: "set", Op: consistency.OpSet, Keys: []string{"k"}, Flags: 1, Exptime: 2, DataLen: 3}, nil},
		{"set noreply", "set k 1 2 3 noreply", Command{Name: "set", Op: consistency.OpSet, Keys: []string{"k"}, Flags: 1, Exptime: 2, DataLen: 3, Noreply: true}, nil},
		{"cas", "cas k 0 0 1 18446744073709551615", Command{Name: "cas", Op: consistency.OpCas, Keys: []string{"k"}, DataLen: 1, Cas: 1<<64 - 1}, nil},
		{"exptime wraps to 32 bits", "set k 0 4294967297 1", Command{Name: "set", Op: consistency.OpSet, Keys: []string{"k"}, Exptime: 1, DataLen: 1}, nil},
		{"incr", "incr k 18446744073709551615", Command{Name: "incr", Op: consistency.OpIncr, Keys: []string{"k"}, Delta: 1<<64 - 1, DataLen: NoData}, nil},
		{"decr noreply", "decr k 2 noreply", Command{Name: "decr", Op: consistency.OpDecr, Keys: []string{"k"}, Delta: 2, Noreply: true, DataLen: NoData}, nil},
		{"delete", "delete k", Command{Name: "delete", Op: consistency.OpDelete, Keys: []string{"k"}, DataLen: NoData}, nil},
		{"delete 0 noreply", "delete k 0 noreply", Command{Name: "delete", Op: consistency.OpDelete, Keys: []string{"k"}, Noreply: true, DataLen: NoData}, nil},
		{"touch", "touch k 10", Command{Name: "touch", Op: consistency.OpTouch, Keys: []string{"k"}, Exptime: 10, DataLen: NoData}, nil},
		{"flush_all", "flush_all", Command{Name: "flush_all", Op: consistency.OpFlushAll, DataLen: NoData}, nil},
		{"flush_all delay noreply", "flush_all 9 noreply", Command{Name: "flush_all", Op: consistency.OpFlushAll, Exptime: 9, Noreply: true, DataLen: NoData}, nil},
		{"flush_all ignores a third word", "flush_all 9 x", Command{Name: "flush_all", Op: consistency.OpFlushAll, Exptime: 9, DataLen: NoData}, nil},
		{"verbosity", "verbosity 7", Command{Name: "verbosity", Level: 7, DataLen: NoData}, nil},
		{"stats group", "stats cluster extra", Command{Name: "stats", Arg: "cluster", DataLen: NoData}, nil},
		{"version", "version", Command{Name: "version", DataLen: NoData}, nil},
		{"quit", "quit", Command{Name: "quit", DataLen: NoData}, nil},
		{"NUL ends the line", "get a\x00 b", Command{Name: "get", Op: consistency.OpGet, Keys: []string{"a"}, DataLen: NoData}, nil},

		{"empty", "", Command{}, ErrUnknownCommand},
		{"lone CR", "\r", Command{}, ErrUnknownCommand},
		{"one letter", "g", Command{}, ErrUnknownCommand},
		{"unknown", "frobnicate k", Command{}, ErrUnknownCommand},
		{"unknown meta", "mz k v", Command{}, ErrUnknownCommand},
		{"http", "POST /x HTTP/1.0", Command{}, ErrHTTP},
		{"http-looking get", "get / HTTP/1.1", Command{Name: "get", Op: consistency.OpGet, Keys: []string{"/", "HTTP/1.1"}, DataLen: NoData}, nil},
		{"get without key", "get", Command{Name: "get", Op: consistency.OpGet}, ErrUnknownCommand},
		{"key too long", "get " + strings.Repeat("k", 251), Command{Name: "get", Op: consistency.OpGet}, ErrBadFormat},
		{"key with control chars", "get a\x7fb c\x01", Command{Name: "get", Op: consistency.OpGet, Keys: []string{"a\x7fb", "c\x01"}, DataLen: NoData}, nil},
		{"bad flags noreply", "set k x 0 1 noreply", Command{Name: "set", Op: consistency.OpSet, Noreply: true}, ErrBadFormat},
		{"negative length", "set k 0 0 -1", Command{Name: "set", Op: consistency.OpSet}, ErrBadFormat},
		{"length near INT_MAX", "set k 0 0 2147483646", Command{Name: "set", Op: consistency.OpSet}, ErrBadFormat},
		{"bad delta", "incr k -1", Command{Name: "incr", Op: consistency.OpIncr}, ErrBadDelta},
		{"bad touch exptime", "touch k 1.5", Command{Name: "touch", Op: consistency.OpTouch}, ErrBadExptime},
		{"bad gat exptime", "gat x k", Command{Name: "gat", Op: consistency.OpGat}, ErrBadExptime},
		{"delete hold", "delete k 5", Command{Name: "delete", Op: consistency.OpDelete}, ErrDeleteUsage},
		{"bad flush delay", "flush_all soon", Command{Name: "flush_all", Op: consistency.OpFlushAll}, ErrBadExptime},
		{"bad verbosity", "verbosity loud", Command{Name: "verbosity"}, ErrBadFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCommand([]byte(tc.line))
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.Equal(t, tc.want.Name, got.Name)
				assert.Equal(t, tc.want.Op, got.Op)
				assert.Equal(t, tc.want.Noreply, got.Noreply)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseCommand_DoesNotKeepTheLine(t *testing.T) {
	line := []byte("get alpha beta")
	cmd, err := ParseCommand(line)
	require.NoError(t, err)
	copy(line, bytes.Repeat([]byte("x"), len(line)))
	assert.Equal(t, []string{"alpha", "beta"}, cmd.Keys)
}

func TestNumbers_LikeMemcached(t *testing.T) {
	type res struct {
		v  uint64
		ok bool
	}
	tests := []struct {
		tok      string
		u64, u32 res
		i32      int32
		i32ok    bool
	}{
		{"0", res{0, true}, res{0, true}, 0, true},
		{"42", res{42, true}, res{42, true}, 42, true},
		{"+7", res{7, true}, res{7, true}, 7, true},
		{"-0", res{0, true}, res{0, true}, 0, true},
		{"-1", res{0, false}, res{0, false}, -1, true},
		{"\t5", res{5, true}, res{5, true}, 5, true},
		{"5\t", res{5, true}, res{5, true}, 5, true},
		{"5\tjunk", res{5, true}, res{5, true}, 5, true},
		{"5x", res{0, false}, res{0, false}, 0, false},
		{"0x1", res{0, false}, res{0, false}, 0, false},
		{"", res{0, false}, res{0, false}, 0, false},
		{"-", res{0, false}, res{0, false}, 0, false},
		{"4294967296", res{1 << 32, true}, res{0, true}, 0, true},
		{"4294967297", res{1<<32 + 1, true}, res{1, true}, 1, true},
		{"2147483648", res{1 << 31, true}, res{1 << 31, true}, -1 << 31, true},
		{"18446744073709551615", res{1<<64 - 1, true}, res{1<<32 - 1, true}, 0, false},
		{"18446744073709551616", res{0, false}, res{0, false}, 0, false},
		{"9223372036854775807", res{1<<63 - 1, true}, res{1<<32 - 1, true}, -1, true},
		{"-9223372036854775808", res{0, false}, res{0, false}, 0, true},
		{"-9223372036854775809", res{1<<63 - 1, true}, res{1<<32 - 1, true}, 0, false},
		{"-18446744073709551615", res{1, true}, res{1, true}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.tok, func(t *testing.T) {
			v, ok := parseUint64([]byte(tc.tok))
			assert.Equal(t, tc.u64, res{v, ok}, "strtoull")
			v32, ok := parseUint32([]byte(tc.tok))
			assert.Equal(t, tc.u32, res{uint64(v32), ok}, "strtoul")
			i, ok := parseInt32([]byte(tc.tok))
			assert.Equal(t, tc.i32ok, ok, "strtol ok")
			if ok {
				assert.Equal(t, tc.i32, i, "strtol")
			}
		})
	}
}

func TestCheckItemSize(t *testing.T) {
	limit := 1 << 20
	tests := []struct {
		name  string
		key   string
		flags uint32
		n     int
		ok    bool
	}{
		{"fits", "k", 0, limit - 60, true},
		{"one over", "k", 0, limit - 59, false},
		{"flags cost four bytes", "k", 1, limit - 64, true},
		{"flags one over", "k", 1, limit - 63, false},
		{"longer key", "abc", 1, limit - 66, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := Command{Keys: []string{tc.key}, Flags: tc.flags, DataLen: tc.n}
			err := CheckItemSize(&cmd, limit)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrObjectTooLarge)
			}
		})
	}
	assert.NoError(t, CheckItemSize(&Command{DataLen: NoData}, limit))
}

func TestCheckPartialLine(t *testing.T) {
	long := strings.Repeat("k ", 1500)
	tests := []struct {
		name string
		buf  string
		max  int
		ok   bool
	}{
		{"short", "set k", 8192, true},
		{"2048 bytes", strings.Repeat("x", 2048), 8192, true},
		{"2049 bytes", strings.Repeat("x", 2049), 8192, false},
		{"long get", "get " + long, 8192, true},
		{"long gets after spaces", strings.Repeat(" ", 100) + "gets " + long, 8192, true},
		{"too many spaces", strings.Repeat(" ", 101) + "get " + long, 8192, false},
		{"long gat", "gat 0 " + long, 8192, false},
		{"get past the limit", "get " + long, 2000, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPartialLine([]byte(tc.buf), tc.max)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrLineTooLong)
			}
		})
	}
}

func TestSplitDataBlock(t *testing.T) {
	v, rest, complete, err := SplitDataBlock([]byte("abc\r\nget"), 3)
	require.True(t, complete)
	require.NoError(t, err)
	assert.Equal(t, "abc", string(v))
	assert.Equal(t, "get", string(rest))

	_, _, complete, _ = SplitDataBlock([]byte("abc\r"), 3)
	assert.False(t, complete)

	_, rest, complete, err = SplitDataBlock([]byte("abcd\r\n"), 3)
	require.True(t, complete)
	assert.ErrorIs(t, err, ErrBadDataChunk)
	assert.Equal(t, "\n", string(rest), "the block is consumed all the same")
}

func TestErrorReply(t *testing.T) {
	deadline := fmt.Errorf("forward to peer1: %w", context.DeadlineExceeded)
	tests := []struct {
		name  string
		err   error
		line  string
		close bool
	}{
		{"protocol error", ErrBadFormat, "CLIENT_ERROR bad command line format", false},
		{"protocol error that closes", ErrLineTooLong, "line too long", true},
		{"non-numeric", consistency.ErrNonNumeric, replyNonNumeric, false},
		{"no quorum names the silent peers", fmt.Errorf("set: %w", &consistency.NoLeaderError{NoQuorum: true, Unreachable: []string{"peer2", "peer3"}, Cause: deadline}),
			"SERVER_ERROR no leader: cluster has no quorum (peer2, peer3 unreachable)", false},
		{"no quorum, silent peers unknown", &consistency.NoLeaderError{NoQuorum: true}, "SERVER_ERROR no leader: cluster has no quorum", false},
		{"leader unreachable", &consistency.NoLeaderError{Leader: "peer1", Cause: deadline}, "SERVER_ERROR no leader reachable: retry or use another peer", false},
		{"election", &consistency.NoLeaderError{}, "SERVER_ERROR no leader: election in progress, retry", false},
		{"outcome unknown", fmt.Errorf("forwarded to leader peer1: %w, %w: %w", consistency.ErrUnavailable, consistency.ErrOutcomeUnknown, deadline),
			"SERVER_ERROR timeout: outcome unknown", false},
		{"stopping", fmt.Errorf("%w, %w", consistency.ErrUnavailable, consistency.ErrStopping), "SERVER_ERROR shutting down: use another peer", false},
		{"cancelled by the closing server", fmt.Errorf("read %q: replica call: %w", "k", context.Canceled), "SERVER_ERROR shutting down: use another peer", false},
		{"replica", fmt.Errorf("read %q: %w: memcached get: %w", "k", kvcontroller.ErrBackend, os.ErrDeadlineExceeded), "SERVER_ERROR replica unavailable", false},
		{"key the replica cannot hold", fmt.Errorf("store %q: %w: %w (300 bytes)", "k", kvcontroller.ErrBackend, kvcontroller.ErrKeyUnstorable),
			"SERVER_ERROR key too long for the replica once escaped", false},
		{"timeout", fmt.Errorf("%w: waiting for a read index: %w", consistency.ErrUnavailable, context.DeadlineExceeded), "SERVER_ERROR timeout: retry", false},
		{"unavailable", fmt.Errorf("%w: raft not started", consistency.ErrUnavailable), "SERVER_ERROR unavailable: retry later", false},
		{"anything else keeps its text out of the reply", errors.New("ordered: a\nb"), "SERVER_ERROR internal error: see the peer's log", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			line, closeConn := errorReply(tc.err)
			assert.Equal(t, tc.line, line)
			assert.Equal(t, tc.close, closeConn)
		})
	}
}

// FuzzParse feeds arbitrary lines to the pure parser and the line and data
// block checks: nothing may panic, errors are protocol errors, and accepted
// commands are well-formed.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"get a b c", "gets k\r", "gat 10 k", "set k 0 0 5", "cas k 1 2 3 4 noreply",
		"incr k 18446744073709551615", "delete k 0 noreply", "touch k -1",
		"flush_all 10 noreply", "verbosity 1", "stats settings", "version", "quit",
		"set k 4294967296 -1 2147483647", "GET / HTTP/1.1", "\x00", "  \r", "mg k v",
		"get " + strings.Repeat("k", 251), "set a\x01b 0 0 1",
		// The meta commands: protocol.txt's examples, every flag, bad tokens.
		"ms k 2 T0 F5", "mg k v f t c", "mn", "mg k s v f t k O1 h l u q c",
		"mg k N30 R10 T60 E5", "mg k v v", "mg k Tx", "mg a== b k v", "mg !!! b",
		"ms k 1 MA N30 C123 I c k O9 q", "ms k x", "ms k -1 T1", "ms k 1 MX",
		"md k I T30 C5 q k O1 x", "md k q q", "ma k N0 J10 D5 MD T1 t c v k O3 q",
		"ma k M+", "ma k Mxx", "ma k D18446744073709551616", "me k", "me a== b", "me",
		"mg k " + strings.Repeat("v ", 18), "mg k O" + strings.Repeat("o", 32),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		cmd, err := ParseCommand(line)
		_ = CheckPartialLine(line, 4096)
		if len(line) > 0 {
			_, _, _, _ = SplitDataBlock(line, int(line[0])%8)
		}
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseCommand(%q) error %v is not a *ProtocolError", line, err)
			}
			return
		}
		if cmd.Name == "" {
			t.Fatalf("ParseCommand(%q) accepted a command without a name", line)
		}
		binary := cmd.Meta != nil && cmd.Meta.Binary // a base64 key may decode to any bytes
		for _, k := range cmd.Keys {
			if !validKey([]byte(k)) || k == "" || (strings.Contains(k, " ") && !binary) {
				t.Fatalf("ParseCommand(%q) accepted key %q", line, k)
			}
		}
		if cmd.DataLen < NoData || (cmd.DataLen != NoData && len(cmd.Keys) != 1) {
			t.Fatalf("ParseCommand(%q) = DataLen %d with %d keys", line, cmd.DataLen, len(cmd.Keys))
		}
		if cmd.DataLen != NoData {
			_ = CheckItemSize(&cmd, 1<<20)
		}
		if m := cmd.Meta; m != nil {
			checkMetaFlags(t, line, &cmd)
		}
	})
}

// checkMetaFlags checks what the meta parser promises of a line it
// accepted: one key, each flag once, an opaque token memcached would copy
// back, and the ops' options only from the flags that set them.
func checkMetaFlags(t *testing.T, line []byte, cmd *Command) {
	m := cmd.Meta
	if len(cmd.Keys) != 1 {
		t.Fatalf("ParseCommand(%q): meta command with %d keys", line, len(cmd.Keys))
	}
	seen := map[byte]bool{}
	for i := 0; i < len(m.Letters); i++ {
		if seen[m.Letters[i]] {
			t.Fatalf("ParseCommand(%q): flag %q accepted twice", line, m.Letters[i])
		}
		seen[m.Letters[i]] = true
	}
	if (len(m.Opaque) > metaMaxOpaque) != m.OpaqueTooLong || (m.Opaque != "") != seen['O'] {
		t.Fatalf("ParseCommand(%q): opaque %q", line, m.Opaque)
	}
	a := &m.Args
	if a.TTL != seen['T'] || a.Vivify != seen['N'] || a.Recache != seen['R'] || a.CompareCas != seen['C'] || a.Invalidate != seen['I'] {
		t.Fatalf("ParseCommand(%q): options %+v from flags %q", line, *a, m.Letters)
	}
	for i := 0; i < len(a.Order); i++ {
		if !seen[a.Order[i]] || !strings.ContainsRune("TNR", rune(a.Order[i])) {
			t.Fatalf("ParseCommand(%q): order %q", line, a.Order)
		}
	}
}
