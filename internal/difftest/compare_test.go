package difftest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCompareReplies(t *testing.T) {
	tests := []struct {
		name      string
		want, got []string // replies of successive batches
		same      bool
	}{
		{"identical", []string{"STORED\r\nEND\r\n"}, []string{"STORED\r\nEND\r\n"}, true},
		{"other line", []string{"STORED\r\n"}, []string{"NOT_STORED\r\n"}, false},
		{"missing line", []string{"STORED\r\nEND\r\n"}, []string{"STORED\r\n"}, false},
		{"other data", []string{"VALUE k 0 2\r\nab\r\nEND\r\n"}, []string{"VALUE k 0 2\r\nax\r\nEND\r\n"}, false},
		{"uniques that map one to one", []string{"VALUE a 0 1 5\r\nx\r\nVALUE b 0 1 6\r\ny\r\nEND\r\n", "VALUE a 0 1 5\r\nx\r\nEND\r\n"},
			[]string{"VALUE a 0 1 900\r\nx\r\nVALUE b 0 1 77\r\ny\r\nEND\r\n", "VALUE a 0 1 900\r\nx\r\nEND\r\n"}, true},
		{"a unique that changed on one side only", []string{"VALUE a 0 1 5\r\nx\r\nEND\r\n", "VALUE a 0 1 5\r\nx\r\nEND\r\n"},
			[]string{"VALUE a 0 1 900\r\nx\r\nEND\r\n", "VALUE a 0 1 901\r\nx\r\nEND\r\n"}, false},
		{"two uniques that are one on the other side", []string{"VALUE a 0 1 5\r\nx\r\nVALUE b 0 1 6\r\ny\r\nEND\r\n"},
			[]string{"VALUE a 0 1 900\r\nx\r\nVALUE b 0 1 900\r\ny\r\nEND\r\n"}, false},
		{"meta unique and ttl within slack", []string{"HD c5 t100 kk\r\n"}, []string{"HD c900 t99 kk\r\n"}, true},
		{"meta ttl off", []string{"HD t100\r\n"}, []string{"HD t90\r\n"}, false},
		{"meta ttls both in the past", []string{"HD h0 t4294967223 W\r\n"}, []string{"HD h0 t2498743804 W\r\n"}, true},
		{"meta ttl in the past against one ahead", []string{"HD t4294967223\r\n"}, []string{"HD t2000\r\n"}, false},
		{"meta flag differs", []string{"HD f1\r\n"}, []string{"HD f2\r\n"}, false},
		{"version with suffix", []string{"VERSION 1.6.18\r\n"}, []string{"VERSION 1.6.18-memcons\r\n"}, true},
		{"other version", []string{"VERSION 1.6.18\r\n"}, []string{"VERSION 1.6.21\r\n"}, false},
		{"data block holding a line", []string{"VALUE k 0 5\r\na\r\nbc\r\nEND\r\n"}, []string{"VALUE k 0 5\r\na\r\nbc\r\nEND\r\n"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newUniqueMap()
			var err error
			for i := range tt.want {
				if err = compareReplies(tt.want[i], tt.got[i], m); err != nil {
					break
				}
			}
			if tt.same {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

func TestCompareStats(t *testing.T) {
	general := "STAT pid 1\r\nSTAT version 1.6.18\r\nSTAT curr_items 0\r\nSTAT total_items 0\r\nEND\r\n"
	tests := []struct {
		name, cmd, want, got string
		same                 bool
	}{
		{"names in memcached's order", "stats\r\n", general,
			"STAT pid 2\r\nSTAT cmd_get 0\r\nSTAT get_hits 0\r\nSTAT limit_maxbytes 1\r\nSTAT bytes 0\r\nSTAT curr_items 0\r\nSTAT total_items 0\r\nSTAT evictions 0\r\nEND\r\n", true},
		{"out of order", "stats\r\n", general,
			"STAT total_items 0\r\nSTAT pid 2\r\nSTAT cmd_get 0\r\nSTAT get_hits 0\r\nSTAT limit_maxbytes 1\r\nSTAT bytes 0\r\nSTAT curr_items 0\r\nSTAT evictions 0\r\nEND\r\n", false},
		{"without total_items", "stats\r\n", general,
			"STAT pid 2\r\nSTAT cmd_get 0\r\nSTAT get_hits 0\r\nSTAT limit_maxbytes 1\r\nSTAT bytes 0\r\nSTAT curr_items 0\r\nSTAT evictions 0\r\nEND\r\n", false},
		{"items of other classes", "stats items\r\n", "STAT items:3:number 1\r\nEND\r\n", "STAT items:1:number 2\r\nSTAT items:1:age 0\r\nEND\r\n", true},
		{"items with an unknown name", "stats items\r\n", "END\r\n", "STAT items:1:bogus 2\r\nEND\r\n", false},
		{"slabs lines in items", "stats items\r\n", "END\r\n", "STAT 1:chunk_size 96\r\nEND\r\n", false},
		{"slabs", "stats slabs\r\n", "STAT active_slabs 0\r\nSTAT total_malloced 0\r\nEND\r\n", "STAT 1:used_chunks 1\r\nSTAT active_slabs 1\r\nSTAT total_malloced 9\r\nEND\r\n", true},
		{"not stats lines", "stats\r\n", general, "ERROR\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := compareStats(tt.cmd, tt.want, tt.got)
			if tt.same {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

func TestGenerator_SeededAndSwitchable(t *testing.T) {
	a, na := NewGenerator(42, false).Sequence(500)
	b, nb := NewGenerator(42, false).Sequence(500)
	assert.Equal(t, a, b, "the same seed gives the same sequence")
	assert.Equal(t, na, nb)
	c, _ := NewGenerator(43, false).Sequence(500)
	assert.NotEqual(t, a, c, "another seed another sequence")
	assert.Equal(t, "flush_all\r\n", a[0], "a sequence starts from an empty server")
	assert.True(t, strings.HasPrefix(a[len(a)-1], "gets "), "and ends reading every key")

	isMeta := func(seq Sequence) bool {
		for _, batch := range seq {
			for _, line := range strings.Split(batch, "\r\n") {
				for _, w := range []string{"mg ", "ms ", "md ", "ma ", "mn", "me "} {
					if strings.HasPrefix(line, w) {
						return true
					}
				}
			}
		}
		return false
	}
	assert.False(t, isMeta(a), "meta commands are off unless switched on")
	m, _ := NewGenerator(42, true).Sequence(2000)
	assert.True(t, isMeta(m), "switched on, they come")
}

func TestCorpus_Parses(t *testing.T) {
	corpus := loadCorpus(t)
	require.NotEmpty(t, corpus)
	for name, seq := range corpus {
		assert.Equal(t, "flush_all\r\n", seq[0], "%s starts from an empty server", name)
	}
	seq, err := Parse("# c\n\"set k 0 0 3\\r\\n{repeat:v:3}\\r\\n\"\n")
	require.NoError(t, err)
	assert.Equal(t, Sequence{"set k 0 0 3\r\nvvv\r\n"}, seq)
	again, err := Parse(Format(seq))
	require.NoError(t, err)
	assert.Equal(t, seq, again, "Format writes what Parse reads")
}

func TestSide_FillsPlaceholders(t *testing.T) {
	s := &side{uniques: map[string][]uint64{"k": {10, 20, 30}}}
	assert.Equal(t, "cas k 0 0 1 30\r\n", s.fill("cas k 0 0 1 "+Placeholder("k", -1)+"\r\n"))
	assert.Equal(t, "10 20", s.fill(Placeholder("k", 0)+" "+Placeholder("k", -2)))
	assert.Equal(t, neverIssued, s.fill(Placeholder("k", 5)), "one never seen")
	assert.Equal(t, neverIssued, s.fill(Placeholder("other", -1)))
}

func TestOutageIn(t *testing.T) {
	for reply, want := range map[string]bool{
		"STORED\r\nSERVER_ERROR no leader: election in progress, retry\r\n": true,
		"SERVER_ERROR timeout: outcome unknown\r\n":                         true,
		"SERVER_ERROR object too large for cache\r\n":                       false,
		"STORED\r\n": false,
	} {
		_, got := outageIn(reply)
		assert.Equal(t, want, got, "%q", reply)
	}
}

func TestGenerator_NoteRead(t *testing.T) {
	tests := []struct {
		cmd  string
		want []string
	}{
		{"get k0 k1\r\n", []string{"k0", "k1"}},
		{"gats 10 k2\r\n", []string{"k2"}},
		{"mg k3 v\r\n", []string{"k3"}},
		{"mg azI= u T2000000000 b\r\n", []string{"k2"}}, // base64: the decoded key
		{"set k0 0 0 1\r\nx\r\n", nil},
	}
	for _, tt := range tests {
		g := NewGenerator(1, true)
		g.read = map[string]bool{}
		g.noteRead(tt.cmd)
		var got []string
		for k := range g.read {
			got = append(got, k)
		}
		assert.ElementsMatch(t, tt.want, got, "%q", tt.cmd)
	}
}

func TestCounterQuirk(t *testing.T) {
	const nn = nonNumeric + "\r\n"
	tests := []struct {
		name      string
		want, got string
		quirk     bool
	}{
		{"incr counted", nn, "9223372036854775809\r\n", true},
		{"incr wrapped", nn, "29\r\n", true},
		{"ma without v", nn, "HD\r\n", true},
		{"ma v", nn, "VA 1\r\n7\r\n", true},
		{"memcons refused too", nn, "NOT_FOUND\r\n", false},
		{"another difference", "NOT_FOUND\r\n", "9223372036854775809\r\n", false},
		{"after an equal piece", "STORED\r\n" + nn, "STORED\r\n9223372036854775808\r\n", true},
		{"after a differing piece", "STORED\r\n" + nn, "NOT_STORED\r\n9223372036854775808\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.quirk, counterQuirk(tt.want, tt.got, newUniqueMap()))
		})
	}
}
