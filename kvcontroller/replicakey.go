package kvcontroller

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrKeyUnstorable reports a client key whose replica form does not fit in
// memcached's 250-byte key limit.
var ErrKeyUnstorable = errors.New("key too long for the replica once escaped")

// keyEscape starts an escaped byte in a replica key.
const keyEscape = 0xff

// maxReplicaKey is memcached's key length limit.
const maxReplicaKey = 250

// The memcached text protocol accepts any key byte but space, CR, LF and
// NUL, and memcached itself stores control characters; gomemcache refuses
// bytes <= ' ' and DEL. replicaKey maps a client key to one gomemcache
// accepts, injectively: each such byte, and the escape byte itself, becomes
// keyEscape followed by a printable code. Keys without them pass unchanged.
func replicaKey(key string) (string, error) {
	rk := key
	if needsEscape(key) {
		rk = escapeKey(key)
	}
	if !legalReplicaKey(rk) {
		if len(rk) > maxReplicaKey && len(key) <= maxReplicaKey {
			return "", fmt.Errorf("%w: %w (%d bytes)", ErrBackend, ErrKeyUnstorable, len(rk))
		}
		return "", fmt.Errorf("%w: malformed key", ErrBackend)
	}
	return rk, nil
}

// escapeKey writes each byte gomemcache refuses, and the escape byte, as
// keyEscape followed by a printable code.
func escapeKey(key string) string {
	var b strings.Builder
	b.Grow(len(key) + 8)
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c <= ' ':
			b.WriteByte(keyEscape)
			b.WriteByte('A' + c)
		case c == 0x7f:
			b.WriteByte(keyEscape)
			b.WriteByte('!')
		case c == keyEscape:
			b.WriteByte(keyEscape)
			b.WriteByte('#')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// legalReplicaKey reports whether memcached's text protocol takes rk as one
// key: 1 to 250 bytes, none of them a space or control character. Every key
// sent to the replica passes this check, so a bad key can never put a
// pipelined connection out of step.
func legalReplicaKey(rk string) bool {
	if len(rk) == 0 || len(rk) > maxReplicaKey {
		return false
	}
	for i := 0; i < len(rk); i++ {
		if c := rk[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

func needsEscape(key string) bool {
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c == 0x7f || c == keyEscape {
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
// back maps the escaped ones to their
// client keys and is nil when no key needed escaping.
func replicaKeys(keys []string) (rkeys []string, back map[string]string, err error) {
	rkeys = keys
	for i, k := range keys {
		if !needsEscape(k) {
			if !legalReplicaKey(k) {
				return nil, nil, fmt.Errorf("%w: malformed key", ErrBackend)
			}
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
