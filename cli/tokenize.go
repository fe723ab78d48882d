package cli

import (
	"fmt"
	"strconv"
	"strings"
)

// splitArgs splits a command line into arguments at unquoted spaces and
// tabs. Double quotes group words and understand \\ \" \n \r \t \0 and \xHH;
// single quotes group words literally. Quoted and bare parts next to each
// other join into one argument (a"b c" is `ab c`); "" is an empty argument.
func splitArgs(s string) ([]string, error) {
	var (
		args    []string
		cur     strings.Builder
		inArg   bool // cur holds an argument, possibly empty ("")
		i       int
		isSpace = func(c byte) bool { return c == ' ' || c == '\t' }
	)
	for i < len(s) {
		c := s[i]
		switch {
		case isSpace(c):
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
			i++
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("%w: unterminated ' quote", ErrUsage)
			}
			cur.WriteString(s[i+1 : i+1+end])
			inArg = true
			i += end + 2
		case c == '"':
			n, err := readDoubleQuoted(s[i+1:], &cur)
			if err != nil {
				return nil, err
			}
			inArg = true
			i += n + 1
		default:
			cur.WriteByte(c)
			inArg = true
			i++
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}

// readDoubleQuoted decodes s up to and including the closing quote into b
// and returns how many bytes of s it used.
func readDoubleQuoted(s string, b *strings.Builder) (int, error) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return i + 1, nil
		case '\\':
			if i+1 >= len(s) {
				return 0, fmt.Errorf("%w: unterminated \" quote", ErrUsage)
			}
			i++
			switch e := s[i]; e {
			case '\\', '"', '\'':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '0':
				b.WriteByte(0)
			case 'x':
				if i+2 >= len(s) {
					return 0, fmt.Errorf("%w: \\x needs two hex digits", ErrUsage)
				}
				v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
				if err != nil {
					return 0, fmt.Errorf("%w: \\x%s is not two hex digits", ErrUsage, s[i+1:i+3])
				}
				b.WriteByte(byte(v))
				i += 2
			default:
				return 0, fmt.Errorf("%w: unknown escape \\%c", ErrUsage, e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return 0, fmt.Errorf("%w: unterminated \" quote", ErrUsage)
}
