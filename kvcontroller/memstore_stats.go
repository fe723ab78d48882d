package kvcontroller

import (
	"context"
	"fmt"
	"strconv"
)

// GroupStats answers `stats items` and `stats slabs` for the embedded
// store in memcached's line shape. The store has no slab classes: all of
// its items are reported as class 1 (none when it is empty), one chunk per
// item of the average item size. Counters of things the store never does
// (LRU segment moves, crawler passes, tail repairs) are 0.
func (s *MemStore) GroupStats(_ context.Context, group StatGroup) ([]StatLine, error) {
	now := s.now().Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	held := uint64(len(s.items))
	switch group {
	case StatItems:
		if held == 0 {
			return nil, nil
		}
		var age int64
		if tail := s.lru.back(); tail != nil {
			age = max(now-tail.atime, 0)
		}
		lines := make([]StatLine, 0, len(memItemStatNames))
		for _, name := range memItemStatNames {
			v := "0"
			switch name {
			case "number", "number_cold":
				v = strconv.FormatUint(s.live, 10)
			case "age":
				v = strconv.FormatInt(age, 10)
			case "mem_requested":
				v = strconv.FormatInt(s.bytes, 10)
			case "evicted":
				v = strconv.FormatUint(s.evictions, 10)
			}
			lines = append(lines, StatLine{"items:1:" + name, v})
		}
		return lines, nil
	case StatSlabs:
		var lines []StatLine
		if held > 0 {
			n := strconv.FormatUint(held, 10)
			chunk := (uint64(s.bytes) + held - 1) / held
			lines = append(lines,
				StatLine{"1:chunk_size", strconv.FormatUint(chunk, 10)},
				StatLine{"1:chunks_per_page", "1"},
				StatLine{"1:total_pages", n},
				StatLine{"1:total_chunks", n},
				StatLine{"1:used_chunks", n},
				StatLine{"1:free_chunks", "0"},
				StatLine{"1:free_chunks_end", "0"},
			)
		}
		active := "0"
		if held > 0 {
			active = "1"
		}
		return append(lines,
			StatLine{"active_slabs", active},
			StatLine{"total_malloced", strconv.FormatInt(s.bytes, 10)},
		), nil
	}
	return nil, fmt.Errorf("kvcontroller: no stats group %q", group)
}

// memItemStatNames are memcached 1.6's per-class `stats items` fields, in
// its order.
var memItemStatNames = []string{
	"number", "number_hot", "number_warm", "number_cold", "age_hot", "age_warm",
	"age", "mem_requested", "evicted", "evicted_nonzero", "evicted_time",
	"outofmemory", "tailrepairs", "reclaimed", "expired_unfetched",
	"evicted_unfetched", "evicted_active", "crawler_reclaimed",
	"crawler_items_checked", "lrutail_reflocked", "moves_to_cold",
	"moves_to_warm", "moves_within_lru", "direct_reclaims", "hits_to_hot",
	"hits_to_warm", "hits_to_cold", "hits_to_temp",
}
