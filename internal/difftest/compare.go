package difftest

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A piece of a reply: a line without "\r\n", or a data block with it.
type piece struct {
	text string
	data bool
}

// splitReply cuts a reply into lines and data blocks: the VALUE and VA
// lines say how many bytes follow them. It returns false if the reply is
// cut short.
func splitReply(r string) ([]piece, bool) {
	var out []piece
	for len(r) > 0 {
		i := strings.Index(r, "\r\n")
		if i < 0 {
			return out, false
		}
		line := r[:i]
		r = r[i+2:]
		out = append(out, piece{text: line})
		if n, ok := dataLen(line); ok {
			if len(r) < n+2 {
				return out, false
			}
			out = append(out, piece{text: r[:n+2], data: true})
			r = r[n+2:]
		}
	}
	return out, true
}

// dataLen returns the size of the data block that follows a VALUE or VA
// line.
func dataLen(line string) (int, bool) {
	f := strings.Fields(line)
	var s string
	switch {
	case len(f) >= 4 && f[0] == "VALUE":
		s = f[3]
	case len(f) >= 2 && f[0] == "VA":
		s = f[1]
	default:
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// uniqueMap pairs memcached's uniques with memcons's: equal uniques on
// one side must be equal on the other.
type uniqueMap struct {
	fwd, back map[string]string
}

func newUniqueMap() *uniqueMap {
	return &uniqueMap{fwd: map[string]string{}, back: map[string]string{}}
}

// pair checks that want (memcached's) and got (memcons's) can stand for
// each other, and records them.
func (m *uniqueMap) pair(want, got string) error {
	if g, ok := m.fwd[want]; ok && g != got {
		return fmt.Errorf("memcached's unique %s was %s before, now %s", want, g, got)
	}
	if w, ok := m.back[got]; ok && w != want {
		return fmt.Errorf("memcons's unique %s stood for memcached's %s before, now for %s", got, w, want)
	}
	m.fwd[want], m.back[got] = got, want
	return nil
}

// ttlSlack is how far the seconds left of an item (mg t) may differ: each
// side reads its own clock, which may have ticked between them.
const ttlSlack = 2

// pastTTL reports a t value that is an expiry in the past, printed as an
// unsigned 32-bit number (2^31 or more). Its figure is not compared:
// memcached turns a past expiry (a negative T or N, an absolute time
// before it started) into the second after its process_started, which it
// sets 62 seconds before it started (realtime in memcached.c), so it prints
// 2^32+1-(its uptime+62): a figure that depends on how long the reference
// has run.
func pastTTL(t int) bool { return t >= 1<<31 && t < 1<<32 }

// compareReplies compares one batch's replies, uniques through m.
func compareReplies(want, got string, m *uniqueMap) error {
	wp, wok := splitReply(want)
	gp, gok := splitReply(got)
	if !wok || !gok {
		return fmt.Errorf("reply cut short (memcached complete: %v, memcons complete: %v)", wok, gok)
	}
	for i := range max(len(wp), len(gp)) {
		if i >= len(wp) || i >= len(gp) {
			return fmt.Errorf("piece %d: memcached sent %d pieces, memcons %d", i, len(wp), len(gp))
		}
		if err := comparePiece(wp[i], gp[i], m); err != nil {
			return fmt.Errorf("piece %d: %w", i, err)
		}
	}
	return nil
}

func comparePiece(w, g piece, m *uniqueMap) error {
	if w.data || g.data {
		if w != g {
			return fmt.Errorf("data %q, memcached %q", clip(g.text), clip(w.text))
		}
		return nil
	}
	if w.text == g.text {
		return nil
	}
	wf, gf := strings.Split(w.text, " "), strings.Split(g.text, " ")
	bad := fmt.Errorf("line %q, memcached %q", clip(g.text), clip(w.text))
	switch {
	case len(wf) != len(gf):
		return bad
	case wf[0] == "VERSION":
		if len(wf) == 2 && strings.HasPrefix(gf[1], wf[1]) {
			return nil
		}
		return bad
	case wf[0] == "VALUE" && gf[0] == "VALUE" && len(wf) == 5:
		if !slices.Equal(wf[:4], gf[:4]) {
			return bad
		}
		return m.pair(wf[4], gf[4])
	case isMetaReply(wf[0]) && wf[0] == gf[0]:
		return compareMetaFlags(wf, gf, m, bad)
	}
	return bad
}

func isMetaReply(code string) bool {
	switch code {
	case "VA", "HD", "EN", "NF", "NS", "EX", "MN", "ME":
		return true
	}
	return false
}

// compareMetaFlags compares the tokens of a meta reply line: c (a unique)
// through m, t (seconds left) within ttlSlack, me's fields by name, cas
// through m.
func compareMetaFlags(wf, gf []string, m *uniqueMap, bad error) error {
	for i := 1; i < len(wf); i++ {
		w, g := wf[i], gf[i]
		if w == g {
			continue
		}
		if wf[0] == "ME" && i >= 2 {
			wn, wv, _ := strings.Cut(w, "=")
			gn, gv, _ := strings.Cut(g, "=")
			switch {
			case wn != gn:
				return bad
			case wn == "cas":
				if err := m.pair(wv, gv); err != nil {
					return err
				}
			}
			continue
		}
		if len(w) < 2 || len(g) < 2 || w[0] != g[0] {
			return bad
		}
		switch w[0] {
		case 'c':
			if err := m.pair(w[1:], g[1:]); err != nil {
				return err
			}
		case 't':
			wt, err1 := strconv.Atoi(w[1:])
			gt, err2 := strconv.Atoi(g[1:])
			if err1 != nil || err2 != nil || wt < 0 || gt < 0 || (abs(wt-gt) > ttlSlack && !(pastTTL(wt) && pastTTL(gt))) {
				return bad
			}
		default:
			return bad
		}
	}
	return nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// statsLine is one line of a stats reply.
var statsLine = regexp.MustCompile(`^STAT (\S+) (.*)$`)

// compareStats compares the replies to one stats command by shape: both
// STAT lines then END (or both the same error line); the values are not
// compared. Plain stats' names must be memcached's, in its order, leaving
// out only those about memcached's own structures (libevent, hash table,
// connection buffers: controller/stats.go). A group's per-class lines must
// have memcached's names; the classes may differ (memcons's items are
// envelopes, or the embedded store has one class).
func compareStats(cmd, want, got string) error {
	wn, werr := statNames(want)
	gn, gerr := statNames(got)
	if werr != nil || gerr != nil {
		if want == got {
			return nil
		}
		return fmt.Errorf("stats reply %q, memcached %q", clip(got), clip(want))
	}
	switch strings.TrimSpace(cmd) {
	case "stats":
		// The reference runs without the LRU maintainer, which drops some
		// names: memcons's are checked against memcached's default list.
		i := 0
		for _, n := range gn {
			for i < len(generalNames) && generalNames[i] != n {
				i++
			}
			if i == len(generalNames) {
				return fmt.Errorf("stats: memcons's %q is not among memcached's names in its order %v", n, generalNames)
			}
		}
		for _, need := range []string{"curr_items", "total_items", "bytes", "limit_maxbytes", "evictions", "cmd_get", "get_hits"} {
			if !slices.Contains(gn, need) {
				return fmt.Errorf("stats: memcons has no %s", need)
			}
		}
	case "stats items", "stats slabs":
		perClass := regexp.MustCompile(`^(items:)?\d+:([a-z_]+)$`)
		known := map[string]bool{}
		for _, n := range slices.Concat(wn, itemsNames, slabsNames) {
			if s := perClass.FindStringSubmatch(n); s != nil {
				known[s[2]] = true
			} else {
				known[n] = true
			}
		}
		for _, n := range gn {
			s := perClass.FindStringSubmatch(n)
			name := n
			if s != nil {
				name = s[2]
				if (s[1] == "items:") != (cmd == "stats items\r\n") {
					return fmt.Errorf("%s: line %q belongs to the other group", strings.TrimSpace(cmd), n)
				}
			}
			if !known[name] {
				return fmt.Errorf("%s: memcons's %q is not a name memcached uses", strings.TrimSpace(cmd), n)
			}
		}
	}
	return nil
}

// generalNames are the names of memcached 1.6.18's plain stats with its
// default options, in its order.
var generalNames = strings.Fields(`pid uptime time version libevent pointer_size rusage_user rusage_system
	max_connections curr_connections total_connections rejected_connections connection_structures
	response_obj_oom response_obj_count response_obj_bytes read_buf_count read_buf_bytes
	read_buf_bytes_free read_buf_oom reserved_fds cmd_get cmd_set cmd_flush cmd_touch cmd_meta
	get_hits get_misses get_expired get_flushed delete_misses delete_hits incr_misses incr_hits
	decr_misses decr_hits cas_misses cas_hits cas_badval touch_hits touch_misses store_too_large
	store_no_memory auth_cmds auth_errors bytes_read bytes_written limit_maxbytes accepting_conns
	listen_disabled_num time_in_listen_disabled_us threads conn_yields hash_power_level hash_bytes
	hash_is_expanding slab_reassign_rescues slab_reassign_chunk_rescues slab_reassign_evictions_nomem
	slab_reassign_inline_reclaim slab_reassign_busy_items slab_reassign_busy_deletes
	slab_reassign_running slabs_moved lru_crawler_running lru_crawler_starts lru_maintainer_juggles
	malloc_fails log_worker_dropped log_worker_written log_watcher_skipped log_watcher_sent
	log_watchers unexpected_napi_ids round_robin_fallback bytes curr_items total_items
	slab_global_page_pool expired_unfetched evicted_unfetched evicted_active evictions reclaimed
	crawler_reclaimed crawler_items_checked lrutail_reflocked moves_to_cold moves_to_warm
	moves_within_lru direct_reclaims lru_bumps_dropped`)

// The per-class names memcached 1.6.18 prints (in `stats items` and `stats
// slabs`), for when the reference printed no class.
var (
	itemsNames = []string{"items:1:number", "items:1:number_hot", "items:1:number_warm", "items:1:number_cold",
		"items:1:age_hot", "items:1:age_warm", "items:1:age", "items:1:mem_requested", "items:1:evicted",
		"items:1:evicted_nonzero", "items:1:evicted_time", "items:1:outofmemory", "items:1:tailrepairs",
		"items:1:reclaimed", "items:1:expired_unfetched", "items:1:evicted_unfetched", "items:1:evicted_active",
		"items:1:crawler_reclaimed", "items:1:crawler_items_checked", "items:1:lrutail_reflocked",
		"items:1:moves_to_cold", "items:1:moves_to_warm", "items:1:moves_within_lru", "items:1:direct_reclaims",
		"items:1:hits_to_hot", "items:1:hits_to_warm", "items:1:hits_to_cold", "items:1:hits_to_temp"}
	slabsNames = []string{"1:chunk_size", "1:chunks_per_page", "1:total_pages", "1:total_chunks", "1:used_chunks",
		"1:free_chunks", "1:free_chunks_end", "1:get_hits", "1:cmd_set", "1:delete_hits", "1:incr_hits",
		"1:decr_hits", "1:cas_hits", "1:cas_badval", "1:touch_hits", "active_slabs", "total_malloced"}
)

// statNames returns the names of a stats reply's STAT lines; an error if
// the reply is not STAT lines then END.
func statNames(r string) ([]string, error) {
	body, ok := strings.CutSuffix(r, "END\r\n")
	if !ok {
		return nil, fmt.Errorf("no END")
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n") {
		if line == "" {
			continue
		}
		s := statsLine.FindStringSubmatch(line)
		if s == nil {
			return nil, fmt.Errorf("line %q", line)
		}
		names = append(names, s[1])
	}
	return names, nil
}

// clip shortens s for a message.
func clip(s string) string {
	const limit = 300
	if len(s) <= limit {
		return s
	}
	return s[:limit] + fmt.Sprintf("...(%d bytes)", len(s))
}

// learnUniques calls fn with the key and unique of every hit in a reply
// that shows one: VALUE lines of gets and gats, and meta lines with k and c
// flags (a key sent in base64, flag b, is decoded).
func learnUniques(reply string, fn func(key string, unique uint64)) {
	ps, _ := splitReply(reply)
	for _, p := range ps {
		if p.data {
			continue
		}
		f := strings.Split(p.text, " ")
		switch {
		case f[0] == "VALUE" && len(f) == 5:
			if u, err := strconv.ParseUint(f[4], 10, 64); err == nil {
				fn(f[1], u)
			}
		case f[0] == "VA" || f[0] == "HD":
			var key, cas string
			b64 := false
			for _, t := range f[1:] {
				switch {
				case t == "b":
					b64 = true
				case strings.HasPrefix(t, "k"):
					key = t[1:]
				case strings.HasPrefix(t, "c"):
					cas = t[1:]
				}
			}
			if b64 {
				key = decodeKey(key)
			}
			if u, err := strconv.ParseUint(cas, 10, 64); err == nil && key != "" {
				fn(key, u)
			}
		}
	}
}

func decodeKey(k string) string {
	b, err := base64Decode(k)
	if err != nil {
		return ""
	}
	return string(bytes.Clone(b))
}
