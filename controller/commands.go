package controller

import "github.com/memcons/memcons/consistency"

// command is one entry of the command table: the word a client sends, how
// its line is parsed, what it asks of the Mode and who answers it.
type command struct {
	// name is the command word.
	name string
	// op is the Mode operation, 0 for commands the controller answers
	// itself.
	op consistency.Op
	// parse reads the command's words into a Command. dispatch.go, made
	// from this table, calls it directly rather than through this field.
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

// parser reads the words of one command line (the command word first)
// into cmd, whose Name, Op and DataLen are already set. On error cmd still
// carries Noreply. The words may point into the caller's stack: a parser
// keeps no reference to them.
type parser func(cmd *Command, words [][]byte) error

// handler answers one parsed command on a connection. It returns an error
// only when the connection must close.
type handler func(c *conn, p *pending) error

// commands is every command memcons serves. Adding a command is one entry
// here, its parser (parsers.go) and its handler (handlers.go), then
// `go generate ./controller` to rewrite dispatch.go, the switch that finds
// an entry by its word.
//
//go:generate go run ./internal/gendispatch
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
	{name: "mg", op: consistency.OpMetaGet, parse: parseMetaGet, handle: handleMetaGet},
	{name: "ms", op: consistency.OpMetaSet, parse: parseMetaSet, handle: handleMetaSet, stat: cmdSet},
	{name: "md", op: consistency.OpMetaDelete, parse: parseMetaDelete, handle: handleMetaDelete},
	{name: "ma", op: consistency.OpMetaArithmetic, parse: parseMetaArithmetic, handle: handleMetaArithmetic},
	{name: "mn", parse: parseMetaNoop, handle: handleMetaNoop},
	{name: "me", op: consistency.OpGet, parse: parseMetaDebug, handle: handleMetaDebug, stat: cmdMeta},
}
