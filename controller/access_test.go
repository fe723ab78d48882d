package controller

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAccessTable_RemembersFetchesPerVersion(t *testing.T) {
	a := newAccessTable()
	steps := []struct {
		name        string
		do          func() (bool, int64)
		wantFetched bool
		wantAtime   int64
	}{
		{"first sight: never fetched, accessed now", func() (bool, int64) { return a.fetch("k", 1, 100, true) }, false, 100},
		{"second fetch sees the first", func() (bool, int64) { return a.fetch("k", 1, 105, true) }, true, 100},
		{"u reports without recording", func() (bool, int64) { return a.fetch("k", 1, 110, false) }, true, 105},
		{"still the fetch at 105", func() (bool, int64) { return a.fetch("k", 1, 111, false) }, true, 105},
		{"a new version starts afresh", func() (bool, int64) { return a.fetch("k", 2, 120, true) }, false, 120},
		{"a write is not a fetch", func() (bool, int64) { a.wrote("k", 3, 130); return a.fetch("k", 3, 140, true) }, false, 130},
		{"an in-place rewrite keeps the fetch", func() (bool, int64) {
			a.fetch("k", 3, 150, true)
			a.rewrote("k", 3, 4, 160)
			return a.fetch("k", 4, 170, false)
		}, true, 150},
		{"a rewrite of another version starts afresh", func() (bool, int64) { a.rewrote("k", 3, 5, 180); return a.fetch("k", 5, 190, false) }, false, 180},
		{"a rewrite not in place is a write", func() (bool, int64) {
			a.fetch("k", 5, 195, true)
			a.rewrote("k", 0, 6, 196)
			return a.fetch("k", 6, 197, false)
		}, false, 196},
		{"u on an unseen item remembers when it was first seen", func() (bool, int64) { a.fetch("u", 1, 200, false); return a.fetch("u", 1, 210, false) }, false, 200},
	}
	for _, s := range steps {
		fetched, atime := s.do()
		assert.Equal(t, s.wantFetched, fetched, s.name)
		assert.Equal(t, s.wantAtime, atime, s.name)
	}
}

func TestAccessTable_StaysBounded(t *testing.T) {
	a := newAccessTable()
	for i := range 4 * accessShards * accessShardMax {
		a.wrote("key"+strconv.Itoa(i), 1, 1)
	}
	total := 0
	for i := range a.shards {
		n := len(a.shards[i].entries)
		assert.LessOrEqual(t, n, accessShardMax, "shard %d", i)
		total += n
	}
	assert.LessOrEqual(t, total, accessShards*accessShardMax)
}
