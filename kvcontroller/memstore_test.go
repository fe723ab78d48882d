package kvcontroller

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemStore_Contract(t *testing.T) {
	testStore(t, func(t *testing.T, now func() time.Time) Store {
		return NewMemStore(MemStoreOptions{Now: now})
	})
}

func TestNewMemStore_Defaults(t *testing.T) {
	tests := []struct {
		name  string
		limit int64
		want  uint64
	}{
		{"zero", 0, DefaultMemStoreLimit},
		{"negative", -5, DefaultMemStoreLimit},
		{"given", 1000, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := NewMemStore(MemStoreOptions{LimitBytes: tt.limit}).Stats(context.Background())
			require.NoError(t, err)
			assert.Equal(t, tt.want, st.LimitBytes)
		})
	}
}

// sizedItem returns an item whose MemStore size is exactly size bytes.
func sizedItem(key string, size int) Item {
	return Item{Key: key, Value: bytes.Repeat([]byte("v"), size-len(key)-MemItemOverhead)}
}

func memKeys(t *testing.T, s *MemStore) []string {
	t.Helper()
	var keys []string
	require.NoError(t, s.Dump(context.Background(), func(it Item) error {
		keys = append(keys, it.Key)
		return nil
	}))
	return keys
}

func TestMemStore_EvictsLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore(MemStoreOptions{LimitBytes: 300})
	for _, k := range []string{"a", "b", "c"} {
		require.NoError(t, s.Set(ctx, sizedItem(k, 100)))
	}
	require.Equal(t, []string{"c", "b", "a"}, memKeys(t, s), "full, nothing evicted yet")

	require.NoError(t, s.Set(ctx, sizedItem("d", 100)))
	assert.Equal(t, []string{"d", "c", "b"}, memKeys(t, s), "oldest write evicted")

	_, err := s.Get(ctx, "b") // b becomes most recently used
	require.NoError(t, err)
	require.NoError(t, s.Set(ctx, sizedItem("e", 100)))
	assert.Equal(t, []string{"e", "b", "d"}, memKeys(t, s), "recently read item survives")

	require.NoError(t, s.Set(ctx, sizedItem("big", 250)))
	assert.Equal(t, []string{"big"}, memKeys(t, s), "a large item evicts several")

	st, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(5), st.Evictions)
	assert.Equal(t, uint64(250), st.Bytes)
}

func TestMemStore_GetMultiAndOverwriteRefreshRecency(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore(MemStoreOptions{LimitBytes: 300})
	for _, k := range []string{"a", "b", "c"} {
		require.NoError(t, s.Set(ctx, sizedItem(k, 100)))
	}
	_, err := s.GetMulti(ctx, []string{"a"})
	require.NoError(t, err)
	require.NoError(t, s.Set(ctx, sizedItem("b", 100))) // overwrite refreshes b
	require.NoError(t, s.Set(ctx, sizedItem("d", 100)))
	assert.Equal(t, []string{"d", "b", "a"}, memKeys(t, s))
}

func TestMemStore_ByteBoundHolds(t *testing.T) {
	ctx := context.Background()
	const limit = 64 << 10
	s := NewMemStore(MemStoreOptions{LimitBytes: limit})
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		key := fmt.Sprintf("k%d", rng.IntN(400))
		it := Item{Key: key, Value: make([]byte, rng.IntN(4000)), Tombstone: i%7 == 0}
		require.NoError(t, s.Set(ctx, it))
		if i%5 == 0 {
			_ = s.Delete(ctx, fmt.Sprintf("k%d", rng.IntN(400)))
		}
		st, err := s.Stats(ctx)
		require.NoError(t, err)
		require.LessOrEqual(t, st.Bytes, uint64(limit), "after insert %d", i)
	}

	// Bytes and Items agree with what the store holds.
	var sum, live uint64
	require.NoError(t, s.Dump(ctx, func(it Item) error {
		sum += uint64(itemSize(it.Key, len(it.Value)))
		if !it.Tombstone {
			live++
		}
		return nil
	}))
	st, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, sum, st.Bytes)
	assert.Equal(t, live, st.Items)
	assert.NotZero(t, st.Evictions)
}

func TestMemStore_TooLarge(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		size    int
		wantErr bool
	}{
		{"exactly the limit", 1000, false},
		{"one byte over", 1001, true},
		{"far over", 10000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewMemStore(MemStoreOptions{LimitBytes: 1000})
			require.NoError(t, s.Set(ctx, sizedItem("k", 200)))
			require.NoError(t, s.Set(ctx, sizedItem("other", 200)))

			err := s.Set(ctx, sizedItem("k", tt.size))
			_, getErr := s.Get(ctx, "k")
			if !tt.wantErr {
				require.NoError(t, err)
				assert.NoError(t, getErr)
				return
			}
			assert.ErrorIs(t, err, ErrTooLarge)
			assert.ErrorIs(t, getErr, ErrNotFound, "old item dropped, as memcached does")
			_, err = s.Get(ctx, "other")
			assert.NoError(t, err, "other items untouched")
		})
	}
}

func TestMemStore_ExpiredItemsReclaimedNotEvicted(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	s := NewMemStore(MemStoreOptions{LimitBytes: 300, Now: clock.Now})
	require.NoError(t, s.Set(ctx, Item{Key: "old", Value: []byte("v"), Exptime: clock.Unix() + 1}))
	require.NoError(t, s.Set(ctx, sizedItem("a", 100)))
	require.NoError(t, s.Set(ctx, Item{Key: "gone", Value: []byte("v"), Exptime: clock.Unix() + 1}))
	clock.Advance(time.Second)

	_, err := s.Get(ctx, "gone")
	require.ErrorIs(t, err, ErrNotFound)
	st, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(itemSize("old", 1)+100), st.Bytes, "expired item reclaimed on Get")

	require.NoError(t, s.Set(ctx, sizedItem("b", 199)))
	st, err = s.Stats(ctx)
	require.NoError(t, err)
	assert.Zero(t, st.Evictions, "dropping an expired item is no eviction")
	assert.Equal(t, []string{"b", "a"}, memKeys(t, s))
}

func TestMemStore_StatsExcludeTombstones(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore(MemStoreOptions{})
	require.NoError(t, s.Set(ctx, Item{Key: "a", Value: []byte("v")}))
	require.NoError(t, s.Set(ctx, Item{Key: "t", Tombstone: true}))
	st, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), st.Items)

	require.NoError(t, s.Set(ctx, Item{Key: "a", Tombstone: true})) // live -> tombstone
	require.NoError(t, s.Set(ctx, Item{Key: "t", Value: []byte("v")}))
	require.NoError(t, s.Set(ctx, Item{Key: "u", Value: []byte("v")}))
	st, err = s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), st.Items)
	assert.Equal(t, uint64(itemSize("a", 0)+itemSize("t", 1)+itemSize("u", 1)), st.Bytes)
}

func TestMemStore_DumpCallbackMayUseStore(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore(MemStoreOptions{})
	for i := range 10 {
		require.NoError(t, s.Set(ctx, Item{Key: fmt.Sprintf("k%d", i), Value: []byte("v")}))
	}
	var n int
	err := s.Dump(ctx, func(it Item) error {
		n++
		return s.Set(ctx, Item{Key: strings.ToUpper(it.Key), Value: it.Value})
	})
	require.NoError(t, err)
	assert.Equal(t, 10, n, "items written during Dump are not dumped")
}
