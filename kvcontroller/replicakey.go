package kvcontroller

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/memcons/memcons/kvcontroller/mcclient"
)

// ErrKeyUnstorable reports a client key whose replica form does not fit in
// memcached's 250-byte key limit.
var ErrKeyUnstorable = errors.New("key too long for the replica once escaped")

// keyEscape starts an escaped byte in a replica key.
const keyEscape = 0xff

// The memcached text protocol cannot carry a key holding a space, CR, LF or
// NUL, though memcached itself stores other control characters, and
// mcclient refuses every byte <= ' ' and DEL (as common clients do) so
// that no key can put a pipelined connection out of step. replicaKey maps
// a client key to one mcclient accepts, injectively: each such byte, and
// the escape byte itself, becomes keyEscape followed by a printable code.
// Keys without them pass unchanged; mcclient refuses those it cannot send
// (empty, or over mcclient.MaxKeyLen) with mcclient.ErrMalformedKey.
func replicaKey(key string) (string, error) {
	if !needsEscape(key) {
		return key, nil
	}
	rk := escapeKey(key)
	if len(rk) > mcclient.MaxKeyLen && len(key) <= mcclient.MaxKeyLen {
		return "", fmt.Errorf("%w: %w (%d bytes)", ErrBackend, ErrKeyUnstorable, len(rk))
	}
	return rk, nil
}

// escapeKey writes each byte mcclient refuses, and the escape byte, as
// keyEscape followed by a printable code; runs of other bytes are copied
// whole, into a builder sized once.
func escapeKey(key string) string {
	var b strings.Builder
	b.Grow(len(key) + escapedBytes(key))
	start := 0
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !escaped[c] {
			continue
		}
		b.WriteString(key[start:i])
		b.WriteByte(keyEscape)
		switch {
		case c <= ' ':
			b.WriteByte('A' + c)
		case c == 0x7f:
			b.WriteByte('!')
		default: // keyEscape
			b.WriteByte('#')
		}
		start = i + 1
	}
	b.WriteString(key[start:])
	return b.String()
}

// escaped marks the bytes replicaKey escapes.
var escaped = func() (t [256]bool) {
	for c := 0; c <= ' '; c++ {
		t[c] = true
	}
	t[0x7f], t[keyEscape] = true, true
	return t
}()

// escapedBytes counts the bytes of key that replicaKey escapes.
func escapedBytes(key string) int {
	n := 0
	for i := 0; i < len(key); i++ {
		if escaped[key[i]] {
			n++
		}
	}
	return n
}

func needsEscape(key string) bool {
	for i := 0; i < len(key); i++ {
		if escaped[key[i]] {
			return true
		}
	}
	return false
}

// clientKey reverses replicaKey.
func clientKey(rkey string) (string, error) {
	if strings.IndexByte(rkey, keyEscape) < 0 {
		return rkey, nil
	}
	var b strings.Builder
	b.Grow(len(rkey))
	for i := 0; i < len(rkey); i++ {
		c := rkey[i]
		if c != keyEscape {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(rkey) {
			return "", fmt.Errorf("%w: replica key %q ends in an escape", ErrCorrupt, rkey)
		}
		switch e := rkey[i]; {
		case e >= 'A' && e <= 'A'+' ':
			b.WriteByte(e - 'A')
		case e == '!':
			b.WriteByte(0x7f)
		case e == '#':
			b.WriteByte(keyEscape)
		default:
			return "", fmt.Errorf("%w: replica key %q has a bad escape", ErrCorrupt, rkey)
		}
	}
	return b.String(), nil
}

// replicaKeys maps keys to replica keys, refusing any replicaKey refuses;
// back maps the escaped ones to their client keys and is nil when no key
// needed escaping.
func replicaKeys(keys []string) (rkeys []string, back map[string]string, err error) {
	rkeys = keys
	for i, k := range keys {
		if !needsEscape(k) {
			continue
		}
		if back == nil {
			rkeys = slices.Clone(keys)
			back = map[string]string{}
		}
		if rkeys[i], err = replicaKey(k); err != nil {
			return nil, nil, err
		}
		back[rkeys[i]] = k
	}
	return rkeys, back, nil
}
