package controller

// The parsers of the command table, one per kind of command line. Each gets
// the line's words, command word first, and cmd with Name, Op and DataLen
// set; on error cmd still carries Noreply.

// parseGet parses get and gets: one or more keys.
func parseGet(cmd *Command, words [][]byte) error {
	return parseRetrieval(cmd, words, false)
}

// parseGat parses gat and gats: an exptime, then keys.
func parseGat(cmd *Command, words [][]byte) error {
	return parseRetrieval(cmd, words, true)
}

func parseRetrieval(cmd *Command, words [][]byte, touch bool) error {
	if len(words) < 2 {
		return ErrUnknownCommand
	}
	keys := words[1:]
	if touch {
		exp, ok := parseInt32(words[1])
		if !ok {
			return ErrBadExptime
		}
		cmd.Exptime = int64(exp)
		keys = words[2:]
	}
	for _, k := range keys {
		if !validKey(k) {
			return ErrBadFormat
		}
	}
	if len(keys) > 0 {
		cmd.Keys = make([]string, len(keys))
		for i, k := range keys {
			cmd.Keys[i] = string(k)
		}
	}
	return nil
}

// parseStorage parses set, add, replace, append and prepend:
// <key> <flags> <exptime> <bytes> [noreply].
func parseStorage(cmd *Command, words [][]byte) error {
	return parseStore(cmd, words, false)
}

// parseCas parses cas: <key> <flags> <exptime> <bytes> <cas unique> [noreply].
func parseCas(cmd *Command, words [][]byte) error {
	return parseStore(cmd, words, true)
}

func parseStore(cmd *Command, words [][]byte, withCas bool) error {
	want := 5
	if withCas {
		want = 6
	}
	if len(words) != want && len(words) != want+1 {
		return ErrUnknownCommand
	}
	cmd.Noreply = hasNoreply(words)
	if !validKey(words[1]) {
		return ErrBadFormat
	}
	flags, ok1 := parseUint32(words[2])
	exp, ok2 := parseInt32(words[3])
	n, ok3 := parseInt32(words[4])
	if !ok1 || !ok2 || !ok3 {
		return ErrBadFormat
	}
	if withCas {
		cas, ok := parseUint64(words[5])
		if !ok {
			return ErrBadFormat
		}
		cmd.Cas = cas
	}
	if n < 0 || n > 1<<31-1-2 {
		return ErrBadFormat
	}
	cmd.Keys = []string{string(words[1])}
	cmd.Flags, cmd.Exptime, cmd.DataLen = flags, int64(exp), int(n)
	return nil
}

// parseArithmetic parses incr and decr: <key> <delta> [noreply].
func parseArithmetic(cmd *Command, words [][]byte) error {
	if len(words) != 3 && len(words) != 4 {
		return ErrUnknownCommand
	}
	cmd.Noreply = hasNoreply(words)
	if !validKey(words[1]) {
		return ErrBadFormat
	}
	delta, ok := parseUint64(words[2])
	if !ok {
		return ErrBadDelta
	}
	cmd.Keys, cmd.Delta = []string{string(words[1])}, delta
	return nil
}

// parseDelete parses delete: <key> [0] [noreply].
func parseDelete(cmd *Command, words [][]byte) error {
	if len(words) < 2 || len(words) > 4 {
		return ErrUnknownCommand
	}
	if len(words) > 2 {
		holdIsZero := string(words[2]) == "0"
		cmd.Noreply = hasNoreply(words)
		valid := (len(words) == 3 && (holdIsZero || cmd.Noreply)) ||
			(len(words) == 4 && holdIsZero && cmd.Noreply)
		if !valid {
			return ErrDeleteUsage
		}
	}
	if !validKey(words[1]) {
		return ErrBadFormat
	}
	cmd.Keys = []string{string(words[1])}
	return nil
}

// parseTouch parses touch: <key> <exptime> [noreply].
func parseTouch(cmd *Command, words [][]byte) error {
	if len(words) != 3 && len(words) != 4 {
		return ErrUnknownCommand
	}
	cmd.Noreply = hasNoreply(words)
	if !validKey(words[1]) {
		return ErrBadFormat
	}
	exp, ok := parseInt32(words[2])
	if !ok {
		return ErrBadExptime
	}
	cmd.Keys, cmd.Exptime = []string{string(words[1])}, int64(exp)
	return nil
}

// parseFlushAll parses flush_all: [delay] [noreply].
func parseFlushAll(cmd *Command, words [][]byte) error {
	if len(words) > 3 {
		return ErrUnknownCommand
	}
	cmd.Noreply = hasNoreply(words)
	plain := 1
	if cmd.Noreply {
		plain = 2
	}
	if len(words) != plain {
		exp, ok := parseInt32(words[1])
		if !ok {
			return ErrBadExptime
		}
		cmd.Exptime = int64(exp)
	}
	return nil
}

// parseVerbosity parses verbosity: <level> [noreply].
func parseVerbosity(cmd *Command, words [][]byte) error {
	if len(words) != 2 && len(words) != 3 {
		return ErrUnknownCommand
	}
	cmd.Noreply = hasNoreply(words)
	level, ok := parseUint32(words[1])
	if !ok {
		return ErrBadFormat
	}
	cmd.Level = level
	return nil
}

// parseStats parses stats: [group]; words after the group are ignored.
func parseStats(cmd *Command, words [][]byte) error {
	if len(words) > 1 {
		cmd.Arg = string(words[1])
	}
	return nil
}

// parseNoArgs parses a command that takes no arguments and, like memcached,
// ignores any it is given (version, quit).
func parseNoArgs(*Command, [][]byte) error {
	return nil
}
