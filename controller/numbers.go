package controller

import (
	"bytes"
	"math"
	"math/bits"
)

// The number parsers below reproduce memcached's safe_strtoul, safe_strtol
// and safe_strtoull (util.c) on a 64-bit Linux build, so that the same token
// is accepted, rejected or truncated the same way: C's strtoull/strtoll skip
// leading white space and take a sign; the token must end after the digits
// or continue with white space; a value out of the 64-bit range fails; the
// 32-bit variants then truncate silently ("4294967296" flags become 0), and
// the unsigned ones negate a leading '-' ("-0" is 0, "-1" fails).

// isCSpace reports whether c is white space for C's isspace in the C locale.
func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// scanDecimal reads [space][sign]digits from tok as C's strtoull does and
// returns the magnitude, whether a '-' sign was present, and ok=false when
// there are no digits, the magnitude overflows 64 bits, or the digits are
// followed by something other than white space.
func scanDecimal(tok []byte) (mag uint64, neg bool, ok bool) {
	i := 0
	for i < len(tok) && isCSpace(tok[i]) {
		i++
	}
	if i < len(tok) && (tok[i] == '+' || tok[i] == '-') {
		neg = tok[i] == '-'
		i++
	}
	start := i
	overflow := false
	for ; i < len(tok) && tok[i] >= '0' && tok[i] <= '9'; i++ {
		hi, lo := bits.Mul64(mag, 10)
		sum, carry := bits.Add64(lo, uint64(tok[i]-'0'), 0)
		if hi != 0 || carry != 0 {
			overflow = true
		}
		mag = sum
	}
	if i == start || overflow {
		return 0, false, false
	}
	if i < len(tok) && !isCSpace(tok[i]) {
		return 0, false, false
	}
	return mag, neg, true
}

// parseUint64 is memcached's safe_strtoull: used for cas uniques and
// incr/decr deltas.
func parseUint64(tok []byte) (uint64, bool) {
	mag, neg, ok := scanDecimal(tok)
	if !ok {
		return 0, false
	}
	v := mag
	if neg {
		v = -mag // C negates in unsigned arithmetic
	}
	if int64(v) < 0 && bytes.IndexByte(tok, '-') >= 0 {
		return 0, false
	}
	return v, true
}

// parseUint32 is memcached's safe_strtoul: used for flags and verbosity; the
// 64-bit result is truncated to 32 bits as memcached's assignment does.
func parseUint32(tok []byte) (uint32, bool) {
	v, ok := parseUint64(tok)
	return uint32(v), ok
}

// parseInt32 is memcached's safe_strtol: used for exptimes and data lengths;
// a value inside the 64-bit range is truncated to 32 bits ("4294967297"
// becomes 1).
func parseInt32(tok []byte) (int32, bool) {
	mag, neg, ok := scanDecimal(tok)
	if !ok {
		return 0, false
	}
	var v int64
	switch {
	case !neg && mag <= math.MaxInt64:
		v = int64(mag)
	case neg && mag <= 1<<63:
		v = int64(-mag) // -(1<<63) wraps to math.MinInt64, as intended
	default:
		return 0, false // strtol reports ERANGE
	}
	return int32(v), true
}
