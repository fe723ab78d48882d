package controller

import (
	"fmt"

	"github.com/memcons/memcons/consistency"
)

// command is one entry of the command table: the word a client sends, how
// its line is parsed, what it asks of the Mode and who answers it.
type command struct {
	// name is the command word.
	name string
	// op is the Mode operation, 0 for commands the controller answers
	// itself.
	op consistency.Op
	// parse reads the command's line into a Command.
	parse parser
	// handle answers the parsed command.
	handle handler
	// stat is the cmd_* counter the command adds to (stats.go); its handler
	// adds through conn.countCmd.
	stat cmdStat
	// closes is set when the connection closes after the command, so no
	// command behind it is parsed.
	closes bool
}

// parser reads one command line (its words start with the command word)
// into cmd, whose Name, Op and DataLen are already set. On error the
// returned Command still carries Noreply. A parser is called through the
// table, so it takes and returns cmd by value and gets the line rather than
// words split into the caller's stack: a pointer into the stack passed
// through a func value would move it to the heap on every request.
type parser func(cmd Command, line []byte) (Command, error)

// handler answers one parsed command on a connection. It returns an error
// only when the connection must close.
type handler func(c *conn, p *pending) error

// commands is every command memcons serves. Adding a command is one entry
// here, its parser (parsers.go) and its handler (handlers.go).
var commands = [...]command{
	{name: "get", op: consistency.OpGet, parse: parseGet, handle: handleRetrieval, stat: cmdGet},
	{name: "gets", op: consistency.OpGets, parse: parseGet, handle: handleRetrieval, stat: cmdGet},
	{name: "gat", op: consistency.OpGat, parse: parseGat, handle: handleRetrieval, stat: cmdTouch},
	{name: "gats", op: consistency.OpGats, parse: parseGat, handle: handleRetrieval, stat: cmdTouch},
	{name: "set", op: consistency.OpSet, parse: parseStorage, handle: handleStorage, stat: cmdSet},
	{name: "add", op: consistency.OpAdd, parse: parseStorage, handle: handleStorage, stat: cmdSet},
	{name: "replace", op: consistency.OpReplace, parse: parseStorage, handle: handleStorage, stat: cmdSet},
	{name: "append", op: consistency.OpAppend, parse: parseStorage, handle: handleStorage, stat: cmdSet},
	{name: "prepend", op: consistency.OpPrepend, parse: parseStorage, handle: handleStorage, stat: cmdSet},
	{name: "cas", op: consistency.OpCas, parse: parseCas, handle: handleStorage, stat: cmdSet},
	{name: "incr", op: consistency.OpIncr, parse: parseArithmetic, handle: handleArithmetic},
	{name: "decr", op: consistency.OpDecr, parse: parseArithmetic, handle: handleArithmetic},
	{name: "delete", op: consistency.OpDelete, parse: parseDelete, handle: handleDelete},
	{name: "touch", op: consistency.OpTouch, parse: parseTouch, handle: handleTouch, stat: cmdTouch},
	{name: "flush_all", op: consistency.OpFlushAll, parse: parseFlushAll, handle: handleFlushAll, stat: cmdFlush},
	{name: "version", parse: parseNoArgs, handle: handleVersion},
	{name: "verbosity", parse: parseVerbosity, handle: handleVerbosity},
	{name: "stats", parse: parseStats, handle: handleStats},
	{name: "quit", parse: parseNoArgs, handle: handleQuit, closes: true},
}

// knownCommands finds a table entry by its word. It is built once from the
// table and never changes.
var knownCommands = indexCommands(commands[:])

// commandIndex holds the table's entries by the first byte of their name. A
// lookup compares the few names that share the word's first byte: as fast as
// a switch on the word and without allocating (a map keyed by string(word)
// takes three to four times as long).
type commandIndex [256][]*command

// indexCommands indexes table. An entry without a name, parser or handler,
// or a name used twice, is a bug and panics when the package loads.
func indexCommands(table []command) *commandIndex {
	index := new(commandIndex)
	for i := range table {
		e := &table[i]
		if e.name == "" || e.parse == nil || e.handle == nil {
			panic(fmt.Sprintf("controller: command table entry %d (%q) lacks a name, parser or handler", i, e.name))
		}
		if index.lookup([]byte(e.name)) != nil {
			panic(fmt.Sprintf("controller: command %q is in the table twice", e.name))
		}
		index[e.name[0]] = append(index[e.name[0]], e)
	}
	return index
}

// lookup returns the entry named word, or nil.
func (ix *commandIndex) lookup(word []byte) *command {
	if len(word) == 0 {
		return nil
	}
	for _, e := range ix[word[0]] {
		if e.name == string(word) {
			return e
		}
	}
	return nil
}
