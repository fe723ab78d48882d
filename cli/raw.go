package cli

import (
	"slices"
	"strconv"
	"strings"
)

// rawCommand classifies a raw protocol line: how its reply ends and
// whether a data block must follow it. The line is sent as it is.
func rawCommand(line string) (command, error) {
	fields := strings.Fields(line)
	cmd := command{action: actSend, verb: "raw", wire: line + "\r\n", reply: replyLine, dataLen: -1}
	switch verb := fields[0]; verb {
	case "set", "add", "replace", "append", "prepend", "cas":
		cmd.dataLen = dataLenAt(fields, 4)
		if noreplyAt(fields, 5) || (verb == "cas" && noreplyAt(fields, 6)) {
			cmd.reply = replyNone
		}
	case "ms":
		cmd.dataLen = dataLenAt(fields, 2)
		cmd = quietMeta(cmd, fields, 3)
	case "mg", "md", "ma":
		cmd = quietMeta(cmd, fields, 2)
	case "get", "gets", "gat", "gats":
		cmd.reply = replyValues
	case "stats":
		cmd.reply = replyStats
	case "lru_crawler":
		if len(fields) > 1 && fields[1] == "metadump" {
			cmd.reply = replyDump
		}
	case "watch":
		return command{}, usage("watch streams without end; use a plain TCP client for it")
	default:
		if fields[len(fields)-1] == "noreply" {
			cmd.reply = replyNone
		}
	}
	return cmd, nil
}

// dataLenAt reads the byte count of a storage command, or -1 when the line
// is malformed; the server then answers with an error and no block is sent.
func dataLenAt(fields []string, i int) int {
	if i >= len(fields) {
		return -1
	}
	n, err := strconv.Atoi(fields[i])
	if err != nil || n < 0 {
		return -1
	}
	return n
}

func noreplyAt(fields []string, i int) bool {
	return len(fields) == i+1 && fields[i] == "noreply"
}

// quietMeta makes a meta command with the q flag (silent on success) end
// with mn, so that its reply always ends with the MN line.
func quietMeta(cmd command, fields []string, flagsFrom int) command {
	if flagsFrom < len(fields) && slices.Contains(fields[flagsFrom:], "q") {
		cmd.reply = replyMeta
	}
	return cmd
}
