package controller

import "fmt"

// handler answers one parsed command on a connection. It returns an error
// only when the connection must close.
type handler func(c *conn, p *pending) error

// handlerTable maps command names to their handlers.
type handlerTable map[string]handler

// register adds h under name; a name registered twice is a bug and panics.
func (t handlerTable) register(name string, h handler) {
	if _, dup := t[name]; dup {
		panic(fmt.Sprintf("controller: command %q registered twice", name))
	}
	t[name] = h
}

// newHandlerTable returns the table of every command ParseCommand knows.
func newHandlerTable() handlerTable {
	t := handlerTable{}
	for _, name := range []string{"get", "gets", "gat", "gats"} {
		t.register(name, handleRetrieval)
	}
	for _, name := range []string{"set", "add", "replace", "append", "prepend", "cas"} {
		t.register(name, handleStorage)
	}
	t.register("incr", handleArithmetic)
	t.register("decr", handleArithmetic)
	t.register("delete", handleDelete)
	t.register("touch", handleTouch)
	t.register("flush_all", handleFlushAll)
	t.register("version", handleVersion)
	t.register("verbosity", handleVerbosity)
	t.register("stats", handleStats)
	t.register("quit", handleQuit)
	return t
}
