package consistency

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/kvcontroller"
)

func metaItem(mut func(*kvcontroller.Item)) *kvcontroller.Item {
	it := item("k", "v")
	if mut != nil {
		mut(it)
	}
	return it
}

func TestApplyWrite_MetaCommands(t *testing.T) {
	const version = 99
	stale := func(it *kvcontroller.Item) { it.Stale = true }
	staleSent := func(it *kvcontroller.Item) { it.Stale, it.WinSent = true, true }
	sent := func(it *kvcontroller.Item) { it.WinSent = true }
	mg := func(m MetaArgs, exptime int64) Request {
		return Request{Op: OpMetaGet, Keys: []string{"k"}, Exptime: exptime, Meta: m}
	}
	ms := func(m MetaArgs, cas uint64) Request {
		return Request{Op: OpMetaSet, Keys: []string{"k"}, Value: []byte("n"), Flags: 2, Exptime: testNow + 9, Cas: cas, Meta: m}
	}
	tests := []struct {
		name     string
		req      Request
		cur      *kvcontroller.Item
		wantKind EffectKind
		wantItem kvcontroller.Item // the stored item, when wantKind is EffectPut
		want     Result
	}{
		{"mg miss", mg(MetaArgs{}, 0), nil, EffectNone, kvcontroller.Item{}, Result{Status: StatusNotFound}},
		{"mg plain hit changes nothing", mg(MetaArgs{}, 0), metaItem(nil), EffectNone, kvcontroller.Item{},
			Result{Items: []Item{HitOf(*item("k", "v"))}, Meta: MetaOutcome{PrevExptime: testNow + 100}}},
		{"mg vivify wins", mg(MetaArgs{Order: "N", Vivify: true, VivifyExptime: testNow + 30}, 0), nil, EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte{}, Exptime: testNow + 30, Version: version, WinSent: true},
			Result{Items: []Item{{Key: "k", Value: []byte{}, Exptime: testNow + 30, Version: version, WinSent: true}}, Meta: MetaOutcome{Created: true, Won: true}}},
		{"mg touch keeps the unique", mg(MetaArgs{Order: "T", TTL: true}, testNow+5), metaItem(nil), EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("v"), Flags: 7, Exptime: testNow + 5, Version: 40},
			Result{Items: []Item{{Key: "k", Value: []byte("v"), Flags: 7, Exptime: testNow + 5, Version: 40}}, Meta: MetaOutcome{PrevExptime: testNow + 100}}},
		{"mg recache wins below the threshold", mg(MetaArgs{Order: "R", Recache: true, RecacheExptime: testNow + 200}, 0), metaItem(nil), EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("v"), Flags: 7, Exptime: testNow + 100, Version: 40, WinSent: true},
			Result{Items: []Item{{Key: "k", Value: []byte("v"), Flags: 7, Exptime: testNow + 100, Version: 40, WinSent: true}}, Meta: MetaOutcome{Won: true, PrevExptime: testNow + 100}}},
		{"mg recache tests the TTL set before it", mg(MetaArgs{Order: "TR", TTL: true, Recache: true, RecacheExptime: testNow + 200}, testNow+300), metaItem(nil), EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("v"), Flags: 7, Exptime: testNow + 300, Version: 40},
			Result{Items: []Item{{Key: "k", Value: []byte("v"), Flags: 7, Exptime: testNow + 300, Version: 40}}, Meta: MetaOutcome{PrevExptime: testNow + 100}}},
		{"mg R0 never wins, even after a T to the past", mg(MetaArgs{Order: "TR", TTL: true, Recache: true}, expiredNow), metaItem(nil), EffectDelete, kvcontroller.Item{},
			Result{Items: []Item{{Key: "k", Value: []byte("v"), Flags: 7, Exptime: expiredNow, Version: 40}}, Meta: MetaOutcome{PrevExptime: testNow + 100}}},
		{"mg recache after a win sees Z", mg(MetaArgs{Order: "R", Recache: true, RecacheExptime: testNow + 200}, 0), metaItem(sent), EffectNone, kvcontroller.Item{},
			Result{Items: []Item{{Key: "k", Value: []byte("v"), Flags: 7, Exptime: testNow + 100, Version: 40, WinSent: true}}, Meta: MetaOutcome{WinSent: true, PrevExptime: testNow + 100}}},
		{"mg stale first fetch wins", mg(MetaArgs{}, 0), metaItem(stale), EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("v"), Flags: 7, Exptime: testNow + 100, Version: 40, Stale: true, WinSent: true},
			Result{Items: []Item{{Key: "k", Value: []byte("v"), Flags: 7, Exptime: testNow + 100, Version: 40, Stale: true, WinSent: true}}, Meta: MetaOutcome{Won: true, Stale: true, PrevExptime: testNow + 100}}},
		{"mg stale later fetch", mg(MetaArgs{}, 0), metaItem(staleSent), EffectNone, kvcontroller.Item{},
			Result{Items: []Item{{Key: "k", Value: []byte("v"), Flags: 7, Exptime: testNow + 100, Version: 40, Stale: true, WinSent: true}}, Meta: MetaOutcome{WinSent: true, Stale: true, PrevExptime: testNow + 100}}},

		{"ms set", ms(MetaArgs{}, 0), metaItem(staleSent), EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("n"), Flags: 2, Exptime: testNow + 9, Version: version},
			Result{Status: StatusStored, Items: []Item{{Key: "k", Value: []byte("n"), Flags: 2, Exptime: testNow + 9, Version: version}}}},
		{"ms add on existing", ms(MetaArgs{Mode: 'E'}, 0), metaItem(nil), EffectNone, kvcontroller.Item{}, Result{Status: StatusNotStored}},
		{"ms replace on missing", ms(MetaArgs{Mode: 'R'}, 0), nil, EffectNone, kvcontroller.Item{}, Result{Status: StatusNotStored}},
		{"ms cas on missing", ms(MetaArgs{CompareCas: true}, 40), nil, EffectNone, kvcontroller.Item{}, Result{Status: StatusNotFound}},
		{"ms cas zero is a mismatch", ms(MetaArgs{CompareCas: true}, 0), metaItem(nil), EffectNone, kvcontroller.Item{}, Result{Status: StatusExists}},
		{"ms cas match", ms(MetaArgs{CompareCas: true}, 40), metaItem(nil), EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("n"), Flags: 2, Exptime: testNow + 9, Version: version},
			Result{Status: StatusStored, Items: []Item{{Key: "k", Value: []byte("n"), Flags: 2, Exptime: testNow + 9, Version: version}}}},
		{"ms invalidate with an older unique stores stale", ms(MetaArgs{CompareCas: true, Invalidate: true}, 3), metaItem(sent), EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("n"), Flags: 2, Exptime: testNow + 100, Version: version, Stale: true, WinSent: true},
			Result{Status: StatusStored, Items: []Item{{Key: "k", Value: []byte("n"), Flags: 2, Exptime: testNow + 100, Version: version, Stale: true, WinSent: true}}}},
		{"ms invalidate with a newer unique", ms(MetaArgs{CompareCas: true, Invalidate: true}, 41), metaItem(nil), EffectNone, kvcontroller.Item{}, Result{Status: StatusExists}},
		{"ms append with a wrong cas", ms(MetaArgs{Mode: 'A', CompareCas: true}, 41), metaItem(nil), EffectNone, kvcontroller.Item{}, Result{Status: StatusExists}},
		{"ms prepend keeps flags and expiry", ms(MetaArgs{Mode: 'P'}, 0), metaItem(nil), EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("nv"), Flags: 7, Exptime: testNow + 100, Version: version},
			Result{Status: StatusStored, Items: []Item{{Key: "k", Value: []byte("nv"), Flags: 7, Exptime: testNow + 100, Version: version}}}},

		{"md missing", Request{Op: OpMetaDelete, Keys: []string{"k"}}, nil, EffectNone, kvcontroller.Item{}, Result{Status: StatusNotFound}},
		{"md cas mismatch", Request{Op: OpMetaDelete, Keys: []string{"k"}, Cas: 1, Meta: MetaArgs{CompareCas: true}}, metaItem(nil), EffectNone, kvcontroller.Item{}, Result{Status: StatusExists}},
		{"md deletes", Request{Op: OpMetaDelete, Keys: []string{"k"}}, metaItem(nil), EffectDelete, kvcontroller.Item{}, Result{Status: StatusDeleted}},
		{"md invalidate marks stale with a new unique", Request{Op: OpMetaDelete, Keys: []string{"k"}, Exptime: testNow + 30, Meta: MetaArgs{Invalidate: true, TTL: true, Order: "T"}}, metaItem(sent), EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("v"), Flags: 7, Exptime: testNow + 30, Version: version, Stale: true},
			Result{Status: StatusDeleted, Items: []Item{{Key: "k", Value: []byte("v"), Flags: 7, Exptime: testNow + 30, Version: version, Stale: true}}, InPlace: 40}},

		{"ma miss", Request{Op: OpMetaArithmetic, Keys: []string{"k"}, Delta: 1}, nil, EffectNone, kvcontroller.Item{}, Result{Status: StatusNotFound}},
		{"ma vivify shows the initial value", Request{Op: OpMetaArithmetic, Keys: []string{"k"}, Delta: 5, Meta: MetaArgs{Vivify: true, VivifyExptime: testNow + 60, Initial: 10, Order: "N"}}, nil, EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("10"), Exptime: testNow + 60, Version: version},
			Result{Status: StatusNumber, Number: 10, Items: []Item{{Key: "k", Value: []byte("10"), Exptime: testNow + 60, Version: version}}, Meta: MetaOutcome{Created: true}}},
		{"ma decrement with ttl", Request{Op: OpMetaArithmetic, Keys: []string{"k"}, Delta: 3, Exptime: testNow + 7, Meta: MetaArgs{Mode: 'D', TTL: true, Order: "T"}}, item("k", "10"), EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("7 "), Flags: 7, Exptime: testNow + 7, Version: version},
			Result{Status: StatusNumber, Number: 7, Items: []Item{{Key: "k", Value: []byte("7 "), Flags: 7, Exptime: testNow + 7, Version: version}}, Meta: MetaOutcome{PrevExptime: testNow + 100}, InPlace: 40}},
		{"ma growing past the old value keeps the stored expiry despite T", Request{Op: OpMetaArithmetic, Keys: []string{"k"}, Delta: 1, Exptime: testNow + 7, Meta: MetaArgs{TTL: true, Order: "T"}}, item("k", "99"), EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("100"), Flags: 7, Exptime: testNow + 100, Version: version},
			Result{Status: StatusNumber, Number: 100, Items: []Item{{Key: "k", Value: []byte("100"), Flags: 7, Exptime: testNow + 100, Version: version}}, Meta: MetaOutcome{PrevExptime: testNow + 100}}},
		{"ma cas mismatch", Request{Op: OpMetaArithmetic, Keys: []string{"k"}, Delta: 1, Cas: 1}, item("k", "1"), EffectNone, kvcontroller.Item{}, Result{Status: StatusExists}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eff, res, err := ApplyWrite(&tt.req, tt.cur, testNow, version, 1<<20)
			require.NoError(t, err)
			assert.Equal(t, tt.want, res)
			assert.Equal(t, tt.wantKind, eff.Kind)
			if tt.wantKind == EffectPut {
				assert.Equal(t, tt.wantItem, eff.Item)
			}
		})
	}
}

func TestApplyWrite_MetaErrors(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		cur  *kvcontroller.Item
		want error
	}{
		{"ma on text", Request{Op: OpMetaArithmetic, Keys: []string{"k"}, Delta: 1}, item("k", "abc"), ErrNonNumeric},
		{"ma on an empty value before the cas", Request{Op: OpMetaArithmetic, Keys: []string{"k"}, Delta: 1, Cas: 1}, item("k", ""), ErrNonNumeric},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ApplyWrite(&tt.req, tt.cur, testNow, 1, 4)
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

func TestApplyWrite_MetaAppendPastTheLimitIsNotStored(t *testing.T) {
	// The joined item is sized as memcached sizes it: header, key, flags
	// (item's are not 0), value: 59+1+4+5 = 69 bytes.
	tests := []struct {
		name     string
		limit    int
		wantKind EffectKind
		want     Status
	}{
		{"one byte over", 68, EffectNone, StatusNotStored},
		{"at the limit", 69, EffectPut, StatusStored},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := Request{Op: OpMetaSet, Keys: []string{"k"}, Value: []byte("xyz"), Meta: MetaArgs{Mode: 'A'}}
			eff, res, err := ApplyWrite(&req, item("k", "ab"), testNow, 1, tt.limit)
			require.NoError(t, err)
			assert.Equal(t, tt.wantKind, eff.Kind)
			assert.Equal(t, tt.want, res.Status)
		})
	}
}

func TestApplyWrite_TouchAndInPlaceIncrKeepMetaBits(t *testing.T) {
	cur := item("k", "10")
	cur.Stale, cur.WinSent = true, true
	eff, _, err := ApplyWrite(&Request{Op: OpTouch, Keys: []string{"k"}, Exptime: testNow + 5}, cur, testNow, 1, 0)
	require.NoError(t, err)
	assert.True(t, eff.Item.Stale && eff.Item.WinSent, "touch keeps them")
	eff, _, err = ApplyWrite(&Request{Op: OpIncr, Keys: []string{"k"}, Delta: 1}, cur, testNow, 1, 0)
	require.NoError(t, err)
	assert.True(t, eff.Item.Stale && eff.Item.WinSent, "an in-place incr keeps them")
	eff, _, err = ApplyWrite(&Request{Op: OpIncr, Keys: []string{"k"}, Delta: 100}, cur, testNow, 1, 0)
	require.NoError(t, err)
	assert.False(t, eff.Item.Stale || eff.Item.WinSent, "a longer result is a new item")
}

func TestAbsoluteRequest_ConvertsMetaTimes(t *testing.T) {
	req := Request{Op: OpMetaGet, Exptime: 10, Meta: MetaArgs{VivifyExptime: 20, RecacheExptime: -1}}
	abs := AbsoluteRequest(&req, testNow)
	assert.Equal(t, testNow+10, abs.Exptime)
	assert.Equal(t, testNow+20, abs.Meta.VivifyExptime)
	assert.Equal(t, int64(expiredNow), abs.Meta.RecacheExptime)
	assert.Equal(t, int64(20), req.Meta.VivifyExptime, "the request itself is left alone")
}

// TestApplyWrite_MetaChosenCas covers E (the unique a client chooses) and
// md x on every meta command, as memcached 1.6's newest proto_parser.c
// applies them: the stored item carries the chosen unique beside the
// write's version, C and cas compare against it, and a write without E
// clears it.
func TestApplyWrite_MetaChosenCas(t *testing.T) {
	const version = 99
	e := func(m MetaArgs, cas uint64) MetaArgs { m.NewCas, m.HasNewCas = cas, true; return m }
	chosen := func(cas uint64) func(*kvcontroller.Item) {
		return func(it *kvcontroller.Item) { it.Cas, it.HasCas = cas, true }
	}
	req := func(op Op, m MetaArgs, cas uint64) Request {
		return Request{Op: op, Keys: []string{"k"}, Value: []byte("n"), Flags: 2, Exptime: testNow + 9, Cas: cas, Delta: 1, Meta: m}
	}
	base := kvcontroller.Item{Key: "k", Value: []byte("v"), Flags: 7, Exptime: testNow + 100, Version: 40}
	with := func(mut func(*kvcontroller.Item)) kvcontroller.Item {
		it := base
		it.Value = []byte("v")
		mut(&it)
		return it
	}
	tests := []struct {
		name     string
		req      Request
		cur      *kvcontroller.Item
		want     Status
		wantKind EffectKind
		wantItem kvcontroller.Item
	}{
		{"ms E sets the unique", req(OpMetaSet, e(MetaArgs{}, 5), 0), nil, StatusStored, EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("n"), Flags: 2, Exptime: testNow + 9, Version: version, Cas: 5, HasCas: true}},
		{"ms E of zero", req(OpMetaSet, e(MetaArgs{}, 0), 0), nil, StatusStored, EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("n"), Flags: 2, Exptime: testNow + 9, Version: version, HasCas: true}},
		{"ms without E clears a chosen unique", req(OpMetaSet, MetaArgs{}, 0), metaItem(chosen(5)), StatusStored, EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("n"), Flags: 2, Exptime: testNow + 9, Version: version}},
		{"ms C compares the chosen unique", req(OpMetaSet, MetaArgs{CompareCas: true}, 5), metaItem(chosen(5)), StatusStored, EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("n"), Flags: 2, Exptime: testNow + 9, Version: version}},
		{"ms C against the version of a chosen unique fails", req(OpMetaSet, MetaArgs{CompareCas: true}, 40), metaItem(chosen(5)), StatusExists, EffectNone, kvcontroller.Item{}},
		{"ms C I older than the chosen unique stores stale with E", req(OpMetaSet, e(MetaArgs{CompareCas: true, Invalidate: true}, 3), 4), metaItem(chosen(5)), StatusStored, EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("n"), Flags: 2, Exptime: testNow + 100, Version: version, Stale: true, Cas: 3, HasCas: true}},
		{"ms append with E", req(OpMetaSet, e(MetaArgs{Mode: 'A'}, 8), 0), metaItem(nil), StatusStored, EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("vn"), Flags: 7, Exptime: testNow + 100, Version: version, Cas: 8, HasCas: true}},
		{"ms add on existing ignores E", req(OpMetaSet, e(MetaArgs{Mode: 'E'}, 8), 0), metaItem(nil), StatusNotStored, EffectNone, kvcontroller.Item{}},

		{"mg N creates with E", Request{Op: OpMetaGet, Keys: []string{"k"}, Meta: e(MetaArgs{Order: "N", Vivify: true, VivifyExptime: testNow + 30}, 6)}, nil, StatusNone, EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte{}, Exptime: testNow + 30, Version: version, WinSent: true, Cas: 6, HasCas: true}},
		{"mg T keeps the unique despite E", Request{Op: OpMetaGet, Keys: []string{"k"}, Exptime: testNow + 5, Meta: e(MetaArgs{Order: "T", TTL: true}, 6)}, metaItem(nil), StatusNone, EffectPut,
			with(func(it *kvcontroller.Item) { it.Exptime = testNow + 5 })},
		{"mg T keeps a chosen unique", Request{Op: OpMetaGet, Keys: []string{"k"}, Exptime: testNow + 5, Meta: MetaArgs{Order: "T", TTL: true}}, metaItem(chosen(5)), StatusNone, EffectPut,
			with(func(it *kvcontroller.Item) { it.Exptime, it.Cas, it.HasCas = testNow+5, 5, true })},

		{"md C compares the chosen unique", Request{Op: OpMetaDelete, Keys: []string{"k"}, Cas: 5, Meta: MetaArgs{CompareCas: true}}, metaItem(chosen(5)), StatusDeleted, EffectDelete, kvcontroller.Item{}},
		{"md C zero matches a chosen zero", Request{Op: OpMetaDelete, Keys: []string{"k"}, Meta: MetaArgs{CompareCas: true}}, metaItem(chosen(0)), StatusDeleted, EffectDelete, kvcontroller.Item{}},
		{"md I with E", Request{Op: OpMetaDelete, Keys: []string{"k"}, Meta: e(MetaArgs{Invalidate: true}, 7)}, metaItem(chosen(5)), StatusDeleted, EffectPut,
			with(func(it *kvcontroller.Item) { it.Version, it.Stale, it.Cas, it.HasCas = version, true, 7, true })},
		{"md I without E drops a chosen unique", Request{Op: OpMetaDelete, Keys: []string{"k"}, Meta: MetaArgs{Invalidate: true}}, metaItem(chosen(5)), StatusDeleted, EffectPut,
			with(func(it *kvcontroller.Item) { it.Version, it.Stale = version, true })},
		{"md x empties the item and keeps its unique", Request{Op: OpMetaDelete, Keys: []string{"k"}, Meta: MetaArgs{RemoveValue: true}}, metaItem(nil), StatusDeleted, EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte{}, Version: version, Cas: 40, HasCas: true}},
		{"md x takes F and T", Request{Op: OpMetaDelete, Keys: []string{"k"}, Flags: 3, Exptime: testNow + 30, Meta: MetaArgs{RemoveValue: true, TTL: true, Order: "T"}}, metaItem(func(it *kvcontroller.Item) { it.Stale, it.WinSent, it.KeyBinary = true, true, true }), StatusDeleted, EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte{}, Flags: 3, Exptime: testNow + 30, Version: version, KeyBinary: true, Cas: 40, HasCas: true}},
		{"md x with E", Request{Op: OpMetaDelete, Keys: []string{"k"}, Meta: e(MetaArgs{RemoveValue: true}, 9)}, metaItem(chosen(5)), StatusDeleted, EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte{}, Version: version, Cas: 9, HasCas: true}},
		{"md x I marks the empty item stale with a new unique", Request{Op: OpMetaDelete, Keys: []string{"k"}, Meta: MetaArgs{RemoveValue: true, Invalidate: true}}, metaItem(chosen(5)), StatusDeleted, EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte{}, Version: version, Stale: true}},
		{"md x with C mismatch", Request{Op: OpMetaDelete, Keys: []string{"k"}, Cas: 41, Meta: MetaArgs{RemoveValue: true, CompareCas: true}}, metaItem(nil), StatusExists, EffectNone, kvcontroller.Item{}},
		{"md x with a past T deletes", Request{Op: OpMetaDelete, Keys: []string{"k"}, Exptime: -1, Meta: MetaArgs{RemoveValue: true, TTL: true, Order: "T"}}, metaItem(nil), StatusDeleted, EffectDelete, kvcontroller.Item{}},

		{"ma with E", Request{Op: OpMetaArithmetic, Keys: []string{"k"}, Delta: 1, Meta: e(MetaArgs{}, 11)}, item("k", "1"), StatusNumber, EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("2"), Flags: 7, Exptime: testNow + 100, Version: version, Cas: 11, HasCas: true}},
		{"ma without E drops a chosen unique", Request{Op: OpMetaArithmetic, Keys: []string{"k"}, Delta: 1, Cas: 5}, metaItem(func(it *kvcontroller.Item) { it.Value = []byte("1"); chosen(5)(it) }), StatusNumber, EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("2"), Flags: 7, Exptime: testNow + 100, Version: version}},
		{"ma N creates with E", Request{Op: OpMetaArithmetic, Keys: []string{"k"}, Delta: 1, Meta: e(MetaArgs{Vivify: true, Order: "N"}, 12)}, nil, StatusNumber, EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("0"), Version: version, Cas: 12, HasCas: true}},

		{"cas compares the chosen unique", Request{Op: OpCas, Keys: []string{"k"}, Value: []byte("n"), Cas: 5}, metaItem(chosen(5)), StatusStored, EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("n"), Version: version}},
		{"cas 0 never matches", Request{Op: OpCas, Keys: []string{"k"}, Value: []byte("n")}, metaItem(chosen(0)), StatusExists, EffectNone, kvcontroller.Item{}},
		{"touch keeps a chosen unique", Request{Op: OpTouch, Keys: []string{"k"}, Exptime: testNow + 5}, metaItem(chosen(5)), StatusTouched, EffectPut,
			with(func(it *kvcontroller.Item) { it.Exptime, it.Cas, it.HasCas = testNow+5, 5, true })},
		{"set clears a chosen unique", Request{Op: OpSet, Keys: []string{"k"}, Value: []byte("n")}, metaItem(chosen(5)), StatusStored, EffectPut,
			kvcontroller.Item{Key: "k", Value: []byte("n"), Version: version}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eff, res, err := ApplyWrite(&tt.req, tt.cur, testNow, version, 1<<20)
			require.NoError(t, err)
			assert.Equal(t, tt.want, res.Status)
			assert.Equal(t, tt.wantKind, eff.Kind)
			if tt.wantKind == EffectPut {
				assert.Equal(t, tt.wantItem, eff.Item)
				if len(res.Items) == 1 {
					assert.Equal(t, tt.wantItem.Unique(), res.Items[0].Unique(), "the reply shows the stored unique")
				}
			}
		})
	}
}
