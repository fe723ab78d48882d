package difftest

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// metaCommands are the meta-protocol commands (memcached 1.6's
// doc/protocol.txt), on with NewGenerator's meta switch (the test's
// metaOn, or the MEMCONS_DIFF_META environment variable). Their flags are picked at random from each command's table;
// quiet mode (q) is followed by mn, as a client ends a quiet pipeline.
var metaCommands = []weighted{
	{name: "mn", weight: 2, gen: func(*Generator) string { return "mn\r\n" }},
	{name: "mg", weight: 12, gen: func(g *Generator) string {
		key, kf := g.metaKey()
		line, end := g.quiet("mg "+key, kf, g.metaFlags(key, mgFlags))
		return line + end
	}},
	{name: "ms", weight: 10, gen: func(g *Generator) string {
		key, kf := g.metaKey()
		v := g.value(key)
		flags := g.metaFlags(key, msFlags)
		line, end := g.quiet(fmt.Sprintf("ms %s %d", key, len(v)), kf, flags)
		return line + v + "\r\n" + end
	}},
	{name: "md", weight: 4, gen: func(g *Generator) string {
		key, kf := g.metaKey()
		line, end := g.quiet("md "+key, kf, g.metaFlags(key, mdFlags))
		return line + end
	}},
	{name: "ma", weight: 5, gen: func(g *Generator) string {
		key, kf := g.counterKey(), "" // as incr: see counterKey
		line, end := g.quiet("ma "+key, kf, g.metaFlags(key, maFlags))
		return line + end
	}},
	{name: "me", weight: 1, gen: func(g *Generator) string { return "me " + g.key() + "\r\n" }},
	{name: "meta malformed", weight: 2, gen: func(g *Generator) string { return metaMalformed[g.rng.IntN(len(metaMalformed))] }},
}

// metaFlag makes one flag token of a meta command for key.
type metaFlag func(g *Generator, key string) string

func plain(f string) metaFlag { return func(*Generator, string) string { return f } }

func withTTL(f string) metaFlag {
	return func(g *Generator, _ string) string { return f + g.exptime() }
}

func withCas(f string) metaFlag {
	return func(g *Generator, key string) string { return f + g.unique(key) }
}

func withNumber(f string, values ...string) metaFlag {
	return func(g *Generator, _ string) string { return f + values[g.rng.IntN(len(values))] }
}

// opaque is O with a token both sides echo.
func opaque(g *Generator, _ string) string { return "O" + strconv.Itoa(g.rng.IntN(1000)) }

// The flags of each meta command. The key flag k is always there when c is
// (the runner learns a unique by its key), so k is added by metaFlags.
// memcached 1.6.18, the reference, refuses E<unique> (set the new unique)
// on every meta command and x (drop the value) on md as invalid flags, and
// ignores ms's s (the stored size), which memcons returns as newer
// memcached does, so the tables leave them out: add withCas("E") to each,
// plain("x") to mdFlags and plain("s") to msFlags once the reference is a
// memcached that has them (internal/testcluster's TestMeta_ChosenCas
// checks them meanwhile). R's times stay clear of exptime's: an R equal to
// an item's relative expiry (2592000) wins or not as a clock ticks between
// the write and the mg, at a moment each side's clock decides.
var (
	mgFlags = []metaFlag{plain("v"), plain("f"), plain("s"), plain("t"), plain("c"), plain("k"), plain("h"),
		plain("u"), opaque, withTTL("T"), withTTL("N"), withNumber("R", "0", "30", "2591000")}
	msFlags = []metaFlag{plain("c"), plain("k"), plain("I"), opaque, withCas("C"),
		withNumber("F", "0", "1", "4294967295"), withTTL("T"),
		withNumber("M", "E", "A", "P", "R", "S", "e", "a", "p", "r", "s", "X")}
	mdFlags = []metaFlag{plain("I"), plain("k"), opaque, withCas("C"), withTTL("T")}
	maFlags = []metaFlag{plain("t"), plain("c"), plain("v"), plain("k"), opaque, withTTL("N"),
		withNumber("J", "0", "10", "18446744073709551615"), withNumber("D", "0", "1", "100", "18446744073709551615"),
		withNumber("M", "I", "+", "D", "-", "X"), withCas("C"), withTTL("T")}
)

// metaFlags picks a few distinct flags from table for key.
func (g *Generator) metaFlags(key string, table []metaFlag) []string {
	var out []string
	used := map[byte]bool{}
	for range g.rng.IntN(5) {
		f := table[g.rng.IntN(len(table))](g, key)
		if used[f[0]] {
			continue
		}
		used[f[0]] = true
		out = append(out, f)
	}
	if used['c'] && !used['k'] {
		out = append(out, "k")
	}
	return out
}

// metaKey returns a key as a meta command sends it, and the flag that
// goes with it: sometimes base64-encoded with the b flag. memcached
// checks the encoded length against its 250-byte limit, so the longest
// key is never encoded: refused, an ms's data line is read as a command,
// and memcached closes the connection over a 1 MiB one
// (testdata/base64-key-over-limit.seq has the short case).
func (g *Generator) metaKey() (key, flag string) {
	k := g.key()
	if g.rng.IntN(6) == 0 {
		if enc := base64.StdEncoding.EncodeToString([]byte(k)); len(enc) <= maxKeyLength {
			return enc, "b"
		}
	}
	return k, ""
}

// quiet ends a meta command line with its flags, sometimes quiet (q): end
// is then the mn that follows it (after the data block, for ms).
func (g *Generator) quiet(line, keyFlag string, flags []string) (full, end string) {
	if keyFlag != "" {
		flags = append(flags, keyFlag)
	}
	if g.rng.IntN(4) == 0 {
		flags = append(flags, "q")
		end = "mn\r\n"
	}
	if len(flags) > 0 {
		line += " " + strings.Join(flags, " ")
	}
	return line + "\r\n", end
}

// metaMalformed are bad meta commands with memcached's answers to match.
var metaMalformed = []string{
	"mg\r\n",
	"ms k0\r\n",
	"ms k0 x\r\nv\r\n",
	"ms k0 1\r\nxy\r\n",
	"mg k0 !\r\n",
	"ma k0 Dx\r\n",
	"mg " + tooLongKey + " v\r\n",
	"md\r\n",
}
