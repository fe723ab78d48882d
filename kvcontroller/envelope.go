package kvcontroller

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrCorrupt reports bytes that are not a valid envelope.
var ErrCorrupt = errors.New("corrupt envelope")

// Envelope layout, big-endian, followed by the client's value:
//
//	offset size field
//	0      1    magic (envelopeMagic)
//	1      1    format version (envelopeFormat)
//	2      1    bits: bit 0 = tombstone; bits 5, 6, 7 = the meta protocol's
//	            item state (stale, win sent, binary key); the others must
//	            be zero
//	3      4    client flags
//	7      8    absolute exptime, unix seconds (0 = never)
//	15     8    version
//
// then the optional fields whose bit is set, in bit order:
//
//	bit 1  8    expiry version (Item.ExpiryVersion)
//	bit 2  8    the CAS unique a client chose with E (Item.Cas)
//
// An envelope without optional fields is the same bytes as before they
// existed, so replicas written by an older memcons stay readable.
const (
	envelopeMagic  byte = 0xC5
	envelopeFormat byte = 1

	bitTombstone     byte = 1 << 0
	bitExpiryVersion byte = 1 << 1
	bitCas           byte = 1 << 2
	bitStale         byte = 1 << 5
	bitWinSent       byte = 1 << 6
	bitKeyBinary     byte = 1 << 7
	knownBits             = bitTombstone | bitExpiryVersion | bitCas | bitStale | bitWinSent | bitKeyBinary

	offBits    = 2
	offFlags   = 3
	offExptime = 7
	offVersion = 15
)

// EnvelopeOverhead is the fewest bytes the envelope adds to a value: its
// header without optional fields.
const EnvelopeOverhead = 23

// EnvelopeSize returns the length of it's envelope, value included.
func EnvelopeSize(it Item) int {
	n := EnvelopeOverhead + len(it.Value)
	if it.ExpiryVersion != 0 {
		n += 8
	}
	if it.HasCas {
		n += 8
	}
	return n
}

// AppendEnvelope appends the envelope of it (header, then it.Value) to dst
// and returns the extended slice; it.Key is not part of the envelope.
func AppendEnvelope(dst []byte, it Item) []byte {
	var bits byte
	if it.Tombstone {
		bits |= bitTombstone
	}
	if it.ExpiryVersion != 0 {
		bits |= bitExpiryVersion
	}
	if it.HasCas {
		bits |= bitCas
	}
	if it.Stale {
		bits |= bitStale
	}
	if it.WinSent {
		bits |= bitWinSent
	}
	if it.KeyBinary {
		bits |= bitKeyBinary
	}
	dst = append(dst, envelopeMagic, envelopeFormat, bits)
	dst = binary.BigEndian.AppendUint32(dst, it.Flags)
	dst = binary.BigEndian.AppendUint64(dst, uint64(it.Exptime))
	dst = binary.BigEndian.AppendUint64(dst, it.Version)
	if it.ExpiryVersion != 0 {
		dst = binary.BigEndian.AppendUint64(dst, it.ExpiryVersion)
	}
	if it.HasCas {
		dst = binary.BigEndian.AppendUint64(dst, it.Cas)
	}
	return append(dst, it.Value...)
}

// EncodeEnvelope returns the envelope of it in a new slice.
func EncodeEnvelope(it Item) []byte {
	return AppendEnvelope(make([]byte, 0, EnvelopeSize(it)), it)
}

// DecodeEnvelope parses b as the envelope of the item under key. The
// returned Value aliases b (it is never nil); ErrCorrupt if b is malformed.
func DecodeEnvelope(key string, b []byte) (Item, error) {
	if len(b) < EnvelopeOverhead {
		return Item{}, fmt.Errorf("%w: %d bytes, header needs %d", ErrCorrupt, len(b), EnvelopeOverhead)
	}
	if b[0] != envelopeMagic {
		return Item{}, fmt.Errorf("%w: bad magic 0x%02x", ErrCorrupt, b[0])
	}
	if b[1] != envelopeFormat {
		return Item{}, fmt.Errorf("%w: unknown format %d", ErrCorrupt, b[1])
	}
	bits := b[offBits]
	if bits&^knownBits != 0 {
		return Item{}, fmt.Errorf("%w: unknown bits 0x%02x", ErrCorrupt, bits)
	}
	it := Item{
		Key:       key,
		Flags:     binary.BigEndian.Uint32(b[offFlags:]),
		Exptime:   int64(binary.BigEndian.Uint64(b[offExptime:])),
		Version:   binary.BigEndian.Uint64(b[offVersion:]),
		Tombstone: bits&bitTombstone != 0,
		Stale:     bits&bitStale != 0,
		WinSent:   bits&bitWinSent != 0,
		KeyBinary: bits&bitKeyBinary != 0,
	}
	rest := b[EnvelopeOverhead:]
	if bits&bitExpiryVersion != 0 {
		if len(rest) < 8 {
			return Item{}, fmt.Errorf("%w: %d bytes, expiry version needs 8", ErrCorrupt, len(rest))
		}
		it.ExpiryVersion = binary.BigEndian.Uint64(rest)
		if it.ExpiryVersion == 0 {
			return Item{}, fmt.Errorf("%w: expiry version bit set with version 0", ErrCorrupt)
		}
		rest = rest[8:]
	}
	if bits&bitCas != 0 {
		if len(rest) < 8 {
			return Item{}, fmt.Errorf("%w: %d bytes, the CAS field needs 8", ErrCorrupt, len(rest))
		}
		it.Cas, it.HasCas = binary.BigEndian.Uint64(rest), true
		rest = rest[8:]
	}
	it.Value = rest[:len(rest):len(rest)]
	return it, nil
}

// expired reports whether an item with this exptime is gone at unix second now.
func expired(exptime, now int64) bool {
	return exptime != 0 && exptime <= now
}

// storeExptime is the expiry a store gives it: its Exptime, but never for a
// tombstone, which keeps the expiry of the item it replaced (eventual mode
// orders by it) and stays until the mode that wrote it removes it.
func storeExptime(it Item) int64 {
	if it.Tombstone {
		return 0
	}
	return it.Exptime
}
