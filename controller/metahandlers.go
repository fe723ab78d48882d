package controller

import (
	"encoding/base64"
	"strconv"
	"time"

	"github.com/memcons/memcons/consistency"
)

// The handlers of the meta commands (mg, ms, md, ma, mn, me). Their reply
// lines follow memcached 1.6.18: a two-letter code, then the return flags
// in the order the request gave its flags. Errors are always answered; q
// leaves out only the nominal reply (EN for mg, HD for the others).

// metaRequest is the request of an mg, ms, md or ma, which the batch step
// runs with its neighbours' (batchRequest); its key is already decoded.
func metaRequest(p *pending) consistency.Request {
	cmd := &p.cmd
	req := consistency.Request{Op: cmd.Op, Keys: cmd.Keys, Exptime: cmd.Exptime, Meta: cmd.Meta.Args}
	switch cmd.Op {
	case consistency.OpMetaSet:
		req.Value, req.Flags, req.Cas = p.value, cmd.Flags, cmd.Cas
	case consistency.OpMetaDelete:
		req.Flags, req.Cas = cmd.Flags, cmd.Cas
	case consistency.OpMetaArithmetic:
		req.Cas, req.Delta = cmd.Cas, cmd.Delta
	}
	return req
}

// metaOutcome returns the outcome of an mg or ma, or answers the failure
// (or the too-long opaque token it ran up to) and reports false.
func (c *conn) metaOutcome(p *pending) (consistency.Result, bool) {
	res, err := c.result(p)
	if err != nil {
		c.fail(err)
		return res, false
	}
	if p.cmd.Meta.OpaqueTooLong {
		c.reply(errMetaOpaque.Reply)
		return res, false
	}
	return res, true
}

func handleMetaGet(c *conn, p *pending) error {
	cmd := &p.cmd
	m := cmd.Meta
	res, ok := c.metaOutcome(p)
	if !ok {
		return nil
	}
	ctr := c.ctr
	touch := m.Args.TTL
	if touch {
		ctr.cmd[cmdTouch].Add(1)
	} else {
		ctr.cmd[cmdGet].Add(1)
	}
	key := cmd.Keys[0]
	if len(res.Items) == 0 {
		if touch {
			ctr.touchMisses.Add(1)
		} else {
			ctr.getMisses.Add(1)
		}
		if !m.Quiet {
			c.rw.meta(c.appendMetaTail(append(c.rw.scratch[:0], "EN"...), m, key))
		}
		return nil
	}
	if touch {
		ctr.touchHits.Add(1)
	} else {
		ctr.getHits.Add(1)
	}
	it := &res.Items[0]
	now := time.Now().Unix()
	fetched, atime := c.srv.access.fetch(key, it.Version, now, !m.NoBump)
	b := c.rw.scratch[:0]
	if m.Value {
		b = strconv.AppendInt(append(b, "VA "...), int64(len(it.Value)), 10)
	} else {
		b = append(b, "HD"...)
	}
	exp := res.Meta.PrevExptime
	for i := 0; i < len(m.Letters); i++ {
		switch f := m.Letters[i]; f {
		case 'T', 'N':
			exp = metaExptime(exp, f, cmd, &res.Meta, now)
		case 's':
			b = strconv.AppendInt(append(b, " s"...), int64(len(it.Value)), 10)
		case 't':
			b = appendTTL(append(b, " t"...), exp, now)
		case 'c':
			b = strconv.AppendUint(append(b, " c"...), it.Unique(), 10)
		case 'f':
			b = strconv.AppendUint(append(b, " f"...), uint64(it.Flags), 10)
		case 'l':
			b = strconv.AppendUint(append(b, " l"...), uint64(uint32(now-atime)), 10)
		case 'h':
			b = append(b, " h0"...)
			if fetched {
				b[len(b)-1] = '1'
			}
		case 'O':
			b = append(append(b, ' '), m.Opaque...)
		case 'k':
			b = appendMetaKey(b, key, it.KeyBinary) // as the item was stored, like memcached
		}
	}
	if res.Meta.WinSent {
		b = append(b, " Z"...)
	}
	if res.Meta.Stale {
		b = append(b, " X"...)
	}
	if res.Meta.Won {
		b = append(b, " W"...)
	}
	c.rw.meta(b)
	if m.Value {
		c.rw.data(it.Value)
	}
	return nil
}

// metaExptime is the expiry the reply's t shows after flag f (T or N) of
// an mg or ma: T sets it, N sets that of an item the command created.
func metaExptime(exp int64, f byte, cmd *Command, out *consistency.MetaOutcome, now int64) int64 {
	switch {
	case f == 'T':
		return consistency.AbsoluteExptime(cmd.Exptime, now)
	case f == 'N' && out.Created:
		return consistency.AbsoluteExptime(cmd.Meta.Args.VivifyExptime, now)
	}
	return exp
}

// appendTTL appends the seconds left until exp, -1 for never, as the
// unsigned 32-bit number memcached prints.
func appendTTL(b []byte, exp, now int64) []byte {
	if exp == 0 {
		return append(b, "-1"...)
	}
	return strconv.AppendUint(b, uint64(uint32(exp-now)), 10)
}

// appendMetaTail appends the O and k return flags, in request order: all
// that a reply without an item shows.
func (c *conn) appendMetaTail(b []byte, m *MetaFlags, key string) []byte {
	for i := 0; i < len(m.Letters); i++ {
		switch m.Letters[i] {
		case 'O':
			b = append(append(b, ' '), m.Opaque...)
		case 'k':
			b = appendMetaKey(b, key, m.Binary)
		}
	}
	return b
}

func handleMetaSet(c *conn, p *pending) error {
	cmd := &p.cmd
	m := cmd.Meta
	ctr := c.ctr
	c.countCmd(p, 1)
	res, ok := c.storeOutcome(p)
	if !ok {
		return nil
	}
	if m.Args.CompareCas && (m.Args.Mode == 0 || m.Args.Mode == 'S' || m.Args.Mode == 'R') {
		switch res.Status {
		case consistency.StatusStored:
			ctr.casHits.Add(1)
		case consistency.StatusExists:
			ctr.casBadval.Add(1)
		case consistency.StatusNotFound:
			ctr.casMisses.Add(1)
		}
	}
	key := cmd.Keys[0]
	var unique uint64
	size := len(p.value) // s: the stored item's size, the sent one's if none was stored
	b := c.rw.scratch[:0]
	switch res.Status {
	case consistency.StatusStored:
		if len(res.Items) == 1 {
			it := &res.Items[0]
			unique, size = it.Unique(), len(it.Value)
			c.srv.access.wrote(key, it.Version, time.Now().Unix())
		}
		if m.Quiet {
			return nil
		}
		b = append(b, "HD"...)
	case consistency.StatusNotStored:
		b = append(b, "NS"...)
	case consistency.StatusExists:
		b = append(b, "EX"...)
	case consistency.StatusNotFound:
		b = append(b, "NF"...)
	default:
		c.status(res)
		return nil
	}
	for i := 0; i < len(m.Letters); i++ {
		switch m.Letters[i] {
		case 'O':
			b = append(append(b, ' '), m.Opaque...)
		case 'k':
			b = appendMetaKey(b, key, m.Binary)
		case 'c':
			b = strconv.AppendUint(append(b, " c"...), unique, 10)
		case 's':
			b = strconv.AppendInt(append(b, " s"...), int64(size), 10)
		}
	}
	c.rw.meta(b)
	return nil
}

func handleMetaDelete(c *conn, p *pending) error {
	cmd := &p.cmd
	m := cmd.Meta
	res, err := c.result(p)
	if err != nil {
		c.fail(err)
		return nil
	}
	ctr := c.ctr
	b := c.rw.scratch[:0]
	switch res.Status {
	case consistency.StatusDeleted:
		if !m.Args.Invalidate {
			ctr.deleteHits.Add(1)
		}
		if len(res.Items) == 1 { // md I: the item is kept, stale
			c.srv.access.rewrote(cmd.Keys[0], res.InPlace, res.Items[0].Version, time.Now().Unix())
		}
		if m.Quiet {
			return nil
		}
		b = append(b, "HD"...)
	case consistency.StatusNotFound:
		ctr.deleteMisses.Add(1)
		b = append(b, "NF"...)
	case consistency.StatusExists:
		ctr.deleteMisses.Add(1)
		b = append(b, "EX"...)
	default:
		c.status(res)
		return nil
	}
	c.rw.meta(c.appendMetaTail(b, m, cmd.Keys[0]))
	return nil
}

func handleMetaArithmetic(c *conn, p *pending) error {
	cmd := &p.cmd
	m := cmd.Meta
	res, ok := c.metaOutcome(p)
	if !ok {
		return nil
	}
	ctr := c.ctr
	incr := m.Args.Mode != 'D'
	key := cmd.Keys[0]
	b := c.rw.scratch[:0]
	switch res.Status {
	case consistency.StatusNumber:
	case consistency.StatusNotFound:
		if incr {
			ctr.incrMisses.Add(1)
		} else {
			ctr.decrMisses.Add(1)
		}
		c.rw.meta(c.appendMetaTail(append(b, "NF"...), m, key))
		return nil
	case consistency.StatusExists:
		c.rw.meta(c.appendMetaTail(append(b, "EX"...), m, key))
		return nil
	default:
		c.status(res)
		return nil
	}
	if !res.Meta.Created {
		if incr {
			ctr.incrHits.Add(1)
		} else {
			ctr.decrHits.Add(1)
		}
	}
	now := time.Now().Unix()
	var it consistency.Item
	if len(res.Items) == 1 {
		it = res.Items[0]
		c.srv.access.rewrote(key, res.InPlace, it.Version, now)
	}
	if m.Quiet && !res.Meta.Created { // memcached answers a created item even with q
		return nil
	}
	number := strconv.AppendUint(nil, res.Number, 10)
	if m.Value {
		b = strconv.AppendInt(append(b, "VA "...), int64(len(number)), 10)
	} else {
		b = append(b, "HD"...)
	}
	exp := res.Meta.PrevExptime
	for i := 0; i < len(m.Letters); i++ {
		switch f := m.Letters[i]; f {
		case 'T', 'N':
			exp = metaExptime(exp, f, cmd, &res.Meta, now)
		case 'c':
			b = strconv.AppendUint(append(b, " c"...), it.Unique(), 10)
		case 't':
			b = appendTTL(append(b, " t"...), exp, now)
		case 'O':
			b = append(append(b, ' '), m.Opaque...)
		case 'k':
			b = appendMetaKey(b, key, m.Binary)
		}
	}
	c.rw.meta(b)
	if m.Value {
		c.rw.data(number)
	}
	return nil
}

func handleMetaNoop(c *conn, _ *pending) error {
	c.rw.line("MN")
	return nil
}

func handleMetaDebug(c *conn, p *pending) error {
	c.countCmd(p, 1)
	res, err := c.result(p) // a get of its key (the command table)
	if err != nil {
		c.fail(err)
		return nil
	}
	if len(res.Items) == 0 {
		c.rw.line("EN")
		return nil
	}
	it := &res.Items[0]
	now := time.Now().Unix()
	fetched, atime := c.srv.access.fetch(it.Key, it.Version, now, false)
	b := append(c.rw.scratch[:0], "ME "...)
	if it.KeyBinary {
		b = base64AppendEncode(b, it.Key)
	} else {
		b = append(b, it.Key...)
	}
	exp := int64(-1)
	if it.Exptime != 0 {
		exp = now - it.Exptime // memcached 1.6.18 prints it with this sign
	}
	b = strconv.AppendInt(append(b, " exp="...), exp, 10)
	b = strconv.AppendInt(append(b, " la="...), now-atime, 10)
	b = strconv.AppendUint(append(b, " cas="...), it.Unique(), 10)
	if fetched {
		b = append(b, " fetch=yes"...)
	} else {
		b = append(b, " fetch=no"...)
	}
	size := itemTotalSize(len(it.Key), it.Flags, len(it.Value))
	b = strconv.AppendInt(append(b, " cls="...), int64(slabClass(size)), 10)
	b = strconv.AppendInt(append(b, " size="...), int64(size), 10)
	c.rw.meta(b)
	return nil
}

// memcached's item layout, for the figures me reports: the item header
// with its CAS, the key and its NUL, the flags when not zero, the value and
// its "\r\n"; and the default slab classes (96-byte smallest chunk, growth
// factor 1.25, 8-byte aligned, half a 1 MiB page the largest).
const (
	itemHeaderSize = 48 + 8
	slabSmallest   = 96
	slabChunkMax   = 512 << 10
)

// itemTotalSize is the size memcached gives an item (ITEM_ntotal).
func itemTotalSize(nkey int, flags uint32, nvalue int) int {
	size := itemHeaderSize + nkey + 1 + nvalue + 2
	if flags != 0 {
		size += 4
	}
	return size
}

// slabClass is the slab class id memcached's default slab sizes give an
// item of size bytes; larger items count in the largest class.
func slabClass(size int) int {
	chunk := slabSmallest
	for id := 1; ; id++ {
		if float64(chunk) >= slabChunkMax/1.25 {
			return id
		}
		if chunk%8 != 0 {
			chunk += 8 - chunk%8
		}
		if size <= chunk {
			return id
		}
		chunk = int(float64(chunk) * 1.25)
	}
}

// base64AppendEncode appends key base64 encoded, as memcached shows a
// binary key.
func base64AppendEncode(b []byte, key string) []byte {
	return base64.StdEncoding.AppendEncode(b, []byte(key))
}
