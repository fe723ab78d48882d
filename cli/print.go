package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"
)

// printResponse writes the reply to cmd for a person to read.
func printResponse(w io.Writer, cmd command, resp response) error {
	switch {
	case cmd.verb == "raw":
		for _, l := range resp.lines {
			if _, err := fmt.Fprintln(w, l); err != nil {
				return err
			}
		}
		return nil
	case resp.failed():
		_, err := fmt.Fprintln(w, resp.status)
		return err
	case cmd.reply == replyValues:
		return printValues(w, cmd.keys, resp.items)
	case cmd.reply == replyStats:
		return printStats(w, resp)
	}
	_, err := fmt.Fprintln(w, resp.status)
	return err
}

// printValues prints the value alone for one key, and "key = value" lines
// (in the order asked) for several.
func printValues(w io.Writer, keys []string, items []item) error {
	byKey := make(map[string]item, len(items))
	for _, it := range items {
		byKey[it.key] = it
	}
	if len(keys) == 1 {
		it, ok := byKey[keys[0]]
		if !ok {
			_, err := fmt.Fprintln(w, "(not found)")
			return err
		}
		_, err := fmt.Fprintln(w, readable(it.data)+itemMeta(it))
		return err
	}
	for _, k := range keys {
		it, ok := byKey[k]
		var err error
		if ok {
			_, err = fmt.Fprintf(w, "%s = %s%s\n", k, readable(it.data), itemMeta(it))
		} else {
			_, err = fmt.Fprintf(w, "%s (not found)\n", k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// itemMeta shows the flags (when set) and the cas unique (from gets).
func itemMeta(it item) string {
	var parts []string
	if it.flags != 0 {
		parts = append(parts, "flags "+strconv.FormatUint(uint64(it.flags), 10))
	}
	if it.hasCas {
		parts = append(parts, "cas "+strconv.FormatUint(it.cas, 10))
	}
	if len(parts) == 0 {
		return ""
	}
	return "  (" + strings.Join(parts, ", ") + ")"
}

// readable returns a value as it is when it is printable text without
// surrounding spaces, and Go-quoted otherwise (so "" shows an empty value
// and "a\r\nb" shows its line break).
func readable(b []byte) string {
	s := string(b)
	if s == "" || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if r != ' ' && !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// printStats prints STAT lines as an aligned name/value table and any
// other lines (ITEM, PREFIX) as they came.
func printStats(w io.Writer, resp response) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, l := range resp.lines {
		if rest, ok := strings.CutPrefix(l, "STAT "); ok {
			name, value, _ := strings.Cut(rest, " ")
			fmt.Fprintf(tw, "%s\t%s\n", name, value)
			continue
		}
		if l == resp.status && (l == "END" || l == "RESET" || l == "OK") {
			continue
		}
		fmt.Fprintf(tw, "%s\n", l)
	}
	if resp.status == "RESET" || resp.status == "OK" {
		fmt.Fprintln(tw, resp.status)
	}
	return tw.Flush()
}
