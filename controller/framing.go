package controller

import (
	"bytes"

	"github.com/memcons/memcons/consistency"
)

// CheckItemSize returns ErrObjectTooLarge when cmd's data block would make
// an item larger than itemSizeMax as memcached 1.6 counts it (header, key,
// 4 bytes for non-zero flags, value), so the same value is refused at the
// same size as by memcached -I itemSizeMax.
func CheckItemSize(cmd *Command, itemSizeMax int) error {
	if cmd.DataLen == NoData {
		return nil
	}
	if consistency.ItemSize(len(cmd.Keys[0]), int64(cmd.DataLen), cmd.Flags) > int64(itemSizeMax) {
		return ErrObjectTooLarge
	}
	return nil
}

// memcachedLongLine is how many bytes memcached buffers without a newline
// before it decides the line is garbage (unless it is a get/gets line).
const memcachedLongLine = 2048

// CheckPartialLine decides whether a connection may keep waiting for the
// newline of buf, a line start with no '\n' yet, as memcached 1.6 does: past
// 2048 bytes only a line starting with "get " or "gets " (after at most 100
// spaces) may continue, and no line may pass maxLine. It returns
// ErrLineTooLong when the connection must close.
func CheckPartialLine(buf []byte, maxLine int) error {
	if len(buf) > maxLine {
		return ErrLineTooLong
	}
	if len(buf) <= memcachedLongLine {
		return nil
	}
	rest := bytes.TrimLeft(buf, " ")
	if len(buf)-len(rest) > 100 {
		return ErrLineTooLong
	}
	if !bytes.HasPrefix(rest, []byte("get ")) && !bytes.HasPrefix(rest, []byte("gets ")) {
		return ErrLineTooLong
	}
	return nil
}

// SplitDataBlock takes a data block of n bytes and its "\r\n" from the front
// of buf. complete is false when buf is shorter than n+2. Otherwise value is
// buf[:n] (not copied), rest follows the block, and err is ErrBadDataChunk
// when the two bytes after the value are not "\r\n" (the block is consumed
// all the same, as memcached does).
func SplitDataBlock(buf []byte, n int) (value, rest []byte, complete bool, err error) {
	if len(buf) < n+2 {
		return nil, buf, false, nil
	}
	if buf[n] != '\r' || buf[n+1] != '\n' {
		err = ErrBadDataChunk
	}
	return buf[:n], buf[n+2:], true, err
}
