package peer

import (
	"encoding/binary"
	"fmt"
	"io"
)

// frameHeaderLen is the size of the big-endian uint32 length before each frame.
const frameHeaderLen = 4

// writeFrame writes payload behind its length in a single Write call, so a
// connection that drops or fails a write never leaves half a frame behind.
func writeFrame(w io.Writer, payload []byte, limit int) error {
	if len(payload) > limit {
		return fmt.Errorf("write %d-byte frame (limit %d): %w", len(payload), limit, ErrFrameTooLarge)
	}
	buf := make([]byte, frameHeaderLen+len(payload))
	binary.BigEndian.PutUint32(buf, uint32(len(payload)))
	copy(buf[frameHeaderLen:], payload)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// readFrame reads one frame of at most limit bytes. It checks the length
// before allocating, so a hostile length costs nothing.
func readFrame(r io.Reader, limit int) ([]byte, error) {
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("read frame header: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(limit) {
		return nil, fmt.Errorf("read %d-byte frame (limit %d): %w", n, limit, ErrFrameTooLarge)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, fmt.Errorf("read frame body: %w", err)
	}
	return payload, nil
}
