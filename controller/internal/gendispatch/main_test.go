package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// controllerDir is the controller package, seen from this one.
var controllerDir = filepath.Join("..", "..")

func TestRender_DispatchIsCurrent(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(controllerDir, tableFile))
	require.NoError(t, err)
	want, err := render(src)
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(controllerDir, dispatchFile))
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "dispatch.go does not match the command table: run go generate ./controller")
}

func TestReadTable_RefusesBadTables(t *testing.T) {
	tests := []struct{ name, table, err string }{
		{"no table", `var other = 1`, "no `var commands"},
		{"name twice", `var commands = [...]command{{name: "get", parse: p}, {name: "get", parse: q}}`, `"get" is in the table twice`},
		{"no parser", `var commands = [...]command{{name: "get"}}`, "lacks a name or a parser"},
		{"no name", `var commands = [...]command{{parse: p}}`, "lacks a name or a parser"},
		{"computed name", `var commands = [...]command{{name: n, parse: p}}`, "not a string literal"},
		{"parser literal", `var commands = [...]command{{name: "x", parse: func() {}}}`, "not the name of a function"},
		{"unkeyed fields", `var commands = [...]command{{"x", p}}`, "must be keyed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readTable([]byte("package controller\n" + tc.table + "\n"))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
}

func TestReadTable_KeepsOrder(t *testing.T) {
	got, err := readTable([]byte(`package controller
var commands = [...]command{
	{name: "b", op: 1, parse: parseB, handle: h},
	{name: "a", parse: parseA, handle: h, closes: true},
}`))
	require.NoError(t, err)
	assert.Equal(t, []entry{{"b", "parseB"}, {"a", "parseA"}}, got)
}
