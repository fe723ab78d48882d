package controller

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// example is a line the parser accepts for a command of the table and the
// cmd_* counter memcached adds one to when it serves it ("" for none).
type example struct{ line, counts string }

// examples holds one example for each command of the table; a command added
// to the table needs one here.
var examples = map[string]example{
	"get":       {"get k", "cmd_get"},
	"gets":      {"gets k", "cmd_get"},
	"gat":       {"gat 1 k", "cmd_touch"},
	"gats":      {"gats 1 k", "cmd_touch"},
	"set":       {"set k 0 0 1", "cmd_set"},
	"add":       {"add k 0 0 1", "cmd_set"},
	"replace":   {"replace k 0 0 1", "cmd_set"},
	"append":    {"append k 0 0 1", "cmd_set"},
	"prepend":   {"prepend k 0 0 1", "cmd_set"},
	"cas":       {"cas k 0 0 1 1", "cmd_set"},
	"incr":      {"incr k 1", ""},
	"decr":      {"decr k 1", ""},
	"delete":    {"delete k", ""},
	"touch":     {"touch k 1", "cmd_touch"},
	"flush_all": {"flush_all", "cmd_flush"},
	"version":   {"version", ""},
	"verbosity": {"verbosity 1", ""},
	"stats":     {"stats", ""},
	"quit":      {"quit", ""},
	"mg":        {"mg k v", "cmd_get"},
	"ms":        {"ms k 1", "cmd_set"},
	"md":        {"md k", ""},
	"ma":        {"ma k", ""},
	"mn":        {"mn", ""},
	"me":        {"me k", "cmd_meta"},
}

func TestCommands_TableInvariants(t *testing.T) {
	seen := map[string]bool{}
	for i := range commands {
		e := &commands[i]
		t.Run(e.name, func(t *testing.T) {
			assert.NotNil(t, e.parse, "parser")
			assert.NotNil(t, e.handle, "handler")
			assert.False(t, seen[e.name], "name used twice")
			seen[e.name] = true
			// ParseCommand refuses shorter words before the lookup, and a
			// word never holds a space.
			assert.GreaterOrEqual(t, len(e.name), 2, "name too short to be parsed")
			assert.NotContains(t, e.name, " ")
			var bare Command
			found, _ := dispatch(&bare, [][]byte{[]byte(e.name)})
			assert.Same(t, e, found, "dispatch finds the entry")
			if e.op != 0 {
				assert.NotEqual(t, "unknown", e.op.String(), "op has a name for errors")
			}

			ex, ok := examples[e.name]
			require.True(t, ok, "examples has no line for %q", e.name)
			if ex.counts != "" {
				assert.Contains(t, cmdStatNames[:], ex.counts, "the example's counter")
			}
			line := ex.line
			var cmd Command
			spec, err := parseInto(&cmd, []byte(line))
			require.NoError(t, err, line)
			assert.Same(t, e, spec, line)
			assert.Equal(t, e.name, cmd.Name, line)
			assert.Equal(t, e.op, cmd.Op, "the parser keeps the entry's op")
		})
	}
	assert.Len(t, examples, len(commands), "examples names a command the table lacks")
}

func TestCommands_DispatchMisses(t *testing.T) {
	for _, word := range []string{"", "g", "ge", "gett", "GET", "flush_al", "mz", "m", "get\x00"} {
		var cmd Command
		e, err := dispatch(&cmd, [][]byte{[]byte(word)})
		assert.Nil(t, e, "%q", word)
		assert.NoError(t, err, "%q", word)
		assert.Empty(t, cmd.Name, "%q", word)
	}
}

// TestCommands_CmdStats checks that every cmd_* line of `stats` is a counter
// some command of the table adds to (or one reported as 0 until its commands
// exist), and that every counter is reported.
func TestCommands_CmdStats(t *testing.T) {
	counted := map[cmdStat][]string{}
	for i := range commands {
		e := &commands[i]
		require.Less(t, e.stat, numCmdStats, e.name)
		counted[e.stat] = append(counted[e.stat], e.name)
	}
	reported := map[string]bool{}
	for _, st := range (&Server{}).generalStats(time.Now(), &StoreStats{}) {
		if strings.HasPrefix(st.Name, "cmd_") {
			reported[st.Name] = true
		}
	}
	counters := map[string]bool{}
	for st := noCmdStat + 1; st < numCmdStats; st++ {
		name := cmdStatNames[st]
		counters[name] = true
		assert.True(t, strings.HasPrefix(name, "cmd_"), "counter %d is named %q", st, name)
		assert.NotEmpty(t, counted[st], "no command adds to %s", name)
		assert.True(t, reported[name], "stats does not report %s", name)
	}
	for name := range reported {
		assert.True(t, counters[name], "stats reports %s, which no command of the table counts", name)
	}
}

// TestCommands_CountTheirCmdStat runs each table command's example on a
// server and checks that it adds one to the cmd_* counter memcached would,
// and to no other.
func TestCommands_CountTheirCmdStat(t *testing.T) {
	srv, addr := startServer(t, Config{}, nil, Options{}, nil)
	snapshot := func() (s [numCmdStats]uint64) {
		for i := range s {
			s[i] = srv.totals().cmd[i].Load()
		}
		return s
	}
	for i := range commands {
		e := &commands[i]
		t.Run(e.name, func(t *testing.T) {
			ex := examples[e.name]
			line := ex.line
			cmd, err := ParseCommand([]byte(line))
			require.NoError(t, err)
			req := line + "\r\n"
			if cmd.DataLen != NoData {
				req += strings.Repeat("x", cmd.DataLen) + "\r\n"
			}
			var until []byte // the server closes after the command
			if !e.closes {
				req += "version\r\n" // answered once the command is
				until = []byte("VERSION " + DefaultVersion + "\r\n")
			}
			before := snapshot()
			c := dial(t, addr)
			_, err = io.WriteString(c, req)
			require.NoError(t, err)
			_, _, err = readUntil(c, until)
			require.NoError(t, err)
			after := snapshot()
			for st := noCmdStat + 1; st < numCmdStats; st++ {
				want := uint64(0)
				if cmdStatNames[st] == ex.counts {
					want = 1
				}
				assert.Equal(t, want, after[st]-before[st], "%s after %q", cmdStatNames[st], line)
			}
		})
	}
}
