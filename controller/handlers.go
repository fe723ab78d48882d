package controller

import (
	"fmt"
	"time"

	"github.com/memcons/memcons/consistency"
)

// The handlers of the command table (commands.go). Each answers one parsed
// command on its connection and adds to the counters memcached keeps for it.

// statsTimeout bounds how long `stats` waits for the extra stats source.
const statsTimeout = 5 * time.Second

// maxVerbosity is memcached's highest verbosity level.
const maxVerbosity = 2

func handleRetrieval(c *conn, p *pending) error {
	cmd := &p.cmd
	if len(cmd.Keys) == 0 { // "gat <exptime>" names no key
		c.rw.line("END")
		return nil
	}
	res, err := c.result(p)
	if err != nil {
		c.fail(err)
		return nil
	}
	withCas := cmd.Op == consistency.OpGets || cmd.Op == consistency.OpGats
	now := time.Now().Unix()
	for i := range res.Items {
		it := &res.Items[i]
		c.srv.access.fetch(it.Key, it.Version, now, true)
		c.rw.value(it, withCas)
	}
	c.rw.line("END")

	ctr := c.ctr
	keys, hits := uint64(len(cmd.Keys)), uint64(len(res.Items))
	c.countCmd(p, keys)
	if p.spec.stat == cmdTouch { // gat and gats count as touches, as in memcached
		ctr.touchHits.Add(hits)
		ctr.touchMisses.Add(keys - min(hits, keys))
	} else {
		ctr.getHits.Add(hits)
		ctr.getMisses.Add(keys - min(hits, keys))
	}
	return nil
}

// storeOutcome returns the outcome of a storage command (classic or ms),
// or answers its failure, counting a refusal for memory, and reports false.
func (c *conn) storeOutcome(p *pending) (consistency.Result, bool) {
	res, err := c.result(p)
	if err != nil {
		if line, _ := errorReply(err); line == replyOutOfMemory {
			c.ctr.storeNoMemory.Add(1)
		}
		c.fail(err)
		return res, false
	}
	return res, true
}

func handleStorage(c *conn, p *pending) error {
	cmd := &p.cmd
	ctr := c.ctr
	c.countCmd(p, 1)
	res, ok := c.storeOutcome(p)
	if !ok {
		return nil
	}
	if cmd.Op == consistency.OpCas {
		switch res.Status {
		case consistency.StatusStored:
			ctr.casHits.Add(1)
		case consistency.StatusExists:
			ctr.casBadval.Add(1)
		case consistency.StatusNotFound:
			ctr.casMisses.Add(1)
		}
	}
	c.status(res)
	return nil
}

func handleArithmetic(c *conn, p *pending) error {
	cmd := &p.cmd
	res, err := c.result(p)
	if err != nil {
		c.fail(err)
		return nil
	}
	ctr := c.ctr
	hit := res.Status == consistency.StatusNumber
	switch {
	case cmd.Op == consistency.OpIncr && hit:
		ctr.incrHits.Add(1)
	case cmd.Op == consistency.OpIncr:
		ctr.incrMisses.Add(1)
	case hit:
		ctr.decrHits.Add(1)
	default:
		ctr.decrMisses.Add(1)
	}
	if hit && len(res.Items) == 1 {
		c.srv.access.rewrote(res.Items[0].Key, res.InPlace, res.Items[0].Version, time.Now().Unix())
	}
	c.status(res)
	return nil
}

func handleDelete(c *conn, p *pending) error {
	res, err := c.result(p)
	if err != nil {
		c.fail(err)
		return nil
	}
	if res.Status == consistency.StatusDeleted {
		c.ctr.deleteHits.Add(1)
	} else {
		c.ctr.deleteMisses.Add(1)
	}
	c.status(res)
	return nil
}

func handleTouch(c *conn, p *pending) error {
	res, err := c.result(p)
	if err != nil {
		c.fail(err)
		return nil
	}
	ctr := c.ctr
	c.countCmd(p, 1)
	if res.Status == consistency.StatusTouched {
		if len(res.Items) == 1 { // memcached's touch counts as a fetch (mg's h)
			c.srv.access.fetch(res.Items[0].Key, res.Items[0].Version, time.Now().Unix(), true)
		}
		ctr.touchHits.Add(1)
	} else {
		ctr.touchMisses.Add(1)
	}
	c.status(res)
	return nil
}

func handleFlushAll(c *conn, p *pending) error {
	c.countCmd(p, 1)
	res, err := c.result(p)
	if err != nil {
		c.fail(err)
		return nil
	}
	c.status(res)
	return nil
}

func handleVersion(c *conn, _ *pending) error {
	c.rw.line("VERSION " + c.srv.cfg.Version)
	return nil
}

func handleVerbosity(c *conn, p *pending) error {
	c.srv.counters.verbosity.Store(min(p.cmd.Level, maxVerbosity))
	c.reply("OK")
	return nil
}

func handleQuit(*conn, *pending) error { return errQuit }

func handleStats(c *conn, p *pending) error {
	s := c.srv
	switch p.cmd.Arg {
	case "":
		var st *StoreStats
		if s.opts.Extra != nil {
			if got, err := s.storeStats(); err == nil {
				got = s.base.since(got)
				st = &got
			} else {
				s.log.Warn("stats: store did not answer", "err", err)
			}
		}
		c.stats(s.generalStats(time.Now(), st))
	case "items", "slabs":
		if s.opts.Extra != nil {
			lines, err := s.groupStats(p.cmd.Arg)
			if err != nil {
				c.fail(err)
				return nil
			}
			c.stats(lines)
		}
	case "settings":
		c.stats(s.settingsStats())
	case "cluster":
		if s.opts.Cluster != nil {
			c.stats(s.opts.Cluster.ClusterStats())
		}
	case "reset":
		if s.opts.Extra != nil {
			if got, err := s.storeStats(); err == nil {
				s.base.set(got)
			} else {
				s.log.Warn("stats reset: store did not answer; total_items and evictions keep counting", "err", err)
			}
		}
		s.resetCounters()
		c.reply("RESET")
		return nil
	default:
		c.reply("ERROR")
		return nil
	}
	c.rw.line("END")
	return nil
}

// countCmd adds n to the cmd_* counter that p's table entry names.
func (c *conn) countCmd(p *pending, n uint64) {
	c.ctr.cmd[p.spec.stat].Add(n)
}

// stats writes STAT lines, making each name and value a single token.
func (c *conn) stats(lines []Stat) {
	for _, st := range lines {
		c.rw.stat(oneLine(st.Name), oneLine(st.Value))
	}
}

// status writes the reply line of a non-retrieval result.
func (c *conn) status(res consistency.Result) {
	if res.Status == consistency.StatusNumber {
		if !c.noreply {
			c.rw.number(res.Number)
		}
		return
	}
	line, ok := statusLine(res.Status)
	if !ok {
		c.fail(fmt.Errorf("unexpected result status %d", res.Status))
		return
	}
	c.reply(line)
}
