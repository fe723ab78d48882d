package controller

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/localmode"
	"github.com/memcons/memcons/internal/memcachedtest"
	"github.com/memcons/memcons/kvcontroller"
)

// protoCase is one conversation with a fresh server: the writes go out one
// Write each, and the whole reply is compared.
type protoCase struct {
	name   string
	writes []string
	// want is the exact reply of memcons, and of memcached unless memcached
	// is set.
	want string
	// memcached is memcached's reply where it legitimately differs from
	// memcons (a documented deviation).
	memcached string
	// shape, when set, is a regexp both replies must match instead of want
	// (cas uniques, stats, version).
	shape string
	// closes is set when the server closes the connection after replying.
	closes bool
}

var (
	key250 = strings.Repeat("k", 250)
	key251 = strings.Repeat("k", 251)
	bigVal = strings.Repeat("v", 2_000_000)
	// The largest value memcached -I 1m takes under a one-byte key with
	// flags 0: 1 MiB minus the 59-byte item header and the key.
	fitVal  = strings.Repeat("v", 1<<20-59-1)
	overVal = fitVal + "v"
	manyGet = "get" + strings.Repeat(" key-with-some-length", 300) + "\r\n"
	// manyIncrs and countTo are 300 pipelined commands, more than a batch.
	manyIncrs = "set n 0 0 1\r\n0\r\n" + strings.Repeat("incr n 1\r\n", 300)
	countTo   = func() string {
		var b strings.Builder
		b.WriteString("STORED\r\n")
		for i := 1; i <= 300; i++ {
			fmt.Fprintf(&b, "%d\r\n", i)
		}
		return b.String()
	}()
)

var protoCases = []protoCase{
	// Retrieval and storage.
	{name: "set then get", writes: []string{"set k 0 0 5\r\nhello\r\nget k\r\n"}, want: "STORED\r\nVALUE k 0 5\r\nhello\r\nEND\r\n"},
	{name: "flags kept", writes: []string{"set k 42 0 1\r\nx\r\nget k\r\n"}, want: "STORED\r\nVALUE k 42 1\r\nx\r\nEND\r\n"},
	{name: "empty value", writes: []string{"set k 0 0 0\r\n\r\nget k\r\n"}, want: "STORED\r\nVALUE k 0 0\r\n\r\nEND\r\n"},
	{name: "get miss", writes: []string{"get nope\r\n"}, want: "END\r\n"},
	{name: "multi get in key order", writes: []string{"set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\nget b nope a\r\n"}, want: "STORED\r\nSTORED\r\nVALUE b 0 1\r\n2\r\nVALUE a 0 1\r\n1\r\nEND\r\n"},
	{name: "gets shows cas unique", writes: []string{"set k 3 0 1\r\nx\r\ngets k\r\n"}, shape: `^STORED\r\nVALUE k 3 1 \d+\r\nx\r\nEND\r\n$`},
	{name: "add", writes: []string{"add k 0 0 1\r\nx\r\nadd k 0 0 1\r\ny\r\nget k\r\n"}, want: "STORED\r\nNOT_STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n"},
	{name: "replace", writes: []string{"replace k 0 0 1\r\nx\r\nset k 0 0 1\r\nx\r\nreplace k 0 0 1\r\ny\r\nget k\r\n"}, want: "NOT_STORED\r\nSTORED\r\nSTORED\r\nVALUE k 0 1\r\ny\r\nEND\r\n"},
	{name: "append and prepend", writes: []string{"append k 0 0 1\r\nx\r\nset k 5 0 1\r\nb\r\nappend k 0 0 1\r\nc\r\nprepend k 0 0 1\r\na\r\nget k\r\n"}, want: "NOT_STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\nVALUE k 5 3\r\nabc\r\nEND\r\n"},
	{name: "cas not found", writes: []string{"cas k 0 0 1 1\r\nx\r\n"}, want: "NOT_FOUND\r\n"},
	{name: "cas exists", writes: []string{"set k 0 0 1\r\nx\r\ncas k 0 0 1 12345678901\r\ny\r\nget k\r\n"}, want: "STORED\r\nEXISTS\r\nVALUE k 0 1\r\nx\r\nEND\r\n"},
	{name: "negative exptime expires at once", writes: []string{"set k 0 -1 1\r\nx\r\nget k\r\n"}, want: "STORED\r\nEND\r\n"},
	{name: "sixth token that is not noreply is ignored", writes: []string{"set k 0 0 1 junk\r\nx\r\nget k\r\n"}, want: "STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n"},
	{name: "line ended by LF alone", writes: []string{"set k 0 0 1\nx\r\nget k\n"}, want: "STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n"},
	{name: "NUL ends the line", writes: []string{"set k 0 0 1\r\nx\r\nget k\x00junk\r\n"}, want: "STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n"},
	{name: "extra spaces", writes: []string{"  set  k 0  0 1 \r\nx\r\n get   k  \r\n"}, want: "STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n"},

	// delete, incr, decr, touch, gat.
	{name: "delete", writes: []string{"delete k\r\nset k 0 0 1\r\nx\r\ndelete k\r\nget k\r\n"}, want: "NOT_FOUND\r\nSTORED\r\nDELETED\r\nEND\r\n"},
	{name: "delete with zero hold", writes: []string{"set k 0 0 1\r\nx\r\ndelete k 0\r\n"}, want: "STORED\r\nDELETED\r\n"},
	{name: "delete with hold time", writes: []string{"delete k 1\r\ndelete k 0 0\r\n"}, want: "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\nCLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"},
	{name: "delete token count", writes: []string{"delete\r\ndelete a b c d\r\n"}, want: "ERROR\r\nERROR\r\n"},
	{name: "incr and decr", writes: []string{"set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 3\r\nget n\r\n"}, want: "STORED\r\n15\r\n12\r\nVALUE n 0 2\r\n12\r\nEND\r\n"},
	{name: "incr decr miss", writes: []string{"incr n 1\r\ndecr n 1\r\n"}, want: "NOT_FOUND\r\nNOT_FOUND\r\n"},
	{name: "incr wraps at 2^64", writes: []string{"set n 0 0 20\r\n18446744073709551615\r\nincr n 2\r\n"}, want: "STORED\r\n1\r\n"},
	{name: "decr stops at 0", writes: []string{"set n 0 0 1\r\n5\r\ndecr n 10\r\n"}, want: "STORED\r\n0\r\n"},
	{name: "incr non-numeric", writes: []string{"set n 0 0 2\r\nab\r\nincr n 1\r\n"}, want: "STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n"},
	{name: "incr invalid delta", writes: []string{"incr n x\r\nincr n -1\r\nincr n 18446744073709551616\r\n"}, want: strings.Repeat("CLIENT_ERROR invalid numeric delta argument\r\n", 3)},
	{name: "incr token count", writes: []string{"incr n\r\nincr n 1 2 3\r\n"}, want: "ERROR\r\nERROR\r\n"},
	{name: "touch", writes: []string{"touch k 10\r\nset k 0 0 1\r\nx\r\ntouch k 10\r\ntouch k -1\r\nget k\r\n"}, want: "NOT_FOUND\r\nSTORED\r\nTOUCHED\r\nTOUCHED\r\nEND\r\n"},
	{name: "touch bad exptime", writes: []string{"touch k x\r\ntouch k\r\n"}, want: "CLIENT_ERROR invalid exptime argument\r\nERROR\r\n"},
	{name: "gat", writes: []string{"set k 0 0 1\r\nx\r\ngat 100 k nope\r\n"}, want: "STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n"},
	{name: "gats shows cas unique", writes: []string{"set k 0 0 1\r\nx\r\ngats 100 k\r\n"}, shape: `^STORED\r\nVALUE k 0 1 \d+\r\nx\r\nEND\r\n$`},
	{name: "gat negative exptime", writes: []string{"set k 0 0 1\r\nx\r\ngat -1 k\r\nget k\r\n"}, want: "STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\nEND\r\n"},
	{name: "gat without keys", writes: []string{"gat 10\r\n"}, want: "END\r\n"},
	{name: "gat bad exptime", writes: []string{"gat x k\r\ngat\r\n"}, want: "CLIENT_ERROR invalid exptime argument\r\nERROR\r\n"},

	// flush_all, verbosity, version, stats, quit.
	{name: "flush_all", writes: []string{"set k 0 0 1\r\nx\r\nflush_all\r\nget k\r\n"}, want: "STORED\r\nOK\r\nEND\r\n"},
	{name: "flush_all zero", writes: []string{"set k 0 0 1\r\nx\r\nflush_all 0\r\nget k\r\n"}, want: "STORED\r\nOK\r\nEND\r\n"},
	{name: "flush_all noreply", writes: []string{"set k 0 0 1\r\nx\r\nflush_all noreply\r\nget k\r\n"}, want: "STORED\r\nEND\r\n"},
	{name: "flush_all with delay keeps items for now", writes: []string{"set k 0 0 1\r\nx\r\nflush_all 100\r\nget k\r\n"}, want: "STORED\r\nOK\r\nVALUE k 0 1\r\nx\r\nEND\r\n"},
	{name: "flush_all delay noreply", writes: []string{"flush_all 100 noreply\r\nget k\r\n"}, want: "END\r\n"},
	{name: "flush_all bad delay", writes: []string{"flush_all x\r\nflush_all 1 2 3\r\n"}, want: "CLIENT_ERROR invalid exptime argument\r\nERROR\r\n"},
	{name: "verbosity", writes: []string{"verbosity 1\r\nverbosity\r\nverbosity x\r\nverbosity 1 noreply\r\nverbosity 1 2\r\n"}, want: "OK\r\nERROR\r\nCLIENT_ERROR bad command line format\r\nOK\r\n"},
	{name: "version", writes: []string{"version\r\n"}, shape: `^VERSION 1\.6\.18\S*\r\n$`},
	{name: "stats", writes: []string{"stats\r\n"}, shape: `^(STAT pid \d+\r\n)(STAT \S+ [^\r\n]*\r\n)+END\r\n$`},
	{name: "stats settings", writes: []string{"stats settings\r\n"}, shape: `^(STAT \S+ [^\r\n]*\r\n)*STAT item_size_max 1048576\r\n(STAT \S+ [^\r\n]*\r\n)*END\r\n$`},
	{name: "stats reset", writes: []string{"stats reset\r\n"}, want: "RESET\r\n"},
	{name: "stats unknown group", writes: []string{"stats nonsense\r\n"}, want: "ERROR\r\n"},
	{name: "quit", writes: []string{"get k\r\nquit\r\nget k\r\n"}, want: "END\r\n", closes: true},

	// noreply.
	{name: "noreply storage", writes: []string{"set k 0 0 1 noreply\r\na\r\nadd k 0 0 1 noreply\r\nb\r\nreplace k 0 0 1 noreply\r\nc\r\nappend k 0 0 1 noreply\r\nd\r\nprepend k 0 0 1 noreply\r\ne\r\ncas k 0 0 1 1 noreply\r\nf\r\nget k\r\n"}, want: "VALUE k 0 3\r\necd\r\nEND\r\n"},
	{name: "noreply arithmetic and delete", writes: []string{"set n 0 0 1 noreply\r\n5\r\nincr n 10 noreply\r\ndecr n 1 noreply\r\nincr nope 1 noreply\r\nget n\r\ndelete n noreply\r\ndelete n 0 noreply\r\nget n\r\n"}, want: "VALUE n 0 2\r\n14\r\nEND\r\nEND\r\n"},
	{name: "noreply touch", writes: []string{"set k 0 0 1\r\nx\r\ntouch k -1 noreply\r\ntouch k 10 noreply\r\nget k\r\n"}, want: "STORED\r\nEND\r\n"},
	{name: "noreply hides errors", writes: []string{"set n 0 0 2 noreply\r\nab\r\nincr n 1 noreply\r\nincr n x noreply\r\ntouch n x noreply\r\nverbosity x noreply\r\ndelete n x noreply\r\nflush_all x noreply\r\nget n\r\n"}, want: "VALUE n 0 2\r\nab\r\nEND\r\n"},
	{name: "noreply bad number leaves the data line as a command", writes: []string{"set k 0 0 z noreply\r\nx\r\n"}, want: "ERROR\r\n"},
	{name: "noreply bad data chunk", writes: []string{"set k 0 0 1 noreply\r\nxy\r\nget k\r\n"}, want: "ERROR\r\nEND\r\n"},
	{name: "noreply is not a get option", writes: []string{"get noreply\r\n"}, want: "END\r\n"},

	// Pipelining and split input.
	{name: "pipelined in one write", writes: []string{"set a 0 0 1\r\n1\r\nget a\r\nincr a 1\r\ndelete a\r\nget a\r\nversion junk\r\n"}, shape: `^STORED\r\nVALUE a 0 1\r\n1\r\nEND\r\n2\r\nDELETED\r\nEND\r\nVERSION 1\.6\.18\S*\r\n$`},
	{name: "many pipelined commands", writes: []string{manyIncrs}, want: countTo},
	{name: "value split over writes", writes: []string{"set k 0 0 10\r\nhel", "low", "orld", "\r", "\nget k\r\n"}, want: "STORED\r\nVALUE k 0 10\r\nhelloworld\r\nEND\r\n"},
	{name: "line split over writes", writes: []string{"se", "t k 0 0 1\r", "\nx\r\nge", "t k", "\r\n"}, want: "STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n"},
	{name: "long get line", writes: []string{manyGet}, want: "END\r\n"},
	{name: "HTTP request closes", writes: []string{"get k\r\nGET / HTTP/1.1\r\n"}, want: "END\r\n", closes: true},
	{name: "line without newline past 2048 bytes closes", writes: []string{"set " + strings.Repeat("x", 3000)}, want: "", closes: true},

	// Keys.
	{name: "key of 250 bytes", writes: []string{"set " + key250 + " 0 0 1\r\nx\r\nget " + key250 + "\r\n"}, want: "STORED\r\nVALUE " + key250 + " 0 1\r\nx\r\nEND\r\n"},
	// A get with a too-long key makes memcached 1.6.18 drop every reply it
	// has not sent yet (conn_release_items), so such a get comes first and
	// alone in its case.
	{name: "set with key of 251 bytes", writes: []string{"set " + key251 + " 0 0 1\r\nx\r\n"}, want: "CLIENT_ERROR bad command line format\r\nERROR\r\n"},
	{name: "get with key of 251 bytes", writes: []string{"get " + key251 + "\r\n"}, want: "CLIENT_ERROR bad command line format\r\n"},
	{name: "multi get with a key of 251 bytes", writes: []string{"get a " + key251 + "\r\nget a\r\n"}, want: "CLIENT_ERROR bad command line format\r\nEND\r\n"},
	{name: "key of 251 bytes noreply", writes: []string{"set " + key251 + " 0 0 1 noreply\r\nx\r\n"}, want: "ERROR\r\n"},
	{
		// memcached only splits on spaces and checks the length.
		name:   "key with control characters",
		writes: []string{"set a\x01b 0 0 1\r\nx\r\nget a\tb\r\nget a\x01b\r\n"},
		want:   "STORED\r\nEND\r\nVALUE a\x01b 0 1\r\nx\r\nEND\r\n",
	},

	// Values over the limit and bad data blocks.
	{name: "value over the limit is swallowed", writes: []string{"set k 0 0 1\r\nx\r\nset k 0 0 2000000\r\n" + bigVal + "\r\nget k\r\n"}, want: "STORED\r\nSERVER_ERROR object too large for cache\r\nEND\r\n"},
	{name: "value over the limit noreply", writes: []string{"set k 0 0 2000000 noreply\r\n" + bigVal + "\r\nget k\r\n"}, want: "END\r\n"},
	{name: "append over the limit keeps the item", writes: []string{"set k 0 0 1\r\nx\r\nappend k 0 0 2000000\r\n" + bigVal + "\r\nget k\r\n"}, want: "STORED\r\nSERVER_ERROR object too large for cache\r\nVALUE k 0 1\r\nx\r\nEND\r\n"},
	{name: "largest value that fits", writes: []string{"set k 0 0 " + fmt.Sprint(len(fitVal)) + "\r\n" + fitVal + "\r\n"}, want: "STORED\r\n"},
	{name: "one byte more", writes: []string{"set k 0 0 " + fmt.Sprint(len(overVal)) + "\r\n" + overVal + "\r\nget k\r\n"}, want: "SERVER_ERROR object too large for cache\r\nEND\r\n"},
	{name: "one byte more with flags", writes: []string{"set k 1 0 " + fmt.Sprint(len(fitVal)) + "\r\n" + fitVal + "\r\n"}, want: "SERVER_ERROR object too large for cache\r\n"},
	{name: "bad data chunk", writes: []string{"set k 0 0 1\r\nxy\r\nget k\r\n"}, want: "CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n"},
	{name: "bad data chunk LF only", writes: []string{"set k 0 0 1\r\nx\nget k\r\n"}, want: "CLIENT_ERROR bad data chunk\r\nERROR\r\n"},

	// Numbers.
	{name: "bad flags", writes: []string{"set k z 0 1\r\nx\r\n"}, want: "CLIENT_ERROR bad command line format\r\nERROR\r\n"},
	{name: "negative flags", writes: []string{"set k -1 0 1\r\nx\r\n"}, want: "CLIENT_ERROR bad command line format\r\nERROR\r\n"},
	{name: "flags truncated to 32 bits", writes: []string{"set k 4294967297 0 1\r\nx\r\nget k\r\n"}, want: "STORED\r\nVALUE k 1 1\r\nx\r\nEND\r\n"},
	{name: "signed numbers", writes: []string{"set k +5 -0 +1\r\nx\r\nget k\r\n"}, want: "STORED\r\nVALUE k 5 1\r\nx\r\nEND\r\n"},
	{name: "bad exptime", writes: []string{"set k 0 1x 1\r\nx\r\n"}, want: "CLIENT_ERROR bad command line format\r\nERROR\r\n"},
	{name: "bad length", writes: []string{"set k 0 0 0x1\r\nx\r\n"}, want: "CLIENT_ERROR bad command line format\r\nERROR\r\n"},
	{name: "negative length", writes: []string{"set k 0 0 -1\r\nx\r\n"}, want: "CLIENT_ERROR bad command line format\r\nERROR\r\n"},
	{name: "2 GiB length wraps negative", writes: []string{"set k 0 0 2147483648\r\nget k\r\n"}, want: "CLIENT_ERROR bad command line format\r\nEND\r\n"},
	{name: "bad cas unique", writes: []string{"cas k 0 0 1 x\r\nx\r\n"}, want: "CLIENT_ERROR bad command line format\r\nERROR\r\n"},

	// Unknown commands and token counts.
	{name: "unknown command", writes: []string{"foo\r\n"}, want: "ERROR\r\n"},
	{name: "empty and one-letter lines", writes: []string{"\r\n\nx\r\n \r\n"}, want: "ERROR\r\nERROR\r\nERROR\r\nERROR\r\n"},
	{name: "wrong token counts", writes: []string{"get\r\nset k 0 0\r\nset k 0 0 1 noreply x\r\ncas k 0 0 1\r\ntouch k\r\n"}, want: "ERROR\r\nERROR\r\nERROR\r\nERROR\r\nERROR\r\n"},

	// Meta commands (CAS values differ between servers: none is shown).
	{name: "meta no-op", writes: []string{"mn\r\nmn x y\r\n"}, want: "MN\r\nMN\r\n"},
	{name: "meta protocol example", writes: []string{"ms k 2 T0 F5\r\nhi\r\nmg k v f t\r\nmn\r\n"}, want: "HD\r\nVA 2 f5 t-1\r\nhi\r\nMN\r\n"},
	{name: "meta quiet pipeline", writes: []string{"ms a 1 q\r\n1\r\nmg a v q k\r\nmg b v q k\r\nmd b q\r\nmd a q\r\nma c q\r\nmn\r\n"}, want: "VA 1 ka\r\n1\r\nNF\r\nNF\r\nMN\r\n"},
	{name: "meta split over writes", writes: []string{"m", "s k 3 F", "1\r\nab", "c\r", "\nmg k s", " v\r\n"}, want: "HD\r\nVA 3 s3\r\nabc\r\n"},
	{name: "meta set over the limit drops the item", writes: []string{"ms k 1\r\nx\r\nms k 2000000 q\r\n" + bigVal + "\r\nmg k v\r\n"}, want: "HD\r\nSERVER_ERROR object too large for cache\r\nEN\r\n"},
	{name: "meta set bad data chunk", writes: []string{"ms k 1 q\r\nxy\r\nmg k v\r\n"}, want: "CLIENT_ERROR bad data chunk\r\nERROR\r\nEN\r\n"},
	{name: "meta set refused flags swallow the block", writes: []string{"ms k 3 zz\r\nabc\r\nms k 3 MX\r\nabc\r\nmg k v\r\n"}, want: "CLIENT_ERROR invalid flag\r\nCLIENT_ERROR invalid mode for ms M token\r\nEN\r\n"},
	{name: "meta set bad length leaves the block a command", writes: []string{"ms k z\r\nmn\r\n"}, want: "CLIENT_ERROR bad command line format\r\nMN\r\n"},
	{name: "meta stale item", writes: []string{"ms k 1 T100\r\nx\r\nmd k I q\r\nmg k v\r\nmg k v\r\nms k 1 q\r\ny\r\nmg k v\r\n"}, want: "HD\r\nVA 1 X W\r\nx\r\nVA 1 Z X\r\nx\r\nVA 1\r\ny\r\n"},
}

// sentinel ends every conversation that keeps the connection open: its
// reply marks the end of the case's own reply.
const (
	sentinel      = "set zz-end 0 0 3\r\nend\r\nget zz-end\r\n"
	sentinelReply = "STORED\r\nVALUE zz-end 0 3\r\nend\r\nEND\r\n"
)

// runProtoCase plays tc against the server at addr and checks the reply
// against want (or the shape).
func runProtoCase(t *testing.T, conn net.Conn, tc protoCase, want string) {
	t.Helper()
	chunks := make([][]byte, 0, len(tc.writes)+1)
	for _, w := range tc.writes {
		chunks = append(chunks, []byte(w))
	}
	var suffix []byte
	if !tc.closes {
		chunks = append(chunks, []byte(sentinel))
		suffix = []byte(sentinelReply)
	}
	sent := sendAll(conn, chunks...)
	out, closed, err := readUntil(conn, suffix)
	require.NoError(t, err, "read; got so far %q", clip(out))
	if !closed {
		require.NoError(t, <-sent)
	}
	if tc.closes {
		assert.True(t, closed, "connection should close")
	} else {
		require.False(t, closed, "connection closed early; got %q", clip(out))
		out = out[:len(out)-len(sentinelReply)]
	}
	if tc.shape != "" {
		assert.Regexp(t, regexp.MustCompile(tc.shape), string(out))
		return
	}
	assert.Equal(t, want, string(out))
}

// clip shortens b for failure messages.
func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

func TestProtocol_Memcons(t *testing.T) {
	for _, tc := range protoCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, addr := startServer(t, Config{}, nil, Options{}, nil)
			runProtoCase(t, dial(t, addr), tc, tc.want)
		})
	}
}

// TestProtocol_MemconsOverMemcached replays the table through memcons backed
// by a real memcached replica, so the envelope, key escaping and pipelined
// replica connection change no reply.
func TestProtocol_MemconsOverMemcached(t *testing.T) {
	for _, tc := range protoCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store, err := kvcontroller.NewMemcachedStore(kvcontroller.MemcachedOptions{
				Addr: memcachedtest.Start(t, "-I", "2m"), Timeout: ioTimeout,
			})
			require.NoError(t, err)
			mode := localmode.New(store, localmode.Config{Kind: consistency.Linearizable})
			t.Cleanup(func() {
				_ = mode.Close()
				_ = store.Close()
			})
			_, addr := startServer(t, Config{}, mode, Options{}, nil)
			runProtoCase(t, dial(t, addr), tc, tc.want)
		})
	}
}

// TestProtocol_Memcached checks the table itself against a real memcached
// 1.6.18, so every expected reply is memcached's own.
func TestProtocol_Memcached(t *testing.T) {
	for _, tc := range protoCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := memcachedtest.Start(t)
			want := tc.want
			if tc.memcached != "" {
				want = tc.memcached
			}
			runProtoCase(t, dial(t, addr), tc, want)
		})
	}
}

// TestProtocol_ByteAtATime replays the table with every byte in its own
// read, over an in-memory pipe, so that no split of the input changes a
// reply.
func TestProtocol_ByteAtATime(t *testing.T) {
	for _, tc := range protoCases {
		size := 0
		for _, w := range tc.writes {
			size += len(w)
		}
		if size > 64<<10 {
			continue // the large-value rows take too long one byte at a time
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newPipeListener()
			_, _ = startServer(t, Config{}, nil, Options{}, l)
			conn, err := l.Dial()
			require.NoError(t, err)
			t.Cleanup(func() { _ = conn.Close() })
			var bytesOneByOne []string
			for _, w := range tc.writes {
				for i := range len(w) {
					bytesOneByOne = append(bytesOneByOne, w[i:i+1])
				}
			}
			split := tc
			split.writes = bytesOneByOne
			runProtoCase(t, conn, split, tc.want)
		})
	}
}
