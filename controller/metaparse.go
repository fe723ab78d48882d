package controller

import (
	"encoding/base64"
	"strings"

	"github.com/memcons/memcons/consistency"
)

// The meta commands' error lines, each worded as memcached 1.6.18 words it.
var (
	errMetaDuplicate    = &ProtocolError{Reply: "CLIENT_ERROR duplicate flag"}
	errMetaInvalidFlag  = &ProtocolError{Reply: "CLIENT_ERROR invalid flag"}
	errMetaBadToken     = &ProtocolError{Reply: "CLIENT_ERROR bad token in command line format"}
	errMetaDecodeKey    = &ProtocolError{Reply: "CLIENT_ERROR error decoding key"}
	errMetaModeLength   = &ProtocolError{Reply: "CLIENT_ERROR incorrect length for M token"}
	errMetaInitial      = &ProtocolError{Reply: "CLIENT_ERROR invalid numeric initial value"}
	errMetaDelta        = &ProtocolError{Reply: "CLIENT_ERROR invalid numeric delta value"}
	errMetaInvalidOrDup = &ProtocolError{Reply: "CLIENT_ERROR invalid or duplicate flag"}
	errMetaGetTooMany   = &ProtocolError{Reply: "CLIENT_ERROR options flags are too long"}
	errMetaTooMany      = &ProtocolError{Reply: "CLIENT_ERROR options flags too long"}
	errMetaOpaque       = &ProtocolError{Reply: "CLIENT_ERROR opaque token too long"}
	errMetaSetMode      = &ProtocolError{Reply: "CLIENT_ERROR invalid mode for ms M token"}
	errMetaArithMode    = &ProtocolError{Reply: "CLIENT_ERROR invalid mode for ma M token"}
)

// metaMaxWords is memcached's MFLAG_MAX_OPT_LENGTH counted in words: a meta
// line of this many words or more (command and key included) is refused.
const metaMaxWords = 20

// metaMaxOpaque is the longest O token memcached copies back, 'O' included.
const metaMaxOpaque = 32

// MetaFlags are the flags of a meta command line (mg, ms, md, ma, me).
type MetaFlags struct {
	// Letters are the first characters of the flag tokens, in request
	// order: the reply's flags follow it.
	Letters string
	// Opaque is the O token, 'O' included, copied back in the reply.
	Opaque string
	// Binary is b: the key was sent base64 encoded; Command.Keys holds it
	// decoded and replies show it encoded again.
	Binary bool
	Quiet  bool // q: leave out the nominal reply (EN for mg, HD for the rest)
	Value  bool // v: return the value
	NoBump bool // u: do not count this fetch as an access
	// OpaqueTooLong is set on an mg or ma whose O token is over 32 bytes:
	// memcached 1.6.18 runs such a command up to the O token (the T and N
	// before it), hands out no win, and answers "opaque token too long".
	OpaqueTooLong bool
	// Args are the options that change what the command does to the item.
	Args consistency.MetaArgs
}

// has reports whether the flag letter f was sent.
func (m *MetaFlags) has(f byte) bool {
	for i := 0; i < len(m.Letters); i++ {
		if m.Letters[i] == f {
			return true
		}
	}
	return false
}

// preparseMeta is memcached's _meta_flag_preparse over the flag words
// (words after the key, or after ms's length): it refuses duplicate and
// unknown flags, reads the numeric tokens and decodes a base64 key in
// key; numeric tokens of the request go to cmd (T to Exptime, F to
// Flags, C to Cas, D to Delta) or to the meta options (E, N, R, J). As in memcached, a bad token does not stop the scan; the error
// reported is the last one set (a bad F token keeps the one before it).
func preparseMeta(cmd *Command, m *MetaFlags, flags [][]byte, key *[]byte) error {
	var seen [128]bool
	var failed error
	letters := make([]byte, 0, len(flags))
	var order []byte
	for _, w := range flags {
		o := w[0]
		if o >= 127 || seen[o] {
			return errMetaDuplicate
		}
		seen[o] = true
		letters = append(letters, o)
		tok := w[1:]
		switch o {
		case 'b':
			decoded, ok := memcachedBase64Decode(*key)
			if !ok {
				failed = errMetaDecodeKey
			}
			*key, m.Binary = decoded, true
		case 'N', 'T', 'R':
			order = append(order, o)
			v, ok := parseInt32(tok)
			if !ok {
				failed = errMetaBadToken
			}
			switch o {
			case 'N':
				m.Args.Vivify, m.Args.VivifyExptime = true, int64(v)
			case 'T':
				m.Args.TTL, cmd.Exptime = ok, int64(v)
			case 'R':
				m.Args.Recache, m.Args.RecacheExptime = true, int64(v)
			}
		case 'l', 'O', 'P', 'L', 'k', 's', 't', 'c', 'f', 'h':
			if o == 'O' {
				m.Opaque = string(w)
			}
		case 'v':
			m.Value = true
		case 'u':
			m.NoBump = true
		case 'q':
			m.Quiet = true
		case 'F':
			v, ok := parseUint32(tok)
			if !ok {
				if failed == nil {
					failed = ErrBadFormat
				}
			}
			cmd.Flags = v
		case 'C':
			v, ok := parseUint64(tok)
			if !ok {
				failed = errMetaBadToken
			} else {
				m.Args.CompareCas, cmd.Cas = true, v
			}
		case 'M':
			if len(w) != 2 {
				failed = errMetaModeLength
			} else {
				m.Args.Mode = w[1]
			}
		case 'J':
			v, ok := parseUint64(tok)
			if !ok {
				failed = errMetaInitial
			}
			m.Args.Initial = v
		case 'D':
			v, ok := parseUint64(tok)
			if !ok {
				failed = errMetaDelta
			}
			cmd.Delta = v
		case 'E':
			v, ok := parseUint64(tok)
			if !ok {
				failed = errMetaBadToken
			} else {
				m.Args.HasNewCas, m.Args.NewCas = true, v
			}
		case 'x':
			m.Args.RemoveValue = true // only md uses it, as in memcached
		case 'I':
			m.Args.Invalidate = true
		default:
			return errMetaInvalidFlag
		}
	}
	m.Letters, m.Args.Order = string(letters), string(order)
	return failed
}

// memcachedBase64Decode decodes src as memcached's base64_decode does:
// bytes outside the alphabet are skipped, the rest must come in blocks of
// four, and decoding stops after the first padded block. ok is false for
// anything it refuses, an empty result included.
func memcachedBase64Decode(src []byte) ([]byte, bool) {
	val := func(c byte) (byte, bool) {
		switch {
		case c >= 'A' && c <= 'Z':
			return c - 'A', true
		case c >= 'a' && c <= 'z':
			return c - 'a' + 26, true
		case c >= '0' && c <= '9':
			return c - '0' + 52, true
		case c == '+':
			return 62, true
		case c == '/':
			return 63, true
		case c == '=':
			return 0, true
		}
		return 0, false
	}
	count := 0
	for _, c := range src {
		if _, ok := val(c); ok {
			count++
		}
	}
	if count == 0 || count%4 != 0 {
		return nil, false
	}
	out := make([]byte, 0, count/4*3)
	var block [4]byte
	n, pad := 0, 0
	for _, c := range src {
		v, ok := val(c)
		if !ok {
			continue
		}
		if c == '=' {
			pad++
		}
		block[n] = v
		n++
		if n < 4 {
			continue
		}
		out = append(out, block[0]<<2|block[1]>>4, block[1]<<4|block[2]>>2, block[2]<<6|block[3])
		n = 0
		if pad > 0 {
			switch pad {
			case 1:
				out = out[:len(out)-1]
			case 2:
				out = out[:len(out)-2]
			default:
				return nil, false
			}
			break
		}
	}
	return out, len(out) > 0
}

// appendMetaKey appends " k<key>" to b, base64 encoded and followed by
// " b" for a binary key, as memcached's META_KEY does.
func appendMetaKey(b []byte, key string, binary bool) []byte {
	b = append(b, " k"...)
	if !binary {
		return append(b, key...)
	}
	b = base64.StdEncoding.AppendEncode(b, []byte(key))
	return append(b, " b"...)
}

// The meta commands' parsers. Like memcached they check the word count,
// the key length and the number of flags before the flags themselves.

// parseMetaGet parses mg: <key> <flags>*.
func parseMetaGet(cmd *Command, words [][]byte) error {
	return parseMetaKeyed(cmd, words, errMetaGetTooMany, nil, true)
}

// parseMetaDelete parses md: <key> <flags>*.
func parseMetaDelete(cmd *Command, words [][]byte) error {
	return parseMetaKeyed(cmd, words, errMetaTooMany, errMetaInvalidOrDup, false)
}

// parseMetaArithmetic parses ma: <key> <flags>*; the delta defaults to 1
// and the mode to increment.
func parseMetaArithmetic(cmd *Command, words [][]byte) error {
	cmd.Delta = 1
	if err := parseMetaKeyed(cmd, words, errMetaTooMany, errMetaInvalidOrDup, true); err != nil {
		return err
	}
	switch a := &cmd.Meta.Args; a.Mode {
	case 0, 'I', '+':
		a.Mode = 'I'
	case 'D', '-':
		a.Mode = 'D'
	default:
		return errMetaArithMode
	}
	return nil
}

// parseMetaKeyed parses the line of mg, md and ma; flagErr, when set,
// replaces any error of the flags (md and ma answer one line for all).
// lateOpaque is set for mg and ma, which memcached runs before it finds
// their O token too long (see MetaFlags.OpaqueTooLong).
func parseMetaKeyed(cmd *Command, words [][]byte, tooMany, flagErr error, lateOpaque bool) error {
	if len(words) < 2 {
		return ErrUnknownCommand
	}
	if len(words[1]) > MaxKeyLength {
		return ErrBadFormat
	}
	if len(words) >= metaMaxWords {
		return tooMany
	}
	m := &MetaFlags{}
	cmd.Meta = m
	key := words[1]
	if err := preparseMeta(cmd, m, words[2:], &key); err != nil {
		if flagErr != nil {
			return flagErr
		}
		return err
	}
	cmd.Keys = []string{string(key)}
	if len(m.Opaque) > metaMaxOpaque {
		if !lateOpaque {
			return errMetaOpaque
		}
		m.OpaqueTooLong, m.Args.NoWin = true, true
		// Only the item-changing flags before the O token take effect.
		before := m.Letters[:strings.IndexByte(m.Letters, 'O')]
		order := make([]byte, 0, len(m.Args.Order))
		for i := 0; i < len(m.Args.Order); i++ {
			if strings.IndexByte(before, m.Args.Order[i]) >= 0 {
				order = append(order, m.Args.Order[i])
			}
		}
		m.Args.Order = string(order)
	}
	return nil
}

// parseMetaSet parses ms: <key> <datalen> <flags>*. Once the length is
// read, an error still sets DataLen, so the data block is swallowed as
// memcached swallows it.
func parseMetaSet(cmd *Command, words [][]byte) error {
	if len(words) < 2 {
		return ErrUnknownCommand
	}
	if len(words[1]) > MaxKeyLength || len(words) == 2 {
		return ErrBadFormat
	}
	if len(words) >= metaMaxWords {
		return errMetaTooMany
	}
	n, ok := parseInt32(words[2])
	if !ok || n < 0 || n > 1<<31-1-2 {
		return ErrBadFormat
	}
	cmd.DataLen = int(n)
	m := &MetaFlags{}
	cmd.Meta = m
	key := words[1]
	if err := preparseMeta(cmd, m, words[3:], &key); err != nil {
		return err
	}
	switch m.Args.Mode {
	case 0, 'E', 'A', 'P', 'R', 'S':
	default:
		return errMetaSetMode
	}
	m.Args.KeyBinary = m.Binary
	if len(m.Opaque) > metaMaxOpaque {
		return errMetaOpaque
	}
	cmd.Keys = []string{string(key)}
	return nil
}

// parseMetaNoop parses mn, which ignores any words after it.
func parseMetaNoop(*Command, [][]byte) error { return nil }

// parseMetaDebug parses me: <key> [b].
func parseMetaDebug(cmd *Command, words [][]byte) error {
	if len(words) < 2 || len(words[1]) > MaxKeyLength {
		return ErrBadFormat
	}
	m := &MetaFlags{}
	cmd.Meta = m
	key := words[1]
	if len(words) >= 3 && string(words[2]) == "b" {
		decoded, ok := memcachedBase64Decode(key)
		if !ok {
			return ErrBadFormat
		}
		key, m.Binary = decoded, true
	}
	cmd.Keys = []string{string(key)}
	return nil
}
