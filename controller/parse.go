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
	// Name is the command word as the dispatch table knows it ("get", "set",
	// ...); it is empty when the line named no known command.
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
}

// ParseCommand parses one command line, given without its final '\n', the
// way memcached 1.6 does: a trailing '\r' is dropped, the line ends at a NUL
// byte, words are separated by spaces only. On error the returned Command
// still carries Name and Noreply (memcached suppresses errors of a noreply
// command) and, for ErrObjectTooLarge from CheckItemSize, DataLen. Protocol
// errors are *ProtocolError values such as ErrBadFormat.
func ParseCommand(line []byte) (Command, error) {
	if n := len(line); n > 1 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i]
	}
	var arr [8][]byte
	words := splitWords(line, arr[:0])
	cmd := Command{DataLen: NoData}
	if len(words) == 0 || len(words[0]) < 2 {
		return cmd, ErrUnknownCommand
	}
	switch name := words[0]; string(name) {
	case "get":
		return parseRetrieval(cmd, "get", consistency.OpGet, words, false)
	case "gets":
		return parseRetrieval(cmd, "gets", consistency.OpGets, words, false)
	case "gat":
		return parseRetrieval(cmd, "gat", consistency.OpGat, words, true)
	case "gats":
		return parseRetrieval(cmd, "gats", consistency.OpGats, words, true)
	case "set":
		return parseStorage(cmd, "set", consistency.OpSet, words)
	case "add":
		return parseStorage(cmd, "add", consistency.OpAdd, words)
	case "replace":
		return parseStorage(cmd, "replace", consistency.OpReplace, words)
	case "append":
		return parseStorage(cmd, "append", consistency.OpAppend, words)
	case "prepend":
		return parseStorage(cmd, "prepend", consistency.OpPrepend, words)
	case "cas":
		return parseStorage(cmd, "cas", consistency.OpCas, words)
	case "incr":
		return parseArithmetic(cmd, "incr", consistency.OpIncr, words)
	case "decr":
		return parseArithmetic(cmd, "decr", consistency.OpDecr, words)
	case "delete":
		return parseDelete(cmd, words)
	case "touch":
		return parseTouch(cmd, words)
	case "flush_all":
		return parseFlushAll(cmd, words)
	case "verbosity":
		return parseVerbosity(cmd, words)
	case "version":
		cmd.Name = "version"
		return cmd, nil
	case "quit":
		cmd.Name = "quit"
		return cmd, nil
	case "stats":
		cmd.Name = "stats"
		if len(words) > 1 {
			cmd.Arg = string(words[1])
		}
		return cmd, nil
	default:
		if isHTTPRequest(words) {
			return cmd, ErrHTTP
		}
		return cmd, ErrUnknownCommand
	}
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

func parseRetrieval(cmd Command, name string, op consistency.Op, words [][]byte, touch bool) (Command, error) {
	cmd.Name, cmd.Op = name, op
	if len(words) < 2 {
		return cmd, ErrUnknownCommand
	}
	keys := words[1:]
	if touch {
		exp, ok := parseInt32(words[1])
		if !ok {
			return cmd, ErrBadExptime
		}
		cmd.Exptime = int64(exp)
		keys = words[2:]
	}
	for _, k := range keys {
		if !validKey(k) {
			return cmd, ErrBadFormat
		}
	}
	if len(keys) > 0 {
		cmd.Keys = make([]string, len(keys))
		for i, k := range keys {
			cmd.Keys[i] = string(k)
		}
	}
	return cmd, nil
}

func parseStorage(cmd Command, name string, op consistency.Op, words [][]byte) (Command, error) {
	cmd.Name, cmd.Op = name, op
	want := 5
	if op == consistency.OpCas {
		want = 6
	}
	if len(words) != want && len(words) != want+1 {
		return cmd, ErrUnknownCommand
	}
	cmd.Noreply = hasNoreply(words)
	if !validKey(words[1]) {
		return cmd, ErrBadFormat
	}
	flags, ok1 := parseUint32(words[2])
	exp, ok2 := parseInt32(words[3])
	n, ok3 := parseInt32(words[4])
	if !ok1 || !ok2 || !ok3 {
		return cmd, ErrBadFormat
	}
	if op == consistency.OpCas {
		cas, ok := parseUint64(words[5])
		if !ok {
			return cmd, ErrBadFormat
		}
		cmd.Cas = cas
	}
	if n < 0 || n > 1<<31-1-2 {
		return cmd, ErrBadFormat
	}
	cmd.Keys = []string{string(words[1])}
	cmd.Flags, cmd.Exptime, cmd.DataLen = flags, int64(exp), int(n)
	return cmd, nil
}

func parseArithmetic(cmd Command, name string, op consistency.Op, words [][]byte) (Command, error) {
	cmd.Name, cmd.Op = name, op
	if len(words) != 3 && len(words) != 4 {
		return cmd, ErrUnknownCommand
	}
	cmd.Noreply = hasNoreply(words)
	if !validKey(words[1]) {
		return cmd, ErrBadFormat
	}
	delta, ok := parseUint64(words[2])
	if !ok {
		return cmd, ErrBadDelta
	}
	cmd.Keys, cmd.Delta = []string{string(words[1])}, delta
	return cmd, nil
}

func parseDelete(cmd Command, words [][]byte) (Command, error) {
	cmd.Name, cmd.Op = "delete", consistency.OpDelete
	if len(words) < 2 || len(words) > 4 {
		return cmd, ErrUnknownCommand
	}
	if len(words) > 2 {
		holdIsZero := string(words[2]) == "0"
		cmd.Noreply = hasNoreply(words)
		valid := (len(words) == 3 && (holdIsZero || cmd.Noreply)) ||
			(len(words) == 4 && holdIsZero && cmd.Noreply)
		if !valid {
			return cmd, ErrDeleteUsage
		}
	}
	if !validKey(words[1]) {
		return cmd, ErrBadFormat
	}
	cmd.Keys = []string{string(words[1])}
	return cmd, nil
}

func parseTouch(cmd Command, words [][]byte) (Command, error) {
	cmd.Name, cmd.Op = "touch", consistency.OpTouch
	if len(words) != 3 && len(words) != 4 {
		return cmd, ErrUnknownCommand
	}
	cmd.Noreply = hasNoreply(words)
	if !validKey(words[1]) {
		return cmd, ErrBadFormat
	}
	exp, ok := parseInt32(words[2])
	if !ok {
		return cmd, ErrBadExptime
	}
	cmd.Keys, cmd.Exptime = []string{string(words[1])}, int64(exp)
	return cmd, nil
}

func parseFlushAll(cmd Command, words [][]byte) (Command, error) {
	cmd.Name, cmd.Op = "flush_all", consistency.OpFlushAll
	if len(words) > 3 {
		return cmd, ErrUnknownCommand
	}
	cmd.Noreply = hasNoreply(words)
	plain := 1
	if cmd.Noreply {
		plain = 2
	}
	if len(words) != plain {
		exp, ok := parseInt32(words[1])
		if !ok {
			return cmd, ErrBadExptime
		}
		cmd.Exptime = int64(exp)
	}
	return cmd, nil
}

func parseVerbosity(cmd Command, words [][]byte) (Command, error) {
	cmd.Name = "verbosity"
	if len(words) != 2 && len(words) != 3 {
		return cmd, ErrUnknownCommand
	}
	cmd.Noreply = hasNoreply(words)
	level, ok := parseUint32(words[1])
	if !ok {
		return cmd, ErrBadFormat
	}
	cmd.Level = level
	return cmd, nil
}
