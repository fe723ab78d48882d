package eventual

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/kvcontroller"
)

func TestMerge(t *testing.T) {
	val := func(v uint64, value string, exptime int64) kvcontroller.Item {
		return kvcontroller.Item{Key: "k", Value: []byte(value), Version: v, Exptime: exptime}
	}
	touched := func(it kvcontroller.Item, stamp uint64, exptime int64) kvcontroller.Item {
		it.ExpiryVersion, it.Exptime = stamp, exptime
		return it
	}
	tests := []struct {
		name string
		a, b kvcontroller.Item
		want kvcontroller.Item
	}{
		{"newer value wins", val(1, "a", 0), val(2, "b", 0), val(2, "b", 0)},
		{"touch keeps the value and its unique", val(1, "a", 0), touched(val(1, "a", 0), 5, 100), touched(val(1, "a", 0), 5, 100)},
		{"touch after a newer value applies to it", val(3, "b", 0), touched(val(1, "a", 0), 5, 100), touched(val(3, "b", 0), 5, 100)},
		{"touch before a newer value is dropped", val(6, "b", 0), touched(val(1, "a", 0), 5, 100), val(6, "b", 0)},
		{"newer touch of the same value wins", touched(val(1, "a", 0), 4, 40), touched(val(1, "a", 0), 5, 50), touched(val(1, "a", 0), 5, 50)},
		{"delete beats an older touched value", tombstone("k", 7), touched(val(1, "a", 0), 5, 100), tombstone("k", 7)},
		{"touch after a delete does not bring the key back", tombstone("k", 3), touched(val(1, "a", 0), 5, 100),
			kvcontroller.Item{Key: "k", Version: 3, ExpiryVersion: 5, Exptime: 100, Tombstone: true}},
		{"an expiry that passed, stamped after a newer value, applies to it", val(3, "b", 0), expiredTomb(touched(val(1, "a", 0), 5, 9)),
			touched(val(3, "b", 0), 5, 9)},
		{"same write: the peer that saw it expire wins", val(2, "a", 9), expiredTomb(val(2, "a", 9)), expiredTomb(val(2, "a", 9))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, order := range [][2]kvcontroller.Item{{tt.a, tt.b}, {tt.b, tt.a}} {
				got, same := Merge(order[0], order[1])
				assert.True(t, sameRegisters(tt.want, got), "Merge(%+v, %+v) = %+v, want %+v", order[0], order[1], got, tt.want)
				assert.Equal(t, string(tt.want.Value), string(got.Value))
				assert.Equal(t, sameRegisters(got, order[0]), same, "equal reports whether the first is kept")
			}
		})
	}
}

// TestMerge_OrderDoesNotMatter merges random writes and touches of one key
// in random orders and groupings: every order gives the same item, which
// is what makes replicas converge.
func TestMerge_OrderDoesNotMatter(t *testing.T) {
	const seed = 10
	rng := rand.New(rand.NewPCG(seed, seed))
	// Stamps of one write are unique, as versions are: value writes have
	// odd versions, deletes multiples of 4, touches the rest; an expiry is
	// derived from its stamp, so one stamp always carries one expiry.
	random := func() kvcontroller.Item {
		v := 2*rng.Uint64N(8) + 1
		it := kvcontroller.Item{Key: "k", Value: []byte{byte(v)}, Version: v, Exptime: int64(v) * 10}
		switch rng.IntN(4) {
		case 0:
			return tombstone("k", 4*(rng.Uint64N(4)+1))
		case 1: // touched
			it.ExpiryVersion = 4*(v/4+1+rng.Uint64N(3)) + 2
			it.Exptime = int64(it.ExpiryVersion) * 10
		case 2: // seen expired
			return expiredTomb(it)
		}
		return it
	}
	for round := range 5000 {
		var items []kvcontroller.Item
		for range 2 + rng.IntN(4) {
			items = append(items, random())
		}
		fold := func(order []kvcontroller.Item) kvcontroller.Item {
			acc := order[0]
			for _, it := range order[1:] {
				acc, _ = Merge(acc, it)
			}
			return acc
		}
		want := fold(items)
		for range 4 {
			shuffled := append([]kvcontroller.Item(nil), items...)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			// Right-nested grouping: merge the tail first.
			right := shuffled[len(shuffled)-1]
			for i := len(shuffled) - 2; i >= 0; i-- {
				right, _ = Merge(shuffled[i], right)
			}
			for _, got := range []kvcontroller.Item{fold(shuffled), right} {
				require.True(t, sameRegisters(want, got) && string(want.Value) == string(got.Value),
					"seed %d round %d: items %+v merge to %+v in one order, %+v in another", seed, round, items, want, got)
			}
		}
	}
}

// TestMode_TouchKeepsTheUnique is gets, then gats, then cas with the first
// unique: it stores on the peer that touched and, once they converge, on
// the other peer too; the touch's expiry travels with the item.
func TestMode_TouchKeepsTheUnique(t *testing.T) {
	_, modes := startModes(t, Config{SyncInterval: testInterval}, "a", "b")
	a, b := modes[0], modes[1]
	ctx := context.Background()
	gets := func(m *Mode, op consistency.Op, exptime int64) consistency.Item {
		t.Helper()
		res, err := m.Do(ctx, &consistency.Request{Op: op, Keys: []string{"k"}, Exptime: exptime})
		require.NoError(t, err)
		require.Len(t, res.Items, 1)
		return res.Items[0]
	}
	cas := func(m *Mode, value string, unique uint64) consistency.Status {
		t.Helper()
		res, err := m.Do(ctx, &consistency.Request{Op: consistency.OpCas, Keys: []string{"k"}, Value: []byte(value), Cas: unique})
		require.NoError(t, err)
		return res.Status
	}

	do(t, a, consistency.OpSet, "k", "v1")
	first := gets(a, consistency.OpGets, 0)
	touched := gets(a, consistency.OpGats, 1000)
	assert.Equal(t, first.Version, touched.Version, "gats keeps the unique")
	res, err := a.Do(ctx, &consistency.Request{Op: consistency.OpTouch, Keys: []string{"k"}, Exptime: 2000})
	require.NoError(t, err)
	require.Equal(t, consistency.StatusTouched, res.Status)
	assert.Equal(t, first.Version, gets(a, consistency.OpGets, 0).Version, "touch keeps the unique")
	assert.Equal(t, consistency.StatusStored, cas(a, "v2", first.Version), "cas with the unique from before the touches")

	second := gets(a, consistency.OpGets, 0)
	require.Eventually(t, func() bool {
		it := storedItem(t, b, "k")
		return it != nil && it.Version == second.Version
	}, 5*time.Second, time.Millisecond)
	onB := gets(b, consistency.OpGats, 3000)
	assert.Equal(t, second.Version, onB.Version, "gats on the other peer keeps the unique")
	require.Eventually(t, func() bool {
		it := storedItem(t, a, "k")
		return it != nil && it.ExpiryVersion != 0 && it.Exptime == onB.Exptime
	}, 5*time.Second, time.Millisecond, "b's touch reaches a")
	assert.Equal(t, consistency.StatusStored, cas(a, "v3", second.Version), "cas on a with the unique b's gats returned")
}

// TestMode_ConcurrentSetAndTouchConverge sets a key on one peer and touches
// it on the other while they cannot talk: once they can, both hold the
// same item, the set's value with the touch's expiry when the touch was
// stamped later, the set as it was otherwise.
func TestMode_ConcurrentSetAndTouchConverge(t *testing.T) {
	for _, touchLast := range []bool{false, true} {
		name := map[bool]string{false: "set after touch", true: "touch after set"}[touchLast]
		t.Run(name, func(t *testing.T) {
			n, modes := startModes(t, Config{SyncInterval: testInterval}, "a", "b")
			a, b := modes[0], modes[1]
			ctx := context.Background()
			do(t, a, consistency.OpSet, "k", "old")
			require.Eventually(t, func() bool { return storedItem(t, b, "k") != nil }, 5*time.Second, time.Millisecond)

			n.setDown("a", true)
			touch := func() {
				res, err := b.Do(ctx, &consistency.Request{Op: consistency.OpTouch, Keys: []string{"k"}, Exptime: 5000})
				require.NoError(t, err)
				require.Equal(t, consistency.StatusTouched, res.Status)
			}
			// The later of the two has seen the earlier one's stamp, as an HLC
			// with clocks in step would order them.
			if !touchLast {
				touch()
				a.clock.observe(expiryStamp(*storedItem(t, b, "k")))
			}
			do(t, a, consistency.OpSet, "k", "new")
			if touchLast {
				b.clock.observe(storedItem(t, a, "k").Version)
				touch()
			}
			n.setDown("a", false)

			require.Eventually(t, func() bool {
				x, y := storedItem(t, a, "k"), storedItem(t, b, "k")
				return x != nil && y != nil && sameRegisters(*x, *y) && string(x.Value) == string(y.Value)
			}, 5*time.Second, time.Millisecond, "both peers hold the same item")
			got := storedItem(t, a, "k")
			assert.Equal(t, "new", string(got.Value), "the set's value wins either way")
			if touchLast {
				assert.NotZero(t, got.Exptime, "the later touch's expiry applies to the new value")
			} else {
				assert.Zero(t, got.Exptime, "the earlier touch is overwritten by the set")
			}
		})
	}
}
