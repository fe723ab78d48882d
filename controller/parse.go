package controller

import (
	"bytes"

	"github.com/memcons/memcons/consistency"
)

// MaxKeyLength is memcached's longest key in bytes.
const MaxKeyLength = 250

// NoData is Command.DataLen for a command without a data block.
const NoData = -1

// Command is one parsed request line. It holds no reference to the line it
// was parsed from, so the read buffer may be reused at once.
type Command struct {
	// Name is the command word as the command table names it ("get",
	// "set", ...); it is empty when the line named no command in the table.
	Name string
	// Op is the Mode operation, 0 for commands the controller answers itself.
	Op consistency.Op
	// Keys are the command's keys (many for retrievals, none for flush_all).
	Keys []string
	// Flags are a storage command's client flags.
	Flags uint32
	// Exptime is the exptime of a storage command, touch or gat, or the delay
	// of flush_all, as memcached reads it (a 32-bit number).
	Exptime int64
	// DataLen is the length of the data block that follows the line, or
	// NoData.
	DataLen int
	// Cas is the unique a cas command compares with.
	Cas uint64
	// Delta is the incr/decr amount.
	Delta uint64
	// Noreply asks for no reply, errors included, as memcached does.
	Noreply bool
	// Arg is the stats subcommand ("" for plain stats).
	Arg string
	// Level is the verbosity level.
	Level uint32
	// Meta holds a meta command's flags; nil for the other commands.
	Meta *MetaFlags
}

// ParseCommand parses one command line, given without its final '\n', the
// way memcached 1.6 does: a trailing '\r' is dropped, the line ends at a NUL
// byte, words are separated by spaces only. On error the returned Command
// still carries Name and Noreply (memcached suppresses errors of a noreply
// command) and, for ErrObjectTooLarge from CheckItemSize, DataLen. Protocol
// errors are *ProtocolError values such as ErrBadFormat.
func ParseCommand(line []byte) (Command, error) {
	var cmd Command
	_, err := parseInto(&cmd, line)
	return cmd, err
}

// maxInlineWords is how many words a line is split into on the stack; only
// a retrieval of more keys allocates its words.
const maxInlineWords = 8

// parseInto is ParseCommand into *cmd, and also returns the command's table
// entry, which is nil only when the line names no command in the table.
func parseInto(cmd *Command, line []byte) (*command, error) {
	if n := len(line); n > 1 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i]
	}
	var arr [maxInlineWords][]byte
	words := splitWords(line, arr[:0])
	*cmd = Command{DataLen: NoData}
	if len(words) == 0 || len(words[0]) < 2 {
		return nil, ErrUnknownCommand
	}
	e, err := dispatch(cmd, words)
	if e == nil {
		if isHTTPRequest(words) {
			return nil, ErrHTTP
		}
		return nil, ErrUnknownCommand
	}
	return e, err
}

// splitWords appends the space-separated words of line to dst.
func splitWords(line []byte, dst [][]byte) [][]byte {
	for {
		for len(line) > 0 && line[0] == ' ' {
			line = line[1:]
		}
		if len(line) == 0 {
			return dst
		}
		end := bytes.IndexByte(line, ' ')
		if end < 0 {
			return append(dst, line)
		}
		dst = append(dst, line[:end])
		line = line[end+1:]
	}
}

// isHTTPRequest reports whether memcached would take words for an HTTP
// request and close the connection: the last word starts with "HTTP/" and
// the first word falls through all of memcached's command branches.
func isHTTPRequest(words [][]byte) bool {
	if !bytes.HasPrefix(words[len(words)-1], []byte("HTTP/")) {
		return false
	}
	first := words[0]
	switch first[0] {
	case 'g', 's', 'a', 'c', 'i', 'd', 't':
		return false
	case 'm':
		if len(first) == 2 {
			return false
		}
	}
	switch string(first) {
	case "replace", "prepend", "bget", "flush_all", "version", "quit",
		"lru_crawler", "watch", "verbosity", "lru":
		return false
	}
	return true
}

// hasNoreply is memcached's set_noreply_maybe: the last word is "noreply".
func hasNoreply(words [][]byte) bool {
	return string(words[len(words)-1]) == "noreply"
}

// validKey reports whether key is one memcached accepts: at most 250 bytes.
// Like memcached, control characters are allowed (the tokenizer splits on
// spaces alone, and memcaslap's keys carry them); the memcached store escapes
// them on the way to its replica.
func validKey(key []byte) bool {
	return len(key) <= MaxKeyLength
}
