package cli

import (
	"fmt"
	"strconv"
	"strings"
)

// action is what the loop does with a parsed command.
type action int

const (
	actNone action = iota // blank line or comment
	actSend               // send wire and read the reply
	actShow               // print the member table
	actHelp               // print the help text
	actExit               // leave the loop
)

// replyKind says how to read the reply to a request.
type replyKind int

const (
	replyLine   replyKind = iota // one line (a VA line brings a data block)
	replyValues                  // VALUE blocks until END
	replyStats                   // STAT lines until END (or RESET / OK)
	replyDump                    // metadump lines until END (or BUSY)
	replyMeta                    // quiet meta command followed by mn: lines until MN
	replyNone                    // noreply: nothing comes back
)

// maxKeyLen is memcached's longest key.
const maxKeyLen = 250

// command is one parsed input line.
type command struct {
	action action
	verb   string // friendly verb in lower case, or "raw"
	wire   string // request bytes; a raw storage command lacks its data block
	reply  replyKind
	keys   []string // keys asked for by get, gets and gat, in order
	// dataLen is the length of the data block that the next input line
	// must supply (a raw storage command); -1 when none is needed.
	dataLen int
}

// builder turns the arguments of one friendly verb into a command.
type builder func(verb string, args []string) (command, error)

// friendly returns the builder of a friendly verb; every other first word
// is sent raw.
func friendly(verb string) (builder, bool) {
	switch verb {
	case "set", "add", "replace", "append", "prepend":
		return buildStore, true
	case "cas":
		return buildCas, true
	case "get", "gets":
		return buildGet, true
	case "gat":
		return buildGat, true
	case "delete":
		return buildDelete, true
	case "incr", "decr":
		return buildIncr, true
	case "touch":
		return buildTouch, true
	case "flush":
		return buildFlush, true
	case "stats":
		return buildStats, true
	case "help":
		return buildHelp, true
	case "version", "show", "exit", "quit":
		return buildNoArgs, true
	}
	return nil, false
}

// parseCommand turns one input line into a command. It does no IO.
func parseCommand(line string) (command, error) {
	line = strings.TrimRight(line, "\r\n")
	trimmed := strings.TrimSpace(line)
	if trimmed == "" || strings.HasPrefix(trimmed, "#") {
		return command{action: actNone, dataLen: -1}, nil
	}
	first, rest, _ := strings.Cut(trimmed, " ")
	verb := strings.ToLower(first)
	if verb == "raw" {
		rest = strings.TrimSpace(rest)
		if rest == "" {
			return command{}, fmt.Errorf("%w: raw needs a protocol line", ErrUsage)
		}
		return rawCommand(rest)
	}
	build, ok := friendly(verb)
	if !ok {
		return rawCommand(trimmed)
	}
	args, err := splitArgs(rest)
	if err != nil {
		return command{}, err
	}
	cmd, err := build(verb, args)
	if err != nil {
		return command{}, err
	}
	cmd.verb = verb
	cmd.dataLen = -1
	return cmd, nil
}

func usage(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUsage}, a...)...)
}

func wantArgs(verb string, args []string, lo, hi int, shape string) error {
	if len(args) < lo || len(args) > hi {
		return usage("%s %s", verb, shape)
	}
	return nil
}

func checkKey(k string) error {
	if k == "" || len(k) > maxKeyLen {
		return usage("key must be 1 to %d bytes, got %d", maxKeyLen, len(k))
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] == 0x7f {
			return usage("key %q contains a space or control character", k)
		}
	}
	return nil
}

func parseInt(what, s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, usage("%s %q is not a whole number", what, s)
	}
	return v, nil
}

func parseUint(what, s string, bits int) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return 0, usage("%s %q is not a whole number from 0 to %d", what, s, uint64(1)<<bits-1)
	}
	return v, nil
}

// ttlAndFlags reads the optional [ttl] [flags] tail of a storage command.
func ttlAndFlags(opt []string) (ttl int64, flags uint64, err error) {
	if len(opt) > 0 {
		if ttl, err = parseInt("ttl", opt[0]); err != nil {
			return 0, 0, err
		}
	}
	if len(opt) > 1 {
		if flags, err = parseUint("flags", opt[1], 32); err != nil {
			return 0, 0, err
		}
	}
	return ttl, flags, nil
}

func buildStore(verb string, args []string) (command, error) {
	if err := wantArgs(verb, args, 2, 4, "key value [ttl] [flags]"); err != nil {
		return command{}, err
	}
	if err := checkKey(args[0]); err != nil {
		return command{}, err
	}
	ttl, flags, err := ttlAndFlags(args[2:])
	if err != nil {
		return command{}, err
	}
	wire := fmt.Sprintf("%s %s %d %d %d\r\n%s\r\n", verb, args[0], flags, ttl, len(args[1]), args[1])
	return command{action: actSend, wire: wire, reply: replyLine}, nil
}

func buildCas(verb string, args []string) (command, error) {
	if err := wantArgs(verb, args, 3, 5, "key value unique [ttl] [flags]"); err != nil {
		return command{}, err
	}
	if err := checkKey(args[0]); err != nil {
		return command{}, err
	}
	unique, err := parseUint("unique", args[2], 64)
	if err != nil {
		return command{}, err
	}
	ttl, flags, err := ttlAndFlags(args[3:])
	if err != nil {
		return command{}, err
	}
	wire := fmt.Sprintf("cas %s %d %d %d %d\r\n%s\r\n", args[0], flags, ttl, len(args[1]), unique, args[1])
	return command{action: actSend, wire: wire, reply: replyLine}, nil
}

func buildGet(verb string, args []string) (command, error) {
	if len(args) == 0 {
		return command{}, usage("%s key [key ...]", verb)
	}
	for _, k := range args {
		if err := checkKey(k); err != nil {
			return command{}, err
		}
	}
	wire := verb + " " + strings.Join(args, " ") + "\r\n"
	return command{action: actSend, wire: wire, reply: replyValues, keys: args}, nil
}

func buildGat(verb string, args []string) (command, error) {
	if len(args) < 2 {
		return command{}, usage("gat ttl key [key ...]")
	}
	ttl, err := parseInt("ttl", args[0])
	if err != nil {
		return command{}, err
	}
	for _, k := range args[1:] {
		if err := checkKey(k); err != nil {
			return command{}, err
		}
	}
	wire := fmt.Sprintf("gat %d %s\r\n", ttl, strings.Join(args[1:], " "))
	return command{action: actSend, wire: wire, reply: replyValues, keys: args[1:]}, nil
}

func buildDelete(verb string, args []string) (command, error) {
	if err := wantArgs(verb, args, 1, 1, "key"); err != nil {
		return command{}, err
	}
	if err := checkKey(args[0]); err != nil {
		return command{}, err
	}
	return command{action: actSend, wire: "delete " + args[0] + "\r\n", reply: replyLine}, nil
}

func buildIncr(verb string, args []string) (command, error) {
	if err := wantArgs(verb, args, 1, 2, "key [amount]"); err != nil {
		return command{}, err
	}
	if err := checkKey(args[0]); err != nil {
		return command{}, err
	}
	n := uint64(1)
	if len(args) == 2 {
		var err error
		if n, err = parseUint("amount", args[1], 64); err != nil {
			return command{}, err
		}
	}
	wire := fmt.Sprintf("%s %s %d\r\n", verb, args[0], n)
	return command{action: actSend, wire: wire, reply: replyLine}, nil
}

func buildTouch(verb string, args []string) (command, error) {
	if err := wantArgs(verb, args, 2, 2, "key ttl"); err != nil {
		return command{}, err
	}
	if err := checkKey(args[0]); err != nil {
		return command{}, err
	}
	ttl, err := parseInt("ttl", args[1])
	if err != nil {
		return command{}, err
	}
	wire := fmt.Sprintf("touch %s %d\r\n", args[0], ttl)
	return command{action: actSend, wire: wire, reply: replyLine}, nil
}

func buildFlush(verb string, args []string) (command, error) {
	if err := wantArgs(verb, args, 0, 1, "[delay]"); err != nil {
		return command{}, err
	}
	wire := "flush_all\r\n"
	if len(args) == 1 {
		delay, err := parseUint("delay", args[0], 32)
		if err != nil {
			return command{}, err
		}
		wire = fmt.Sprintf("flush_all %d\r\n", delay)
	}
	return command{action: actSend, wire: wire, reply: replyLine}, nil
}

func buildStats(_ string, args []string) (command, error) {
	for _, a := range args {
		if err := checkKey(a); err != nil {
			return command{}, usage("stats argument %q contains a space or control character", a)
		}
	}
	wire := strings.Join(append([]string{"stats"}, args...), " ") + "\r\n"
	return command{action: actSend, wire: wire, reply: replyStats}, nil
}

func buildHelp(_ string, _ []string) (command, error) {
	return command{action: actHelp}, nil
}

func buildNoArgs(verb string, args []string) (command, error) {
	if len(args) > 0 {
		return command{}, usage("%s takes no arguments", verb)
	}
	switch verb {
	case "version":
		return command{action: actSend, wire: "version\r\n", reply: replyLine}, nil
	case "show":
		return command{action: actShow}, nil
	default: // exit, quit
		return command{action: actExit}, nil
	}
}
