package eventual

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/internal/field"
	"github.com/memcons/memcons/kvcontroller"
)

func TestNextVersion_OrdersByTimeThenPeer(t *testing.T) {
	const ms = int64(1_700_000_000_000)
	tests := []struct {
		name    string
		last    uint64
		wall    int64
		ordinal int
		want    uint64
	}{
		{"fresh millisecond", 0, ms, 2, uint64(ms)<<16 | 2},
		{"same millisecond again", uint64(ms)<<16 | 2, ms, 2, uint64(ms)<<16 | 1<<8 | 2},
		{"after another peer's version", uint64(ms)<<16 | 5<<8 | 1, ms, 0, uint64(ms)<<16 | 6<<8},
		{"clock behind last", uint64(ms+10) << 16, ms, 3, uint64(ms+10)<<16 | 1<<8 | 3},
		{"clock ahead", uint64(ms) << 16, ms + 1, 1, uint64(ms+1)<<16 | 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NextVersion(tt.last, tt.wall, tt.ordinal)
			assert.Equal(t, tt.want, got)
			assert.Greater(t, got, tt.last)
			assert.Equal(t, tt.ordinal, VersionOrdinal(got))
		})
	}
	t.Run("same instant breaks ties by peer name", func(t *testing.T) {
		a, b := NextVersion(0, ms, 0), NextVersion(0, ms, 1)
		assert.Less(t, a, b, "the peer later in name order wins a tie")
		assert.Equal(t, ms, VersionTime(b).UnixMilli())
	})
}

func TestCodec_RoundTrip(t *testing.T) {
	items := []kvcontroller.Item{
		{Key: "a", Value: []byte("hello"), Flags: 7, Exptime: 1_800_000_000, Version: 42},
		{Key: "empty", Value: []byte{}, Version: 1},
		{Key: "gone", Value: []byte{}, Version: 3, Tombstone: true},
		{Key: "bin\x00\xff", Value: bytes.Repeat([]byte{0, 1, 2}, 1000), Version: 1 << 60},
		{Key: "chosen cas", Value: []byte("v"), Version: 9, Cas: 5, HasCas: true, Stale: true},
	}
	tests := []struct {
		name string
		f    frame
	}{
		{"push", frame{kind: kindPush, items: items}},
		{"items", frame{kind: kindItems, items: items[:1]}},
		{"empty items", frame{kind: kindItems, items: []kvcontroller.Item{}}},
		{"flush", frame{kind: kindFlush, version: 99}},
		{"request", frame{kind: kindRequest, epoch: 1<<63 + 5, seq: 12}},
		{"complete delta", frame{kind: kindComplete, epoch: 3, seq: 4}},
		{"complete full", frame{kind: kindComplete, epoch: 3, seq: 4, full: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendFrame(nil, tt.f)
			got, n, err := readFrame(bytes.NewReader(b), maxPayload)
			require.NoError(t, err)
			assert.Equal(t, len(b), n)
			assert.Equal(t, tt.f, got)
		})
	}
}

// TestCodec_PushFrameAppendsAfterDst checks that the push encoder used by
// sendPushes appends frames that read back whole, one after another in one
// buffer, and that it encodes nothing for no entries.
func TestCodec_PushFrameAppendsAfterDst(t *testing.T) {
	entries := []pushEntry{
		{item: kvcontroller.Item{Key: "a", Value: []byte("hello"), Flags: 7, Version: 42}},
		{item: kvcontroller.Item{Key: "gone", Value: []byte{}, Version: 3, Tombstone: true}},
	}
	tests := []struct {
		name    string
		entries []pushEntry
		frames  int
	}{
		{"none", nil, 0},
		{"one", entries[:1], 1},
		{"two", entries, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := appendFrame(nil, frame{kind: kindFlush, version: 9})
			b := appendPushFrame(bytes.Clone(prefix), tt.entries)
			r := bytes.NewReader(b)
			first, _, err := readFrame(r, maxPayload)
			require.NoError(t, err)
			assert.Equal(t, frame{kind: kindFlush, version: 9}, first)
			if tt.frames == 0 {
				assert.Equal(t, len(prefix), len(b))
				return
			}
			got, _, err := readFrame(r, maxPayload)
			require.NoError(t, err)
			want := frame{kind: kindPush}
			for _, e := range tt.entries {
				want.items = append(want.items, e.item)
			}
			assert.Equal(t, want, got)
			assert.Zero(t, r.Len(), "one frame per call")
		})
	}
}

func TestCodec_RefusesBadFrames(t *testing.T) {
	good := appendFrame(nil, frame{kind: kindPush, items: []kvcontroller.Item{{Key: "k", Value: []byte("v"), Version: 1}}})
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x40
		return b
	}
	tests := []struct {
		name string
		b    []byte
		max  int
	}{
		{"payload bit flipped", flip(len(good) - 1), maxPayload},
		{"checksum bit flipped", flip(6), maxPayload},
		{"kind changed", flip(0), maxPayload},
		{"truncated", good[:len(good)-2], maxPayload},
		{"too large", good, 4},
		{"unknown kind", appendFrame(nil, frame{kind: 'Z'}), maxPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readFrame(bytes.NewReader(tt.b), tt.max)
			assert.Error(t, err)
		})
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(appendFrame(nil, frame{kind: kindPush, items: []kvcontroller.Item{{Key: "k", Value: []byte("v"), Version: 1}}}))
	f.Add(appendFrame(nil, frame{kind: kindPush, items: []kvcontroller.Item{{Key: "k", Value: []byte("v"), Version: 2, Cas: 7, HasCas: true}}}))
	f.Add(appendFrame(nil, frame{kind: kindComplete, epoch: 1, seq: 2, full: true}))
	f.Add(appendFrame(nil, frame{kind: kindRequest, epoch: 1, seq: 2}))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, _, err := readFrame(bytes.NewReader(b), 1<<20)
		if err != nil {
			return
		}
		// A frame that decodes encodes back to the same frame.
		again, _, err := readFrame(bytes.NewReader(appendFrame(nil, fr)), 1<<20)
		require.NoError(t, err)
		require.Equal(t, len(fr.items), len(again.items))
	})
}

func TestRecentLog_Bounds(t *testing.T) {
	tests := []struct {
		name     string
		size     int
		adds     []string
		since    uint64
		wantKeys []string
		wantOK   bool
	}{
		{"empty log, from zero", 4, nil, 0, nil, true},
		{"all entries, deduplicated", 4, []string{"a", "b", "a"}, 0, []string{"a", "b"}, true},
		{"after a point", 4, []string{"a", "b", "c"}, 2, []string{"c"}, true},
		{"up to date", 4, []string{"a", "b"}, 2, nil, true},
		{"oldest entry still held", 3, []string{"a", "b", "c", "d", "e"}, 2, []string{"c", "d", "e"}, true},
		{"older than the log", 3, []string{"a", "b", "c", "d", "e"}, 1, nil, false},
		{"from the future (another epoch)", 3, []string{"a"}, 5, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newRecentLog(tt.size)
			for _, k := range tt.adds {
				l.add(k)
			}
			keys, head, ok := l.since(tt.since)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.wantKeys, keys)
			assert.Equal(t, uint64(len(tt.adds)), head)
			assert.LessOrEqual(t, l.len(), tt.size)
			assert.Equal(t, min(len(tt.adds), tt.size), l.len())
		})
	}
}

func TestTombSet_LimitAndCollection(t *testing.T) {
	s := newTombSet(3)
	var evicted []tomb
	for i := range 10 {
		evicted = append(evicted, s.add(tomb{key: fmt.Sprintf("k%d", i), version: uint64(i + 1), seq: uint64(i + 1)})...)
		require.LessOrEqual(t, s.len(), 3)
	}
	assert.Len(t, evicted, 7, "the oldest go first")
	assert.Equal(t, "k0", evicted[0].key)

	// A key overwritten by a put is forgotten; upTo returns those at or
	// below a seq; remove ignores a tombstone that was replaced.
	s.forget("k9")
	assert.Equal(t, 2, s.len())
	upTo := s.upTo(8)
	require.Len(t, upTo, 1)
	assert.Equal(t, "k7", upTo[0].key)
	s.add(tomb{key: "k7", version: 50, seq: 50})
	s.remove(upTo[0])
	assert.Equal(t, 2, s.len(), "the newer tombstone of k7 stays")
	s.below(51)
	assert.Equal(t, 0, s.len(), "a flush drops older tombstones")

	// Many replacements of one key keep the bookkeeping small.
	for i := range 1000 {
		s.add(tomb{key: "same", version: uint64(100 + i), seq: uint64(100 + i)})
	}
	assert.Equal(t, 1, s.len())
	assert.Less(t, len(s.order), 200)
}

func TestConfig_DefaultsAndValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		want    time.Duration // PushDelay after defaults
		wantErr string
	}{
		{"defaults", Config{}, DefaultPushDelay, ""},
		{"short sync interval caps the default delay", Config{SyncInterval: 2 * time.Millisecond}, 2 * time.Millisecond, ""},
		{"explicit delay", Config{PushDelay: time.Millisecond}, time.Millisecond, ""},
		{"delay above sync interval", Config{SyncInterval: 100 * time.Millisecond, PushDelay: 500 * time.Millisecond}, 500 * time.Millisecond,
			"PushDelay must be at most SyncInterval (100ms), got 500ms"},
		{"delay above its bound", Config{SyncInterval: time.Minute, PushDelay: 2 * time.Second}, 2 * time.Second, "PushDelay must be between 1µs and 1s, got 2s"},
		{"negative delay", Config{PushDelay: -time.Millisecond}, -time.Millisecond, "PushDelay must be between 1µs and 1s, got -1ms"},
		{"tiny sync interval", Config{SyncInterval: time.Microsecond}, time.Microsecond, "SyncInterval must be at least 1ms, got 1µs"},
		{"huge batch", Config{PushBatch: 1 << 20}, DefaultPushDelay, "PushBatch must be between 1 and 65536, got 1048576"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg.WithDefaults()
			assert.Equal(t, tt.want, c.PushDelay)
			err := c.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestConfig_ValidateChecksEveryField(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	fields, rest := field.All(Config{}.Validate())
	assert.Empty(t, rest)
	var paths []string
	for _, f := range fields {
		assert.ErrorIs(t, f, ErrInvalidConfig)
		paths = append(paths, f.Path())
	}
	assert.Equal(t, []string{
		"eventual.Config.SyncInterval", "eventual.Config.RecentLogSize", "eventual.Config.PushQueue",
		"eventual.Config.PushBatch", "eventual.Config.PushDelay",
	}, paths, "a zero field is an error: only New reads it as the default")
}
