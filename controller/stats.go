package controller

import (
	"context"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Stat is one "STAT <Name> <Value>" line.
type Stat struct{ Name, Value string }

// ClusterReporter supplies the lines of `stats cluster`.
type ClusterReporter interface {
	// ClusterStats returns the cluster's status lines, in order.
	ClusterStats() []Stat
}

// StoreStats is the store's part of plain `stats`.
type StoreStats struct {
	CurrItems  uint64 // items held (curr_items)
	TotalItems uint64 // items stored since the store started (total_items)
	Bytes      uint64 // bytes used by items (bytes)
	LimitBytes uint64 // capacity in bytes (limit_maxbytes)
	Evictions  uint64 // live items dropped to make room (evictions)
}

// StatsSource supplies what the store knows: its part of plain `stats`,
// and the lines of `stats items` and `stats slabs`.
type StatsSource interface {
	// StoreStats returns the store's occupancy.
	StoreStats(ctx context.Context) (StoreStats, error)
	// GroupStats returns the lines of `stats <group>` for group "items" or
	// "slabs", in memcached's shape.
	GroupStats(ctx context.Context, group string) ([]Stat, error)
}

// RequestCounters is a snapshot of the server's request pipeline.
type RequestCounters struct {
	InFlight  uint64 // commands inside the mode now (a pipelined batch at once)
	Queued    uint64 // parsed pipelined commands waiting behind them
	Completed uint64 // commands answered (or executed, for noreply)
	Errors    uint64 // replies that were ERROR, CLIENT_ERROR or SERVER_ERROR
}

// cmdStat is one of memcached's cmd_* counters, each counting a family of
// commands (keys, for retrievals). A command's table entry names the one it
// adds to.
type cmdStat uint8

// The cmd_* counters, in the order `stats` reports them.
const (
	noCmdStat cmdStat = iota // the command adds to no cmd_* counter
	cmdGet                   // cmd_get: keys asked by get and gets
	cmdSet                   // cmd_set: storage commands, refused data blocks included
	cmdFlush                 // cmd_flush: flush_all
	cmdTouch                 // cmd_touch: touch, and keys asked by gat and gats
	cmdMeta                  // cmd_meta: me, as memcached 1.6.18 counts it
	numCmdStats
)

// cmdStatNames are the counters' names in `stats`.
var cmdStatNames = [numCmdStats]string{
	cmdGet: "cmd_get", cmdSet: "cmd_set", cmdFlush: "cmd_flush", cmdTouch: "cmd_touch",
	cmdMeta: "cmd_meta",
}

// counters are the server's statistics. The server's own holds the
// connection counts and verbosity; each connection keeps its per-request
// counts in one of its own. All fields are atomics; `stats reset` zeroes the
// resettable ones.
type counters struct {
	// Connection counts.
	currConns, totalConns, rejectedConns atomic.Uint64

	// Pipeline.
	inFlight, queued, completed, errors atomic.Uint64

	// Command counts as memcached names them; cmd is indexed by cmdStat.
	cmd                                        [numCmdStats]atomic.Uint64
	getHits, getMisses                         atomic.Uint64
	deleteHits, deleteMisses                   atomic.Uint64
	incrHits, incrMisses, decrHits, decrMisses atomic.Uint64
	casHits, casMisses, casBadval              atomic.Uint64
	touchHits, touchMisses                     atomic.Uint64
	storeTooLarge, storeNoMemory               atomic.Uint64
	bytesRead, bytesWritten                    atomic.Uint64
	verbosity                                  atomic.Uint32 // level set by the verbosity command
}

// perRequest lists the counts a connection keeps, in a fixed order: the
// work in flight and queued now, then the cumulative counts.
func (c *counters) perRequest() []*atomic.Uint64 {
	return append([]*atomic.Uint64{&c.inFlight, &c.queued}, c.cumulative()...)
}

// cumulative lists the per-request counts that only grow (until `stats
// reset`).
func (c *counters) cumulative() []*atomic.Uint64 {
	list := []*atomic.Uint64{
		&c.completed, &c.errors,
		&c.getHits, &c.getMisses, &c.deleteHits, &c.deleteMisses,
		&c.incrHits, &c.incrMisses, &c.decrHits, &c.decrMisses,
		&c.casHits, &c.casMisses, &c.casBadval, &c.touchHits, &c.touchMisses,
		&c.storeTooLarge, &c.storeNoMemory, &c.bytesRead, &c.bytesWritten,
	}
	for i := range c.cmd {
		list = append(list, &c.cmd[i])
	}
	return list
}

// add adds the per-request counts of o to c.
func (c *counters) add(o *counters) {
	mine := c.perRequest()
	for i, a := range o.perRequest() {
		mine[i].Add(a.Load())
	}
}

// totals returns the server's counters with every open connection's
// per-request counts added.
func (s *Server) totals() *counters {
	t := new(counters)
	for _, a := range []struct{ dst, src *atomic.Uint64 }{
		{&t.currConns, &s.counters.currConns},
		{&t.totalConns, &s.counters.totalConns},
		{&t.rejectedConns, &s.counters.rejectedConns},
	} {
		a.dst.Store(a.src.Load())
	}
	t.verbosity.Store(s.counters.verbosity.Load())
	s.mu.Lock()
	defer s.mu.Unlock()
	t.add(&s.counters)
	for c := range s.conns {
		t.add(c.ctr)
	}
	return t
}

// resetCounters is `stats reset`: it resets the server's counters and every
// open connection's.
func (s *Server) resetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counters.reset()
	for c := range s.conns {
		c.ctr.reset()
	}
}

// storeStats asks the store for its part of `stats`, within statsTimeout.
func (s *Server) storeStats() (StoreStats, error) {
	ctx, cancel := context.WithTimeout(s.ctx, statsTimeout)
	defer cancel()
	return s.opts.Extra.StoreStats(ctx)
}

// groupStats asks the store for the lines of `stats <group>`, within
// statsTimeout.
func (s *Server) groupStats(group string) ([]Stat, error) {
	ctx, cancel := context.WithTimeout(s.ctx, statsTimeout)
	defer cancel()
	return s.opts.Extra.GroupStats(ctx, group)
}

// storeBase holds the store's cumulative counts at the last `stats reset`:
// memcached zeroes total_items and evictions there, and a store cannot be
// told to, so `stats` reports them counted from that point.
type storeBase struct {
	mu               sync.Mutex // guards the fields below
	total, evictions uint64
}

// set takes st's cumulative counts as the new zero.
func (b *storeBase) set(st StoreStats) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total, b.evictions = st.TotalItems, st.Evictions
}

// since returns st with its cumulative counts taken from the last reset. A
// count below its base means the store started over (a replica restarted):
// it counts from zero again, and so does the base.
func (b *storeBase) since(st StoreStats) StoreStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	if st.TotalItems < b.total || st.Evictions < b.evictions {
		b.total, b.evictions = 0, 0
	}
	st.TotalItems -= b.total
	st.Evictions -= b.evictions
	return st
}

// reset zeroes what memcached's `stats reset` zeroes: cumulative counts, not
// current connections or in-flight work.
func (c *counters) reset() {
	for _, a := range append(c.cumulative(), &c.totalConns, &c.rejectedConns) {
		a.Store(0)
	}
}

// generalStats returns plain `stats` in memcached 1.6's order and names.
// st is the store's part; nil (the store did not answer) leaves its lines
// out. memcached's lines about its own structures (libevent, hash table,
// connection buffers) have no counterpart in memcons and are left out;
// counts of events memcons never has (slab moves, crawler runs, listener
// pauses) are 0, which is what they are.
func (s *Server) generalStats(now time.Time, st *StoreStats) []Stat {
	c := s.totals()
	u := func(a *atomic.Uint64) string { return strconv.FormatUint(a.Load(), 10) }
	n := func(v uint64) string { return strconv.FormatUint(v, 10) }
	user, sys := rusage()
	lines := []Stat{
		{"pid", strconv.Itoa(os.Getpid())},
		{"uptime", strconv.FormatInt(int64(now.Sub(s.started)/time.Second), 10)},
		{"time", strconv.FormatInt(now.Unix(), 10)},
		{"version", s.cfg.Version},
		{"pointer_size", strconv.Itoa(strconv.IntSize)},
		{"rusage_user", user},
		{"rusage_system", sys},
		{"max_connections", strconv.Itoa(s.limits().MaxConns)},
		{"curr_connections", u(&c.currConns)},
		{"total_connections", u(&c.totalConns)},
		{"rejected_connections", u(&c.rejectedConns)},
		{"connection_structures", u(&c.currConns)},
	}
	for st := noCmdStat + 1; st < numCmdStats; st++ {
		lines = append(lines, Stat{cmdStatNames[st], u(&c.cmd[st])})
	}
	lines = append(lines, []Stat{
		{"get_hits", u(&c.getHits)},
		{"get_misses", u(&c.getMisses)},
		{"get_expired", "0"},
		{"get_flushed", "0"},
		{"delete_misses", u(&c.deleteMisses)},
		{"delete_hits", u(&c.deleteHits)},
		{"incr_misses", u(&c.incrMisses)},
		{"incr_hits", u(&c.incrHits)},
		{"decr_misses", u(&c.decrMisses)},
		{"decr_hits", u(&c.decrHits)},
		{"cas_misses", u(&c.casMisses)},
		{"cas_hits", u(&c.casHits)},
		{"cas_badval", u(&c.casBadval)},
		{"touch_hits", u(&c.touchHits)},
		{"touch_misses", u(&c.touchMisses)},
		{"store_too_large", u(&c.storeTooLarge)},
		{"store_no_memory", u(&c.storeNoMemory)},
		{"auth_cmds", "0"},
		{"auth_errors", "0"},
		{"bytes_read", u(&c.bytesRead)},
		{"bytes_written", u(&c.bytesWritten)},
	}...)
	if st != nil {
		lines = append(lines, Stat{"limit_maxbytes", n(st.LimitBytes)})
	}
	lines = append(lines, []Stat{
		{"accepting_conns", "1"},
		{"listen_disabled_num", "0"},
		{"time_in_listen_disabled_us", "0"},
		{"threads", strconv.Itoa(runtime.GOMAXPROCS(0))},
		{"conn_yields", "0"},
		{"malloc_fails", "0"},
	}...)
	if st != nil {
		lines = append(lines, []Stat{
			{"bytes", n(st.Bytes)},
			{"curr_items", n(st.CurrItems)},
			{"total_items", n(st.TotalItems)},
			{"expired_unfetched", "0"},
			{"evicted_unfetched", "0"},
			{"evicted_active", "0"},
			{"evictions", n(st.Evictions)},
			{"reclaimed", "0"},
		}...)
	}
	return lines
}

// settingsStats returns `stats settings`: the settings memcons has.
func (s *Server) settingsStats() []Stat {
	port := "0"
	if a := s.Addr(); a != nil {
		if _, p, err := net.SplitHostPort(a.String()); err == nil {
			port = p
		}
	}
	return []Stat{
		{"maxconns", strconv.Itoa(s.limits().MaxConns)},
		{"tcpport", port},
		{"verbosity", strconv.FormatUint(uint64(s.counters.verbosity.Load()), 10)},
		{"cas_enabled", "yes"},
		{"binding_protocol", "ascii"},
		{"item_size_max", strconv.Itoa(s.cfg.ItemSizeMax)},
		{"flush_enabled", "yes"},
		{"idle_timeout", strconv.FormatInt(int64(s.limits().IdleTimeout/time.Second), 10)},
		{"max_line_length", strconv.Itoa(s.limits().MaxLineLength)},
		{"num_threads", strconv.Itoa(runtime.GOMAXPROCS(0))},
	}
}

// rusage returns the process's user and system CPU seconds as memcached
// prints them.
func rusage() (user, sys string) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return "0.000000", "0.000000"
	}
	f := func(tv syscall.Timeval) string {
		return strconv.FormatFloat(float64(tv.Sec)+float64(tv.Usec)/1e6, 'f', 6, 64)
	}
	return f(ru.Utime), f(ru.Stime)
}
