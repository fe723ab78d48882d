package controller

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exampleLines holds one line the parser accepts for each command of the
// table; a command added to the table needs one here.
var exampleLines = map[string]string{
	"get": "get k", "gets": "gets k", "gat": "gat 1 k", "gats": "gats 1 k",
	"set": "set k 0 0 1", "add": "add k 0 0 1", "replace": "replace k 0 0 1",
	"append": "append k 0 0 1", "prepend": "prepend k 0 0 1", "cas": "cas k 0 0 1 1",
	"incr": "incr k 1", "decr": "decr k 1", "delete": "delete k", "touch": "touch k 1",
	"flush_all": "flush_all", "version": "version", "verbosity": "verbosity 1",
	"stats": "stats", "quit": "quit",
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
			assert.Same(t, e, knownCommands.lookup([]byte(e.name)), "lookup finds the entry")
			if e.op != 0 {
				assert.NotEqual(t, "unknown", e.op.String(), "op has a name for errors")
			}

			line, ok := exampleLines[e.name]
			require.True(t, ok, "exampleLines has no line for %q", e.name)
			cmd, spec, err := parseLine([]byte(line))
			require.NoError(t, err, line)
			assert.Same(t, e, spec, line)
			assert.Equal(t, e.name, cmd.Name, line)
			assert.Equal(t, e.op, cmd.Op, "the parser keeps the entry's op")
		})
	}
	assert.Len(t, exampleLines, len(commands), "exampleLines names a command the table lacks")
}

func TestCommands_LookupMisses(t *testing.T) {
	for _, word := range []string{"", "g", "ge", "gett", "GET", "flush_al", "mg", "get\x00"} {
		assert.Nil(t, knownCommands.lookup([]byte(word)), "%q", word)
	}
}

func TestIndexCommands_RefusesBadTables(t *testing.T) {
	ok := command{name: "get", parse: parseGet, handle: handleRetrieval}
	tests := []struct {
		name  string
		table []command
		panic string
	}{
		{"name twice", []command{ok, ok}, `"get" is in the table twice`},
		{"no parser", []command{{name: "x", handle: handleVersion}}, "lacks a name, parser or handler"},
		{"no handler", []command{{name: "x", parse: parseNoArgs}}, "lacks a name, parser or handler"},
		{"no name", []command{{parse: parseNoArgs, handle: handleVersion}}, "lacks a name, parser or handler"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				require.NotNil(t, r, "indexCommands accepted the table")
				assert.True(t, strings.Contains(r.(string), tc.panic), "panic %q", r)
			}()
			indexCommands(tc.table)
		})
	}
}
