package eventual

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/memcons/memcons/kvcontroller"
)

// Frame and batch bounds of the sync protocol.
const (
	// maxPayload bounds one frame at least this much: a batch never grows
	// past batchBytes unless its one item does (see Mode.maxPayload).
	maxPayload = 64 << 20
	// batchBytes is the payload size at which a frame is sent and a new
	// one started.
	batchBytes = 256 << 10
	// getBatch is how many keys one replica read of a delta answer asks for.
	getBatch = 128
	// connBuffer is the read and write buffer size of a sync connection.
	connBuffer = 64 << 10
)

// ErrProtocol reports bytes on a sync connection that are not a valid frame.
var ErrProtocol = errors.New("sync protocol error")

// The sync protocol runs over one peer.ChannelSync connection per ordered
// pair of peers, dialed by the peer that pushes and asks. Every frame is
//
//	offset size field
//	0      1    kind
//	1      4    payload length, big-endian
//	5      4    CRC-32 (IEEE) of kind and payload
//	9      n    payload
//
// The dialer sends push ('P'), flush ('F') and sync request ('Q') frames; the
// acceptor answers a request with a flush frame carrying its flush mark, item
// frames ('I') and one complete frame ('C'). The checksum catches a stream
// that lost bytes (a link that dropped traffic and came back): the reader
// then closes the connection and the dialer starts over.
const (
	kindPush     byte = 'P'
	kindItems    byte = 'I'
	kindFlush    byte = 'F'
	kindRequest  byte = 'Q'
	kindComplete byte = 'C'

	frameHeader = 9
)

// fixedPayload returns the payload size of a frame kind that has a fixed one.
func fixedPayload(kind byte) (int, bool) {
	switch kind {
	case kindFlush:
		return 8, true
	case kindRequest:
		return 16, true
	case kindComplete:
		return 17, true
	}
	return 0, false
}

// frame is one decoded message of the sync protocol.
type frame struct {
	kind  byte
	items []kvcontroller.Item // push, items
	// epoch and seq are a cursor into the answering peer's recent-write log
	// (request, complete); version is a flush mark (flush).
	epoch, seq, version uint64
	full                bool // complete: the answer was a full transfer
}

// appendFrame appends the encoding of f to dst.
func appendFrame(dst []byte, f frame) []byte {
	if f.kind == kindPush || f.kind == kindItems {
		return appendFrameFunc(dst, f.kind, len(f.items), func(i int) kvcontroller.Item { return f.items[i] })
	}
	start := len(dst)
	dst = append(dst, f.kind, 0, 0, 0, 0, 0, 0, 0, 0)
	switch f.kind {
	case kindFlush:
		dst = binary.BigEndian.AppendUint64(dst, f.version)
	case kindRequest:
		dst = binary.BigEndian.AppendUint64(dst, f.epoch)
		dst = binary.BigEndian.AppendUint64(dst, f.seq)
	case kindComplete:
		dst = binary.BigEndian.AppendUint64(dst, f.epoch)
		dst = binary.BigEndian.AppendUint64(dst, f.seq)
		var full byte
		if f.full {
			full = 1
		}
		dst = append(dst, full)
	}
	return sealFrame(dst, start)
}

// appendFrameFunc appends an item frame (push or items) of the n items
// item(0) ... item(n-1) to dst, encoding each value straight into dst.
func appendFrameFunc(dst []byte, kind byte, n int, item func(int) kvcontroller.Item) []byte {
	start := len(dst)
	dst = append(dst, kind, 0, 0, 0, 0, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	for i := range n {
		it := item(i)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(it.Key)))
		dst = append(dst, it.Key...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(kvcontroller.EnvelopeSize(it)))
		dst = kvcontroller.AppendEnvelope(dst, it)
	}
	return sealFrame(dst, start)
}

// sealFrame fills in the length and checksum of the frame that starts at
// dst[start:].
func sealFrame(dst []byte, start int) []byte {
	payload := dst[start+frameHeader:]
	binary.BigEndian.PutUint32(dst[start+1:], uint32(len(payload)))
	binary.BigEndian.PutUint32(dst[start+5:], frameChecksum(dst[start], payload))
	return dst
}

// itemWireSize is how many bytes it adds to an item frame.
func itemWireSize(it kvcontroller.Item) int {
	return 2 + len(it.Key) + 4 + kvcontroller.EnvelopeSize(it)
}

func frameChecksum(kind byte, payload []byte) uint32 {
	return crc32.Update(crc32.ChecksumIEEE([]byte{kind}), crc32.IEEETable, payload)
}

// readFrame reads one frame from r, refusing payloads above maxPayload; it
// returns the frame and its size on the wire.
func readFrame(r io.Reader, maxPayload int) (frame, int, error) {
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frame{}, 0, err
	}
	// Check the header before trusting its length: a stream that lost
	// bytes must fail here, not wait for (or allocate) a bogus payload.
	n := binary.BigEndian.Uint32(hdr[1:])
	switch size, fixed := fixedPayload(hdr[0]); {
	case fixed && int(n) != size:
		return frame{}, 0, fmt.Errorf("%w: %q frame of %d bytes, want %d", ErrProtocol, hdr[0], n, size)
	case !fixed && hdr[0] != kindPush && hdr[0] != kindItems:
		return frame{}, 0, fmt.Errorf("%w: unknown frame kind 0x%02x", ErrProtocol, hdr[0])
	case uint64(n) > uint64(maxPayload):
		return frame{}, 0, fmt.Errorf("%w: %d-byte payload exceeds %d", ErrProtocol, n, maxPayload)
	}
	// Grow the buffer as bytes arrive rather than trusting n up front.
	var buf bytes.Buffer
	buf.Grow(min(int(n), connBuffer))
	if _, err := io.CopyN(&buf, r, int64(n)); err != nil {
		return frame{}, 0, fmt.Errorf("read %d-byte payload: %w", n, err)
	}
	payload := buf.Bytes()
	if got, want := frameChecksum(hdr[0], payload), binary.BigEndian.Uint32(hdr[5:]); got != want {
		return frame{}, 0, fmt.Errorf("%w: checksum %08x, frame says %08x", ErrProtocol, got, want)
	}
	f, err := decodeFrame(hdr[0], payload)
	return f, frameHeader + int(n), err
}

// decodeFrame parses the payload of a frame of the given kind.
func decodeFrame(kind byte, p []byte) (frame, error) {
	f := frame{kind: kind}
	switch kind {
	case kindPush, kindItems:
		items, err := decodeItems(p)
		f.items = items
		return f, err
	case kindFlush, kindRequest, kindComplete:
		if size, _ := fixedPayload(kind); len(p) != size {
			return frame{}, fmt.Errorf("%w: %q frame of %d bytes, want %d", ErrProtocol, kind, len(p), size)
		}
	default:
		return frame{}, fmt.Errorf("%w: unknown frame kind 0x%02x", ErrProtocol, kind)
	}
	switch kind {
	case kindFlush:
		f.version = binary.BigEndian.Uint64(p)
	case kindRequest:
		f.epoch, f.seq = binary.BigEndian.Uint64(p), binary.BigEndian.Uint64(p[8:])
	case kindComplete:
		f.epoch, f.seq = binary.BigEndian.Uint64(p), binary.BigEndian.Uint64(p[8:])
		switch p[16] {
		case 0:
		case 1:
			f.full = true
		default:
			return frame{}, fmt.Errorf("%w: complete flag %d", ErrProtocol, p[16])
		}
	}
	return f, nil
}

func decodeItems(p []byte) ([]kvcontroller.Item, error) {
	if len(p) < 4 {
		return nil, fmt.Errorf("%w: item frame of %d bytes", ErrProtocol, len(p))
	}
	count := binary.BigEndian.Uint32(p)
	p = p[4:]
	// Every item takes at least 6 + EnvelopeOverhead bytes: bound the
	// allocation by what the payload can hold.
	if uint64(count) > uint64(len(p)/(6+kvcontroller.EnvelopeOverhead)) {
		return nil, fmt.Errorf("%w: %d items cannot fit in %d bytes", ErrProtocol, count, len(p))
	}
	items := make([]kvcontroller.Item, 0, count)
	for i := range count {
		if len(p) < 2 {
			return nil, fmt.Errorf("%w: item %d: truncated key length", ErrProtocol, i)
		}
		kl := int(binary.BigEndian.Uint16(p))
		p = p[2:]
		if len(p) < kl+4 {
			return nil, fmt.Errorf("%w: item %d: truncated key", ErrProtocol, i)
		}
		key := string(p[:kl])
		el := binary.BigEndian.Uint32(p[kl:])
		p = p[kl+4:]
		if uint64(len(p)) < uint64(el) {
			return nil, fmt.Errorf("%w: item %d: truncated envelope", ErrProtocol, i)
		}
		it, err := kvcontroller.DecodeEnvelope(key, p[:el:el])
		if err != nil {
			return nil, fmt.Errorf("%w: item %d (%q): %w", ErrProtocol, i, key, err)
		}
		items = append(items, it)
		p = p[el:]
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last item", ErrProtocol, len(p))
	}
	return items, nil
}
