package metrics

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/memcons/memcons/kvcontroller"
)

// timedStore is a kvcontroller.Store that observes the latency of every
// call to the store it wraps, failed calls included, while timing is on.
type timedStore struct {
	kvcontroller.Store
	on                                                *atomic.Bool
	get, getMulti, set, del, flush, dump, stats, ping prometheus.Observer
}

// Store returns st with the latency of each of its calls observed in
// memcons_replica_call_duration_seconds while SetTiming is on.
func (m *Metrics) Store(st kvcontroller.Store) kvcontroller.Store {
	o := func(op string) prometheus.Observer { return m.replica.WithLabelValues(op) }
	return &timedStore{
		Store: st, on: &m.timing,
		get: o("get"), getMulti: o("get_multi"), set: o("set"), del: o("delete"),
		flush: o("flush_all"), dump: o("dump"), stats: o("stats"), ping: o("ping"),
	}
}

// start returns the time a call starts, zero when timing is off.
func (s *timedStore) start() time.Time {
	if !s.on.Load() {
		return time.Time{}
	}
	return time.Now()
}

// since observes the call begun at start on o, unless timing was off.
func since(o prometheus.Observer, start time.Time) {
	if !start.IsZero() {
		o.Observe(time.Since(start).Seconds())
	}
}

func (s *timedStore) Get(ctx context.Context, key string) (kvcontroller.Item, error) {
	defer since(s.get, s.start())
	return s.Store.Get(ctx, key)
}

func (s *timedStore) GetMulti(ctx context.Context, keys []string) (map[string]kvcontroller.Item, error) {
	defer since(s.getMulti, s.start())
	return s.Store.GetMulti(ctx, keys)
}

func (s *timedStore) Set(ctx context.Context, item kvcontroller.Item) error {
	defer since(s.set, s.start())
	return s.Store.Set(ctx, item)
}

func (s *timedStore) Delete(ctx context.Context, key string) error {
	defer since(s.del, s.start())
	return s.Store.Delete(ctx, key)
}

func (s *timedStore) FlushAll(ctx context.Context) error {
	defer since(s.flush, s.start())
	return s.Store.FlushAll(ctx)
}

func (s *timedStore) Dump(ctx context.Context, fn func(kvcontroller.Item) error) error {
	defer since(s.dump, s.start())
	return s.Store.Dump(ctx, fn)
}

func (s *timedStore) Stats(ctx context.Context) (kvcontroller.Stats, error) {
	defer since(s.stats, s.start())
	return s.Store.Stats(ctx)
}

func (s *timedStore) Ping(ctx context.Context) error {
	defer since(s.ping, s.start())
	return s.Store.Ping(ctx)
}
