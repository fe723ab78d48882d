// Package difftest checks memcons against a real memcached: seeded random
// command sequences (gen.go) go to both, and their replies must match byte
// for byte except CAS uniques, which must map one to one, and stats
// values (compare.go). run.go sends a sequence to both and reports the
// first difference with the sequence that produced it.
package difftest

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// A Sequence is what one run sends: batches, each written in one piece (a
// pipeline). A batch may hold cas placeholders (see Placeholder), which
// each side fills from the uniques it returned earlier in the sequence.
type Sequence []string

// Placeholder returns the text a generated command holds in place of the
// unique of key's nth gets (or gats, mg c) reply seen so far on the side
// that runs it; a negative n counts from the latest. A side that has seen
// no such reply fills in a unique no server issues.
func Placeholder(key string, n int) string { return fmt.Sprintf("{cas:%s:%d}", key, n) }

// neverIssued is a unique neither memcached nor memcons hands out in a
// test: memcached counts from 1, memcons's log indexes are small and its
// eventual versions are timestamps far below it.
const neverIssued = "18446744073709551615"

// Generator makes random command sequences from one seed. The same seed
// and switches give the same sequences.
type Generator struct {
	rng  *rand.Rand
	gens []weighted
	// read holds the keys the current batch has retrieved so far (see
	// counterKey).
	read map[string]bool
}

// weighted is a command generator and how often it is picked.
type weighted struct {
	name   string
	weight int
	gen    func(g *Generator) string
	// alone is set for commands whose reply is compared by shape (stats):
	// they go in a batch of their own.
	alone bool
}

// NewGenerator returns a Generator seeded with seed. meta switches on the
// meta-protocol commands (mn, mg, ms, md, ma, me).
func NewGenerator(seed uint64, meta bool) *Generator {
	g := &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	g.gens = append(g.gens, textCommands...)
	if meta {
		g.gens = append(g.gens, metaCommands...)
	}
	return g
}

// Sequence returns a sequence of about n commands: it starts with
// flush_all, so that both sides start empty, and ends with a get of
// every key, so that a difference in state shows.
func (g *Generator) Sequence(n int) (Sequence, int) {
	seq := Sequence{"flush_all\r\n"}
	count := 1
	for count < n {
		w := g.pick()
		if w.alone {
			seq = append(seq, w.gen(g))
			count++
			continue
		}
		var b strings.Builder
		g.read = map[string]bool{}
		for range 1 + g.rng.IntN(8) {
			w := g.pick()
			for w.alone {
				w = g.pick()
			}
			cmd := w.gen(g)
			g.noteRead(cmd)
			b.WriteString(cmd)
			count++
		}
		seq = append(seq, b.String())
	}
	seq = append(seq, "gets "+strings.Join(keys, " ")+"\r\n")
	return seq, count + 1
}

func (g *Generator) pick() weighted {
	total := 0
	for _, w := range g.gens {
		total += w.weight
	}
	n := g.rng.IntN(total)
	for _, w := range g.gens {
		if n < w.weight {
			return w
		}
		n -= w.weight
	}
	panic("unreachable")
}

// keys are the keys commands use: few, so that commands meet on them, one
// of memcached's longest (250 bytes) and one with bytes above ASCII.
var keys = []string{"k0", "k1", "k2", "k3", "n", strings.Repeat("l", maxKeyLength), "k\xc3\xa9"}

// maxKeyLength is memcached's key length limit (KEY_MAX_LENGTH).
const maxKeyLength = 250

// tooLongKey is one byte over memcached's limit. Only storage commands get
// it: a get with it makes memcached 1.6.18 drop the replies it has not sent
// yet (a documented deviation, controller/protocol_test.go).
var tooLongKey = strings.Repeat("l", maxKeyLength+1)

// itemSizeMax is the item size limit on both sides (memcached's -I
// default, memcons's item_size_max default).
const itemSizeMax = 1 << 20

// itemHeader is what memcached counts on top of key and value in an item
// with flags 0 and CAS on (as controller/protocol_test.go's fitVal).
const itemHeader = 59

func (g *Generator) key() string { return keys[g.rng.IntN(len(keys))] }

// noteRead records the keys a retrieval command reads.
func (g *Generator) noteRead(cmd string) {
	line, _, _ := strings.Cut(cmd, "\r\n")
	f := strings.Fields(line)
	if len(f) < 2 {
		return
	}
	switch f[0] {
	case "get", "gets":
		f = f[1:]
	case "gat", "gats":
		f = f[2:]
	case "mg":
		if slices.Contains(f[2:], "b") { // a base64 key: the item is the decoded one
			k, err := base64.StdEncoding.DecodeString(f[1])
			if err == nil {
				f[1] = string(k)
			}
		}
		f = f[1:2]
	default:
		return
	}
	for _, k := range f {
		g.read[k] = true
	}
}

// counterKey is key for incr and decr, but never one the batch has
// retrieved already. memcached writes an incr or decr result that is no
// longer than the old value in place, padded with spaces, unless another
// reference holds the item: its own connection's reply to an earlier get
// of the same pipeline does until the reply is sent, and the result then
// comes unpadded. memcons pads always (what memcached does outside such a
// pipeline); the generator leaves the pipelined case out.
func (g *Generator) counterKey() string {
	for range 8 {
		if k := g.key(); !g.read[k] {
			return k
		}
	}
	return "unread"
}

func (g *Generator) keysN(max int) string {
	n := 1 + g.rng.IntN(max)
	ks := make([]string, n)
	for i := range ks {
		ks[i] = g.key()
	}
	return strings.Join(ks, " ")
}

// exptime returns an exptime both sides agree on whenever the command
// runs: never, already expired (negative, or an absolute time in the
// past), or far enough ahead that no test outlives it (relative up to 30
// days, or an absolute time in 2033). Small positive exptimes would
// expire at a moment each side's clock decides.
func (g *Generator) exptime() string {
	switch g.rng.IntN(10) {
	case 0:
		return "-1"
	case 1:
		return strconv.Itoa(-1 - g.rng.IntN(1000))
	case 2:
		return "2592000" // the longest relative exptime
	case 3:
		return "2592001" // the shortest absolute one: 1970, expired
	case 4:
		return "2000000000"
	case 5:
		return strconv.Itoa(3600 + g.rng.IntN(100000))
	}
	return "0"
}

func (g *Generator) flags() string {
	switch g.rng.IntN(12) {
	case 0:
		return "4294967295"
	case 1:
		return strconv.Itoa(1 + g.rng.IntN(1000))
	}
	return "0"
}

func (g *Generator) noreply() string {
	if g.rng.IntN(5) == 0 {
		return " noreply"
	}
	return ""
}

// valueAlphabet has no capital letters, so that no value holds a reply
// line (VALUE, END, VERSION ...) and replies can be parsed by lines. Its
// last byte is the space.
const valueAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789 "

// value returns a value for key: often a number (for incr and decr),
// sometimes with "\r\n" inside, rarely as long as an item may be or one
// byte longer.
func (g *Generator) value(key string) string {
	switch g.rng.IntN(40) {
	case 0:
		return strings.Repeat("v", itemSizeMax-itemHeader-len(key))
	case 1:
		return strings.Repeat("v", itemSizeMax-itemHeader-len(key)+1)
	case 2, 3, 4:
		return ""
	case 5, 6:
		return "a\r\nb"
	case 7, 8, 9, 10, 11, 12:
		return g.number()
	}
	// The first byte is never a space: incr on a value of white space
	// alone makes memcached's strtoull read on past the item, into memory
	// that holds anything.
	n := 1 + g.rng.IntN(30)
	b := make([]byte, n)
	for i := range b {
		b[i] = valueAlphabet[g.rng.IntN(len(valueAlphabet)-1)]
		if i > 0 {
			b[i] = valueAlphabet[g.rng.IntN(len(valueAlphabet))]
		}
	}
	return string(b)
}

// number returns a stored counter value: small, at the top of uint64, with
// a leading space, or as long as incr reads.
func (g *Generator) number() string {
	switch g.rng.IntN(14) {
	case 0:
		return "18446744073709551615"
	case 1:
		return "18446744073709551614"
	case 2:
		return " 7"
	case 3:
		return "00000000000000000000042"
	case 4:
		return "12 "
	case 5:
		return "0000000000000000000000000000000042"
	case 6:
		return "-0"
	case 7:
		return "-5"
	case 8:
		return "+5"
	case 9:
		return "\t7"
	case 10:
		return "8 rest"
	}
	return strconv.Itoa(g.rng.IntN(1000))
}

func (g *Generator) delta() string {
	switch g.rng.IntN(12) {
	case 0:
		return "18446744073709551615"
	case 1:
		return "x"
	case 2:
		return "-1"
	case 3:
		return "18446744073709551616"
	case 4:
		return "0"
	}
	return strconv.Itoa(g.rng.IntN(100))
}

// unique returns what a cas command sends: mostly the latest unique of
// key, sometimes an older one, sometimes one never issued.
func (g *Generator) unique(key string) string {
	switch g.rng.IntN(6) {
	case 0:
		return neverIssued
	case 1:
		return Placeholder(key, g.rng.IntN(3))
	case 2:
		return Placeholder(key, -2)
	}
	return Placeholder(key, -1)
}

func storage(verb string) func(g *Generator) string {
	return func(g *Generator) string {
		key := g.key()
		v := g.value(key)
		return fmt.Sprintf("%s %s %s %s %d%s\r\n%s\r\n", verb, key, g.flags(), g.exptime(), len(v), g.noreply(), v)
	}
}

// textCommands are the classic commands, weighted as a cache sees them.
var textCommands = []weighted{
	{name: "get", weight: 12, gen: func(g *Generator) string { return "get " + g.keysN(3) + "\r\n" }},
	{name: "gets", weight: 10, gen: func(g *Generator) string { return "gets " + g.keysN(3) + "\r\n" }},
	{name: "gat", weight: 3, gen: func(g *Generator) string { return "gat " + g.exptime() + " " + g.keysN(2) + "\r\n" }},
	{name: "gats", weight: 4, gen: func(g *Generator) string { return "gats " + g.exptime() + " " + g.keysN(2) + "\r\n" }},
	{name: "set", weight: 14, gen: storage("set")},
	{name: "add", weight: 4, gen: storage("add")},
	{name: "replace", weight: 4, gen: storage("replace")},
	{name: "append", weight: 4, gen: storage("append")},
	{name: "prepend", weight: 4, gen: storage("prepend")},
	{name: "cas", weight: 8, gen: func(g *Generator) string {
		key := g.key()
		v := g.value(key)
		return fmt.Sprintf("cas %s %s %s %d %s%s\r\n%s\r\n", key, g.flags(), g.exptime(), len(v), g.unique(key), g.noreply(), v)
	}},
	{name: "incr", weight: 6, gen: func(g *Generator) string {
		return "incr " + g.counterKey() + " " + g.delta() + g.noreply() + "\r\n"
	}},
	{name: "decr", weight: 5, gen: func(g *Generator) string {
		return "decr " + g.counterKey() + " " + g.delta() + g.noreply() + "\r\n"
	}},
	{name: "delete", weight: 5, gen: func(g *Generator) string {
		hold := ""
		if g.rng.IntN(4) == 0 {
			hold = " 0"
		}
		return "delete " + g.key() + hold + g.noreply() + "\r\n"
	}},
	{name: "touch", weight: 5, gen: func(g *Generator) string { return "touch " + g.key() + " " + g.exptime() + g.noreply() + "\r\n" }},
	{name: "flush_all", weight: 1, gen: func(g *Generator) string {
		delay := ""
		if g.rng.IntN(3) == 0 {
			delay = " 0"
		}
		return "flush_all" + delay + g.noreply() + "\r\n"
	}},
	{name: "verbosity", weight: 1, gen: func(g *Generator) string { return "verbosity " + strconv.Itoa(g.rng.IntN(3)) + g.noreply() + "\r\n" }},
	{name: "version", weight: 1, gen: func(*Generator) string { return "version\r\n" }},
	{name: "malformed", weight: 4, gen: func(g *Generator) string { return malformed[g.rng.IntN(len(malformed))] }},
	{name: "stats", weight: 1, alone: true, gen: func(g *Generator) string {
		return []string{"stats\r\n", "stats items\r\n", "stats slabs\r\n"}[g.rng.IntN(3)]
	}},
}

// malformed are bad commands with memcached's answers to match: unknown
// words, wrong token counts, bad numbers, bad data chunks, a key too long.
var malformed = []string{
	"foo\r\n",
	"\r\n",
	"GET k0\r\n",
	"get\r\n",
	"set k0 0 0\r\n",
	"set k0 x 0 1\r\nv\r\n",
	"set k0 4294967296 0 1\r\nv\r\n",
	"set k0 -1 0 1\r\nv\r\n",
	"set k0 0 x 1\r\nv\r\n",
	"set k0 0 0 -1\r\n",
	"set k0 0 0 1\r\nxy\r\n",
	"set k0 0 0 1 noreply\r\nxy\r\n",
	"set " + tooLongKey + " 0 0 1\r\nx\r\n",
	"cas k0 0 0 1\r\nv\r\n",
	"cas k0 0 0 1 x\r\nv\r\n",
	"incr k0\r\n",
	"incr k0 1 2 3\r\n",
	"delete\r\n",
	"delete k0 1\r\n",
	"delete k0 0 0\r\n",
	"touch k0\r\n",
	"touch k0 x\r\n",
	"gat x k0\r\n",
	"gat 10\r\n",
	"verbosity\r\n",
	"verbosity x\r\n",
	"flush_all x\r\n",
	"stats nonsense\r\n",
	"set k1 0 0 5 junk\r\nhello\r\n",
}
