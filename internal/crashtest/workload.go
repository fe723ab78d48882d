package crashtest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memcons/memcons/internal/history"
	"github.com/memcons/memcons/internal/memcachedtest"
)

// opTimeout bounds one client command; it is above the peers'
// request_timeout, so a running peer always answers first.
const opTimeout = 10 * time.Second

// Mix is how often a client sends each command, in percent; the rest of
// 100 are gets. Every fourth command is a write of a fresh ack- key
// instead, whose acknowledgement the test checks at the end.
type Mix struct {
	Set, Add, Cas, Incr, Delete int
}

// OrderedMix exercises every command of the model, read-modify-writes
// included: ordered modes apply them in log order on every replica.
var OrderedMix = Mix{Set: 20, Add: 10, Cas: 15, Incr: 12, Delete: 8}

// EventualMix has no read-modify-writes, which eventual mode does not
// order.
var EventualMix = Mix{Set: 45, Delete: 12}

// Workload is a set of clients, each bound to one peer, sending random
// commands on a few shared keys and recording them.
type Workload struct {
	Rec  *history.Recorder
	Keys []string // the shared keys

	clients []*client
	acked   atomic.Int64 // acknowledged writes so far
	stop    chan struct{}
	wg      sync.WaitGroup
}

// NewWorkload makes perPeer clients for each peer of c, seeded from seed.
func NewWorkload(c *Cluster, perPeer int, keys []string, mix Mix, seed uint64) *Workload {
	w := &Workload{Rec: history.NewRecorder(), Keys: keys, stop: make(chan struct{})}
	for i := range perPeer * c.Size() {
		p := c.Peer(i % c.Size())
		w.clients = append(w.clients, &client{
			id: i, peer: p.Name, addr: p.ClientAddr, w: w, mix: mix,
			rng:    rand.New(rand.NewPCG(seed, uint64(i))),
			seen:   map[string]uint64{},
			values: map[string]uint64{},
			acked:  map[string]ackWrite{},
		})
	}
	return w
}

// Start runs the clients until Stop.
func (w *Workload) Start() {
	for _, cl := range w.clients {
		w.wg.Go(cl.run)
	}
}

// Stop stops the clients and waits for them.
func (w *Workload) Stop() {
	close(w.stop)
	w.wg.Wait()
}

// Acked returns how many writes have been acknowledged so far.
func (w *Workload) Acked() int64 { return w.acked.Load() }

// WaitAcked waits until n more writes than at the call are acknowledged,
// within limit; it returns false on timeout.
func (w *Workload) WaitAcked(n int64, limit time.Duration) bool {
	target := w.Acked() + n
	deadline := time.Now().Add(limit)
	for w.Acked() < target {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// AckWrites returns the writes of ack- keys, once Stop has returned: each
// key is written once, by one set.
func (w *Workload) AckWrites() []AckWrite {
	var out []AckWrite
	for _, cl := range w.clients {
		for k, a := range cl.acked {
			out = append(out, AckWrite{Key: k, Value: a.value, Acknowledged: a.acknowledged, Peer: cl.peer})
		}
	}
	return out
}

// AckWrite is one write of an ack- key.
type AckWrite struct {
	Key          string
	Value        string
	Acknowledged bool // STORED; otherwise the outcome is unknown
	Peer         string
}

type ackWrite struct {
	value        string
	acknowledged bool
}

// client sends one command at a time on one connection to its peer; a
// new connection is a new session.
type client struct {
	id      int
	peer    string
	addr    string
	w       *Workload
	mix     Mix
	rng     *rand.Rand
	conn    *memcachedtest.Client
	session int
	counter uint64
	seen    map[string]uint64   // key -> unique from this session's last gets, for cas
	values  map[string]uint64   // key -> value read with that unique
	acked   map[string]ackWrite // ack- keys written; read by others only after Stop
	// readsOnly is set after a write with an unknown outcome: the client
	// reads until a read succeeds, so it does not pile up unknown writes
	// (each one the checker must try everywhere) while the peer cannot
	// serve.
	readsOnly bool
}

func (cl *client) run() {
	defer cl.drop()
	for n := 0; ; n++ {
		select {
		case <-cl.w.stop:
			return
		default:
		}
		if cl.conn == nil && !cl.dial() {
			continue
		}
		if n%4 == 3 && !cl.readsOnly {
			cl.ackWrite()
		} else {
			cl.step()
		}
	}
}

// dial connects to the peer, backing off briefly while it is down (a
// dial to a dead peer on loopback is refused at once).
func (cl *client) dial() bool {
	conn, err := memcachedtest.Dial(cl.addr, opTimeout)
	if err != nil {
		select {
		case <-cl.w.stop:
		case <-time.After(50 * time.Millisecond):
		}
		return false
	}
	cl.conn = conn
	cl.session++
	return true
}

// drop closes the connection after an error: a late reply must not be
// read as the answer to the next command.
func (cl *client) drop() {
	if cl.conn != nil {
		_ = cl.conn.Close()
		cl.conn = nil
	}
}

// fresh returns a value no other command writes.
func (cl *client) fresh() uint64 {
	cl.counter++
	return uint64(cl.id+1)*1_000_000_000_000 + cl.counter*1_000_000
}

func (cl *client) record(in history.Input, out history.Output, call int64, err error) {
	r := history.Record{
		Client: cl.id, Session: cl.session, Peer: cl.peer,
		Input: in, Output: out, Call: call, Return: cl.w.Rec.Now(),
	}
	if err != nil {
		r.Error = err.Error()
	}
	cl.w.Rec.Add(r)
}

// step sends one random command on a shared key and records it.
func (cl *client) step() {
	key := cl.w.Keys[cl.rng.IntN(len(cl.w.Keys))]
	in := history.Input{Key: key}
	var out history.Output
	var err error
	var reply string
	m := cl.mix
	r := cl.rng.IntN(100)
	if cl.readsOnly {
		r = 100
	}
	call := cl.w.Rec.Now()
	switch {
	case r < m.Set:
		in.Op, in.Value = history.Set, cl.fresh()
		reply, err = cl.conn.Store("set", key, strconv.FormatUint(in.Value, 10))
	case r < m.Set+m.Add:
		in.Op, in.Value = history.Add, cl.fresh()
		reply, err = cl.conn.Store("add", key, strconv.FormatUint(in.Value, 10))
	case r < m.Set+m.Add+m.Cas:
		unique, ok := cl.seen[key]
		if !ok {
			return
		}
		in.Op, in.Value, in.Observed = history.Cas, cl.fresh(), cl.values[key]
		reply, err = cl.conn.Cas(key, strconv.FormatUint(in.Value, 10), unique)
	case r < m.Set+m.Add+m.Cas+m.Incr:
		in.Op, in.Delta = history.Incr, uint64(1+cl.rng.IntN(5))
		reply, err = cl.conn.Simple(fmt.Sprintf("incr %s %d", key, in.Delta))
		if err == nil && reply != history.NotFound {
			out.Value, err = strconv.ParseUint(strings.TrimSpace(reply), 10, 64)
			reply = history.Number
		}
	case r < m.Set+m.Add+m.Cas+m.Incr+m.Delete:
		in.Op = history.Delete
		reply, err = cl.conn.Simple("delete " + key)
	default:
		in.Op = history.Get
		var it memcachedtest.Item
		it, err = cl.conn.Gets(key)
		if err == nil {
			out.Found = it.Found
			if it.Found {
				out.Unique, out.Value = it.Cas, parseValue(it.Value)
				cl.seen[key], cl.values[key] = it.Cas, out.Value
			}
		}
	}
	if err != nil {
		if !errors.Is(err, memcachedtest.ErrReply) {
			cl.drop()
		}
		if in.Op == history.Get {
			// A failed read changed nothing.
			select {
			case <-cl.w.stop:
			case <-time.After(20 * time.Millisecond):
			}
			return
		}
		out = history.Output{Unknown: true}
		cl.readsOnly = true
	} else {
		out.Reply = reply
		if in.Op == history.Get {
			cl.readsOnly = false
		} else if reply != history.NotStored && reply != history.Exists && reply != history.NotFound {
			cl.w.acked.Add(1)
		}
	}
	cl.record(in, out, call, err)
}

// ackWrite sets a fresh ack- key and remembers whether it was
// acknowledged.
func (cl *client) ackWrite() {
	cl.counter++
	key := fmt.Sprintf("ack-%d-%d", cl.id, cl.counter)
	value := strconv.FormatUint(cl.counter, 10)
	in := history.Input{Op: history.Set, Key: key, Value: cl.counter}
	call := cl.w.Rec.Now()
	reply, err := cl.conn.Store("set", key, value)
	out := history.Output{Reply: reply}
	if err != nil {
		if !errors.Is(err, memcachedtest.ErrReply) {
			cl.drop()
		}
		out = history.Output{Unknown: true}
		cl.readsOnly = true
	} else if reply == history.Stored {
		cl.w.acked.Add(1)
	}
	cl.acked[key] = ackWrite{value: value, acknowledged: err == nil && reply == history.Stored}
	cl.record(in, out, call, err)
}

// garbage is the value recorded for a read that is not a number: no
// command writes it, so the checks report the read.
const garbage = math.MaxUint64

// parseValue reads a value the workload wrote (a decimal number).
func parseValue(s string) uint64 {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return garbage
	}
	return v
}
