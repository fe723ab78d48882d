package consistency

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/kvcontroller"
)

const testNow = int64(1_800_000_000)

func TestAbsoluteExptime_MemcachedRules(t *testing.T) {
	tests := []struct {
		name    string
		exptime int64
		want    int64
	}{
		{"zero is never", 0, 0},
		{"negative is expired", -1, expiredNow},
		{"relative seconds", 10, testNow + 10},
		{"thirty days is still relative", maxRelativeExptime, testNow + maxRelativeExptime},
		{"past unix time is expired", maxRelativeExptime + 1, expiredNow},
		{"now as unix time is expired", testNow, expiredNow},
		{"future unix time kept", testNow + 5, testNow + 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, AbsoluteExptime(tt.exptime, testNow))
		})
	}
}

func item(key, value string) *kvcontroller.Item {
	return &kvcontroller.Item{Key: key, Value: []byte(value), Flags: 7, Exptime: testNow + 100, Version: 40}
}

// fullValue is one byte short of the item size limit (1 MiB) under key "k"
// with item's flags: appending one byte fits, two do not.
var fullValue = strings.Repeat("v", 1<<20-memcachedItemHeader-len("k")-4-1)

func TestApplyWrite_Commands(t *testing.T) {
	const version = 99
	// kept is the item a write of value leaves when it keeps item's flags
	// and expiry.
	kept := func(value string) kvcontroller.Item {
		return kvcontroller.Item{Key: "k", Value: []byte(value), Flags: 7, Exptime: testNow + 100, Version: version}
	}
	tests := []struct {
		name     string
		req      Request
		cur      *kvcontroller.Item
		wantKind EffectKind
		wantItem kvcontroller.Item
		want     Result
	}{
		{"set stores", Request{Op: OpSet, Keys: []string{"k"}, Value: []byte("v"), Flags: 3}, nil,
			EffectPut, kvcontroller.Item{Key: "k", Value: []byte("v"), Flags: 3, Version: version}, Result{Status: StatusStored}},
		{"set with expired exptime deletes", Request{Op: OpSet, Keys: []string{"k"}, Value: []byte("v"), Exptime: expiredNow}, item("k", "old"),
			EffectDelete, kvcontroller.Item{Key: "k"}, Result{Status: StatusStored}},
		{"add on missing stores", Request{Op: OpAdd, Keys: []string{"k"}, Value: []byte("v")}, nil,
			EffectPut, kvcontroller.Item{Key: "k", Value: []byte("v"), Version: version}, Result{Status: StatusStored}},
		{"add on existing refuses", Request{Op: OpAdd, Keys: []string{"k"}, Value: []byte("v")}, item("k", "old"),
			EffectNone, kvcontroller.Item{}, Result{Status: StatusNotStored}},
		{"replace on missing refuses", Request{Op: OpReplace, Keys: []string{"k"}, Value: []byte("v")}, nil,
			EffectNone, kvcontroller.Item{}, Result{Status: StatusNotStored}},
		{"replace on existing stores", Request{Op: OpReplace, Keys: []string{"k"}, Value: []byte("v"), Flags: 1}, item("k", "old"),
			EffectPut, kvcontroller.Item{Key: "k", Value: []byte("v"), Flags: 1, Version: version}, Result{Status: StatusStored}},
		{"append keeps flags and expiry", Request{Op: OpAppend, Keys: []string{"k"}, Value: []byte("++"), Flags: 1}, item("k", "ab"),
			EffectPut, kept("ab++"), Result{Status: StatusStored}},
		{"prepend", Request{Op: OpPrepend, Keys: []string{"k"}, Value: []byte("--")}, item("k", "ab"),
			EffectPut, kept("--ab"), Result{Status: StatusStored}},
		{"append on missing refuses", Request{Op: OpAppend, Keys: []string{"k"}, Value: []byte("x")}, nil,
			EffectNone, kvcontroller.Item{}, Result{Status: StatusNotStored}},
		{"cas on missing", Request{Op: OpCas, Keys: []string{"k"}, Value: []byte("v"), Cas: 40}, nil,
			EffectNone, kvcontroller.Item{}, Result{Status: StatusNotFound}},
		{"cas with stale unique", Request{Op: OpCas, Keys: []string{"k"}, Value: []byte("v"), Cas: 39}, item("k", "old"),
			EffectNone, kvcontroller.Item{}, Result{Status: StatusExists}},
		{"cas with current unique", Request{Op: OpCas, Keys: []string{"k"}, Value: []byte("v"), Cas: 40}, item("k", "old"),
			EffectPut, kvcontroller.Item{Key: "k", Value: []byte("v"), Version: version}, Result{Status: StatusStored}},
		{"delete missing", Request{Op: OpDelete, Keys: []string{"k"}}, nil,
			EffectNone, kvcontroller.Item{}, Result{Status: StatusNotFound}},
		{"delete existing", Request{Op: OpDelete, Keys: []string{"k"}}, item("k", "v"),
			EffectDelete, kvcontroller.Item{Key: "k"}, Result{Status: StatusDeleted}},
		{"incr missing", Request{Op: OpIncr, Keys: []string{"k"}, Delta: 1}, nil,
			EffectNone, kvcontroller.Item{}, Result{Status: StatusNotFound}},
		{"incr grows", Request{Op: OpIncr, Keys: []string{"k"}, Delta: 1}, item("k", "99"),
			EffectPut, kept("100"),
			Result{Status: StatusNumber, Number: 100, Items: []Item{HitOf(kept("100"))}}},
		{"incr wraps at 2^64", Request{Op: OpIncr, Keys: []string{"k"}, Delta: 2}, item("k", "18446744073709551615"),
			EffectPut, kept("1                   "),
			Result{Status: StatusNumber, Number: 1, Items: []Item{HitOf(kept("1                   "))}, InPlace: 40}},
		{"decr pads in place like memcached", Request{Op: OpDecr, Keys: []string{"k"}, Delta: 1}, item("k", "10"),
			EffectPut, kept("9 "),
			Result{Status: StatusNumber, Number: 9, Items: []Item{HitOf(kept("9 "))}, InPlace: 40}},
		{"decr stops at zero", Request{Op: OpDecr, Keys: []string{"k"}, Delta: 50}, item("k", "7"),
			EffectPut, kept("0"),
			Result{Status: StatusNumber, Number: 0, Items: []Item{HitOf(kept("0"))}, InPlace: 40}},
		{"incr reads a padded value", Request{Op: OpIncr, Keys: []string{"k"}, Delta: 1}, item("k", "9 "),
			EffectPut, kept("10"),
			Result{Status: StatusNumber, Number: 10, Items: []Item{HitOf(kept("10"))}, InPlace: 40}},
		// memcached reads values with strtoull: any length, a sign, text
		// after a space.
		{"incr reads a long number", Request{Op: OpIncr, Keys: []string{"k"}, Delta: 1}, item("k", "0000000000000000000000000000000000000042"),
			EffectPut, kept("43                                      "),
			Result{Status: StatusNumber, Number: 43, Items: []Item{HitOf(kept("43                                      "))}, InPlace: 40}},
		{"incr reads a number then text", Request{Op: OpIncr, Keys: []string{"k"}, Delta: 1}, item("k", "8 junk"),
			EffectPut, kept("9     "),
			Result{Status: StatusNumber, Number: 9, Items: []Item{HitOf(kept("9     "))}, InPlace: 40}},
		{"incr reads minus zero", Request{Op: OpIncr, Keys: []string{"k"}, Delta: 1}, item("k", "-0"),
			EffectPut, kept("1 "),
			Result{Status: StatusNumber, Number: 1, Items: []Item{HitOf(kept("1 "))}, InPlace: 40}},
		{"incr reads minus a huge number modulo 2^64", Request{Op: OpIncr, Keys: []string{"k"}, Delta: 1}, item("k", "-18446744073709551615"),
			EffectPut, kept("2                    "),
			Result{Status: StatusNumber, Number: 2, Items: []Item{HitOf(kept("2                    "))}, InPlace: 40}},
		{"touch keeps version", Request{Op: OpTouch, Keys: []string{"k"}, Exptime: testNow + 5}, item("k", "v"),
			EffectPut, kvcontroller.Item{Key: "k", Value: []byte("v"), Flags: 7, Exptime: testNow + 5, Version: 40},
			Result{Status: StatusTouched, Items: []Item{HitOf(kvcontroller.Item{Key: "k", Value: []byte("v"), Flags: 7, Exptime: testNow + 5, Version: 40})}}},
		{"touch to the past deletes", Request{Op: OpTouch, Keys: []string{"k"}, Exptime: expiredNow}, item("k", "v"),
			EffectDelete, kvcontroller.Item{Key: "k"}, Result{Status: StatusTouched}},
		{"touch missing", Request{Op: OpTouch, Keys: []string{"k"}, Exptime: 0}, nil,
			EffectNone, kvcontroller.Item{}, Result{Status: StatusNotFound}},
		// memcached sizes the joined item as it sizes a set (ItemSize) and,
		// unable to allocate it, answers NOT_STORED and keeps the old one.
		{"append that just fits", Request{Op: OpAppend, Keys: []string{"k"}, Value: []byte("x")}, item("k", fullValue),
			EffectPut, kvcontroller.Item{Key: "k", Value: []byte(fullValue + "x"), Flags: 7, Exptime: testNow + 100, Version: version}, Result{Status: StatusStored}},
		{"append past the item limit refuses", Request{Op: OpAppend, Keys: []string{"k"}, Value: []byte("xy")}, item("k", fullValue),
			EffectNone, kvcontroller.Item{}, Result{Status: StatusNotStored}},
		{"prepend past the item limit refuses", Request{Op: OpPrepend, Keys: []string{"k"}, Value: []byte("xy")}, item("k", fullValue),
			EffectNone, kvcontroller.Item{}, Result{Status: StatusNotStored}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eff, res, err := ApplyWrite(&tt.req, tt.cur, testNow, version, 1<<20)
			require.NoError(t, err)
			assert.Equal(t, tt.want, res)
			assert.Equal(t, tt.wantKind, eff.Kind)
			if tt.wantKind != EffectNone {
				assert.Equal(t, tt.wantItem, eff.Item)
			}
		})
	}
}

func TestApplyWrite_Errors(t *testing.T) {
	tests := []struct {
		name  string
		req   Request
		cur   *kvcontroller.Item
		limit int
		want  error
	}{
		{"incr on text", Request{Op: OpIncr, Keys: []string{"k"}, Delta: 1}, item("k", "abc"), 0, ErrNonNumeric},
		{"incr on trailing garbage", Request{Op: OpIncr, Keys: []string{"k"}, Delta: 1}, item("k", "12abc"), 0, ErrNonNumeric},
		{"incr on negative", Request{Op: OpIncr, Keys: []string{"k"}, Delta: 1}, item("k", "-1"), 0, ErrNonNumeric},
		{"incr on empty", Request{Op: OpIncr, Keys: []string{"k"}, Delta: 1}, item("k", ""), 0, ErrNonNumeric},
		{"incr on overflowing number", Request{Op: OpIncr, Keys: []string{"k"}, Delta: 1}, item("k", "18446744073709551616"), 0, ErrNonNumeric},
		{"incr on minus five", Request{Op: OpIncr, Keys: []string{"k"}, Delta: 1}, item("k", "-5"), 0, ErrNonNumeric},
		{"incr on a chunked item", Request{Op: OpIncr, Keys: []string{"k"}, Delta: 1}, item("k", "1"+strings.Repeat(" ", slabChunkMax)), 0, ErrNonNumeric},
		{"ma on a chunked item, before its wrong cas", Request{Op: OpMetaArithmetic, Keys: []string{"k"}, Delta: 1, Cas: 1}, item("k", "1"+strings.Repeat(" ", slabChunkMax)), 0, ErrNonNumeric},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ApplyWrite(&tt.req, tt.cur, testNow, 1, tt.limit)
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

func TestParseKind_Names(t *testing.T) {
	for _, name := range []string{"linearizable", "sequential", "eventual"} {
		k, err := ParseKind(name)
		require.NoError(t, err)
		assert.Equal(t, Kind(name), k)
	}
	_, err := ParseKind("strong")
	assert.ErrorIs(t, err, ErrUnknownMode)
}
