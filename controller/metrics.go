package controller

import (
	"time"

	"github.com/memcons/memcons/internal/instrument"
)

// Instruments supplies where the server records its latencies; the counts
// are read from Counts at scrape time instead, so that the hot path adds
// nothing to what `stats` already counts.
type Instruments interface {
	// CommandLatency returns the observer of the named command's latency
	// in seconds (from parsed to answered), or nil to leave it unmeasured.
	CommandLatency(command string) instrument.Observer
}

// Counts is a snapshot of the counters `stats` reports, for metrics.
// `stats reset` zeroes the cumulative ones, as in memcached.
type Counts struct {
	CurrConns, TotalConns, RejectedConns uint64
	InFlight, Queued, Completed, Errors  uint64
	// Cmd holds memcached's cmd_* families: get, set, flush, touch.
	CmdGet, CmdSet, CmdFlush, CmdTouch uint64
	// Hits and Misses per command family: get, delete, incr, decr, cas, touch.
	Hits, Misses            map[string]uint64
	CasBadval               uint64
	TooLarge, NoMemory      uint64
	BytesRead, BytesWritten uint64
}

// Counts returns a snapshot of the server's counters.
func (s *Server) Counts() Counts {
	c := s.totals()
	return Counts{
		CurrConns: c.currConns.Load(), TotalConns: c.totalConns.Load(), RejectedConns: c.rejectedConns.Load(),
		InFlight: c.inFlight.Load(), Queued: c.queued.Load(), Completed: c.completed.Load(), Errors: c.errors.Load(),
		CmdGet: c.cmd[cmdGet].Load(), CmdSet: c.cmd[cmdSet].Load(), CmdFlush: c.cmd[cmdFlush].Load(), CmdTouch: c.cmd[cmdTouch].Load(),
		Hits: map[string]uint64{
			"get": c.getHits.Load(), "delete": c.deleteHits.Load(), "incr": c.incrHits.Load(),
			"decr": c.decrHits.Load(), "cas": c.casHits.Load(), "touch": c.touchHits.Load(),
		},
		Misses: map[string]uint64{
			"get": c.getMisses.Load(), "delete": c.deleteMisses.Load(), "incr": c.incrMisses.Load(),
			"decr": c.decrMisses.Load(), "cas": c.casMisses.Load(), "touch": c.touchMisses.Load(),
		},
		CasBadval: c.casBadval.Load(),
		TooLarge:  c.storeTooLarge.Load(), NoMemory: c.storeNoMemory.Load(),
		BytesRead: c.bytesRead.Load(), BytesWritten: c.bytesWritten.Load(),
	}
}

// CommandNames returns every command word the server answers, in table
// order: the label values of per-command series.
func CommandNames() []string {
	names := make([]string, len(commands))
	for i := range commands {
		names[i] = commands[i].name
	}
	return names
}

// latencyMap is each command's observer, resolved once when Instruments
// are set: the hot path does one map lookup, and none without Instruments.
type latencyMap map[*command]instrument.Observer

// SetInstruments starts recording latencies on in, or stops with nil; it
// is safe while connections are served, each command sees the old or the
// new set.
func (s *Server) SetInstruments(in Instruments) {
	if in == nil {
		s.latency.Store(nil)
		return
	}
	m := make(latencyMap, len(commands))
	for i := range commands {
		if o := in.CommandLatency(commands[i].name); o != nil {
			m[&commands[i]] = o
		}
	}
	s.latency.Store(&m)
}

// observer returns where to record spec's latency, nil if nowhere.
func (s *Server) observer(spec *command) instrument.Observer {
	m := s.latency.Load()
	if m == nil {
		return nil
	}
	return (*m)[spec]
}

// handle runs the command's handler, timed when its latency is measured.
// Commands of one batch run back to back, so the end of one is the start
// of the next: one clock reading per command (two for the first), each a
// monotonic offset from the server's start.
func (c *conn) handle(p *pending) error {
	o := c.srv.observer(p.spec)
	if o == nil {
		c.mark = 0
		return p.spec.handle(c, p)
	}
	start := c.mark
	if start == 0 {
		start = time.Since(c.srv.started)
	}
	err := p.spec.handle(c, p)
	c.mark = time.Since(c.srv.started)
	o.Observe((c.mark - start).Seconds())
	return err
}
