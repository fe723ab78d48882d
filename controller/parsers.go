package controller

// The parsers of the command table, one per kind of command line. Each gets
// the whole line, command word first, and splits it with lineWords.

// parseGet parses get and gets: one or more keys.
func parseGet(cmd Command, line []byte) (Command, error) {
	return parseRetrieval(cmd, lineWords(line), false)
}

// parseGat parses gat and gats: an exptime, then keys.
func parseGat(cmd Command, line []byte) (Command, error) {
	return parseRetrieval(cmd, lineWords(line), true)
}

func parseRetrieval(cmd Command, words [][]byte, touch bool) (Command, error) {
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

// parseStorage parses set, add, replace, append and prepend:
// <key> <flags> <exptime> <bytes> [noreply].
func parseStorage(cmd Command, line []byte) (Command, error) {
	return parseStore(cmd, lineWords(line), false)
}

// parseCas parses cas: <key> <flags> <exptime> <bytes> <cas unique> [noreply].
func parseCas(cmd Command, line []byte) (Command, error) {
	return parseStore(cmd, lineWords(line), true)
}

func parseStore(cmd Command, words [][]byte, withCas bool) (Command, error) {
	want := 5
	if withCas {
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
	if withCas {
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

// parseArithmetic parses incr and decr: <key> <delta> [noreply].
func parseArithmetic(cmd Command, line []byte) (Command, error) {
	words := lineWords(line)
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

// parseDelete parses delete: <key> [0] [noreply].
func parseDelete(cmd Command, line []byte) (Command, error) {
	words := lineWords(line)
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

// parseTouch parses touch: <key> <exptime> [noreply].
func parseTouch(cmd Command, line []byte) (Command, error) {
	words := lineWords(line)
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

// parseFlushAll parses flush_all: [delay] [noreply].
func parseFlushAll(cmd Command, line []byte) (Command, error) {
	words := lineWords(line)
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

// parseVerbosity parses verbosity: <level> [noreply].
func parseVerbosity(cmd Command, line []byte) (Command, error) {
	words := lineWords(line)
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

// parseStats parses stats: [group]; words after the group are ignored.
func parseStats(cmd Command, line []byte) (Command, error) {
	if words := lineWords(line); len(words) > 1 {
		cmd.Arg = string(words[1])
	}
	return cmd, nil
}

// parseNoArgs parses a command that takes no arguments and, like memcached,
// ignores any it is given (version, quit).
func parseNoArgs(cmd Command, _ []byte) (Command, error) {
	return cmd, nil
}
