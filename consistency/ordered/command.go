package ordered

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/memcons/memcons/consistency"
)

// errBadCommand reports a log entry or forwarded frame that does not decode.
var errBadCommand = errors.New("malformed log command")

// commandFormat is the first byte of every encoded command.
const commandFormat = 1

// cmdKind says what a log entry asks the FSM to do.
type cmdKind uint8

const (
	// cmdRequest applies a client write.
	cmdRequest cmdKind = iota + 1
	// cmdTick only advances the log's clock, so a due delayed flush_all runs.
	cmdTick
)

// command is one log entry: a client write with its expiry already
// absolute, the proposer's clock, and who is waiting for its result.
type command struct {
	Kind   cmdKind
	Origin uint64 // incarnation of the proposing mode; 0 if nobody waits
	Seq    uint64 // the proposer's request number within Origin
	Now    int64  // proposer's unix seconds: every replica decides expiry with it
	Req    consistency.Request
}

// encode appends the binary form of c to b.
func (c *command) encode(b []byte) []byte {
	b = append(b, commandFormat, byte(c.Kind))
	b = binary.AppendUvarint(b, c.Origin)
	b = binary.AppendUvarint(b, c.Seq)
	b = binary.AppendVarint(b, c.Now)
	if c.Kind != cmdRequest {
		return b
	}
	r := &c.Req
	b = append(b, byte(r.Op))
	b = binary.AppendUvarint(b, uint64(r.Flags))
	b = binary.AppendVarint(b, r.Exptime)
	b = binary.AppendUvarint(b, r.Cas)
	b = binary.AppendUvarint(b, r.Delta)
	b = binary.AppendUvarint(b, uint64(len(r.Keys)))
	for _, k := range r.Keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Value)))
	b = append(b, r.Value...)
	if r.Op.IsMeta() {
		b = encodeMeta(b, &r.Meta)
	}
	return b
}

// The bits of a meta command's options, a uvarint: the first seven fit
// in one byte, so entries written before the later bits existed decode
// unchanged.
const (
	metaCompareCas uint64 = 1 << iota
	metaInvalidate
	metaTTL
	metaVivify
	metaRecache
	metaKeyBinary
	metaNoWin
	metaRemoveValue // md x
	metaNewCas      // E: its unique follows the options' other fields
	metaKnown       = metaCompareCas | metaInvalidate | metaTTL | metaVivify | metaRecache | metaKeyBinary | metaNoWin |
		metaRemoveValue | metaNewCas
)

// encodeMeta appends a meta command's options (only meta ops carry them,
// so entries of the other ops keep their encoding).
func encodeMeta(b []byte, a *consistency.MetaArgs) []byte {
	var bits uint64
	for _, f := range []struct {
		set bool
		bit uint64
	}{{a.CompareCas, metaCompareCas}, {a.Invalidate, metaInvalidate}, {a.TTL, metaTTL}, {a.Vivify, metaVivify}, {a.Recache, metaRecache},
		{a.KeyBinary, metaKeyBinary}, {a.NoWin, metaNoWin}, {a.RemoveValue, metaRemoveValue}, {a.HasNewCas, metaNewCas}} {
		if f.set {
			bits |= f.bit
		}
	}
	b = binary.AppendUvarint(b, bits)
	b = append(b, a.Mode)
	b = binary.AppendUvarint(b, uint64(len(a.Order)))
	b = append(b, a.Order...)
	b = binary.AppendVarint(b, a.VivifyExptime)
	b = binary.AppendVarint(b, a.RecacheExptime)
	b = binary.AppendUvarint(b, a.Initial)
	if a.HasNewCas {
		b = binary.AppendUvarint(b, a.NewCas)
	}
	return b
}

func (d *decoder) meta() consistency.MetaArgs {
	var a consistency.MetaArgs
	bits := d.uvarint()
	if bits&^metaKnown != 0 {
		d.fail()
	}
	a.CompareCas, a.Invalidate = bits&metaCompareCas != 0, bits&metaInvalidate != 0
	a.TTL, a.Vivify, a.Recache = bits&metaTTL != 0, bits&metaVivify != 0, bits&metaRecache != 0
	a.KeyBinary, a.NoWin = bits&metaKeyBinary != 0, bits&metaNoWin != 0
	a.RemoveValue, a.HasNewCas = bits&metaRemoveValue != 0, bits&metaNewCas != 0
	a.Mode = d.byte()
	a.Order = string(d.bytes())
	a.VivifyExptime = d.varint()
	a.RecacheExptime = d.varint()
	a.Initial = d.uvarint()
	if a.HasNewCas {
		a.NewCas = d.uvarint()
	}
	return a
}

// decodeCommand parses an encoded command; the request's Value aliases b.
func decodeCommand(b []byte) (command, error) {
	d := decoder{b: b}
	var c command
	if f := d.byte(); f != commandFormat {
		return c, fmt.Errorf("%w: format %d", errBadCommand, f)
	}
	c.Kind = cmdKind(d.byte())
	c.Origin = d.uvarint()
	c.Seq = d.uvarint()
	c.Now = d.varint()
	switch c.Kind {
	case cmdTick:
	case cmdRequest:
		r := &c.Req
		r.Op = consistency.Op(d.byte())
		flags := d.uvarint()
		if flags > 1<<32-1 {
			d.fail()
		}
		r.Flags = uint32(flags)
		r.Exptime = d.varint()
		r.Cas = d.uvarint()
		r.Delta = d.uvarint()
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			d.fail()
			n = 0
		}
		r.Keys = make([]string, 0, n)
		for range n {
			r.Keys = append(r.Keys, string(d.bytes()))
		}
		r.Value = d.bytes()
		if r.Op.IsMeta() {
			r.Meta = d.meta()
		}
	default:
		d.fail()
	}
	if d.bad || len(d.b) != 0 {
		return command{}, fmt.Errorf("%w (%d bytes)", errBadCommand, len(b))
	}
	return c, nil
}

// encodeProposal encodes commands to be appended as consecutive log
// entries, in order: their count, then each encoded command with its
// length. It is the payload of a forwarded propose.
func encodeProposal(cmds []*command) []byte {
	b := binary.AppendUvarint(nil, uint64(len(cmds)))
	var one []byte
	for _, c := range cmds {
		one = c.encode(one[:0])
		b = binary.AppendUvarint(b, uint64(len(one)))
		b = append(b, one...)
	}
	return b
}

// decodeProposal splits a proposal into the entries' data, in order, each
// a command that decodes (so no undecodable entry reaches the log). The
// data alias b.
func decodeProposal(b []byte) ([][]byte, error) {
	d := decoder{b: b}
	n := d.uvarint()
	if n == 0 || n > uint64(len(d.b)) {
		return nil, fmt.Errorf("%w: proposal of %d commands in %d bytes", errBadCommand, n, len(b))
	}
	entries := make([][]byte, 0, n)
	for range n {
		e := d.bytes()
		if d.bad {
			break
		}
		if _, err := decodeCommand(e); err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	if d.bad || len(d.b) != 0 {
		return nil, fmt.Errorf("%w: proposal (%d bytes)", errBadCommand, len(b))
	}
	return entries, nil
}

// decoder reads varints and byte strings, remembering the first failure.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) fail() { d.bad, d.b = true, nil }

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
