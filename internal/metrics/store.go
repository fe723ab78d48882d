package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/memcons/memcons/kvcontroller"
)

// timedStore is a kvcontroller.Store that observes the latency of every
// call to the store it wraps, failed calls included.
type timedStore struct {
	kvcontroller.Store
	get, getMulti, set, del, flush, dump, stats, ping prometheus.Observer
}

// Store returns st with the latency of each of its calls observed in
// memcons_replica_call_duration_seconds.
func (m *Metrics) Store(st kvcontroller.Store) kvcontroller.Store {
	o := func(op string) prometheus.Observer { return m.replica.WithLabelValues(op) }
	return &timedStore{
		Store: st,
		get:   o("get"), getMulti: o("get_multi"), set: o("set"), del: o("delete"),
		flush: o("flush_all"), dump: o("dump"), stats: o("stats"), ping: o("ping"),
	}
}

func since(o prometheus.Observer, start time.Time) { o.Observe(time.Since(start).Seconds()) }

func (s *timedStore) Get(ctx context.Context, key string) (kvcontroller.Item, error) {
	defer since(s.get, time.Now())
	return s.Store.Get(ctx, key)
}

func (s *timedStore) GetMulti(ctx context.Context, keys []string) (map[string]kvcontroller.Item, error) {
	defer since(s.getMulti, time.Now())
	return s.Store.GetMulti(ctx, keys)
}

func (s *timedStore) Set(ctx context.Context, item kvcontroller.Item) error {
	defer since(s.set, time.Now())
	return s.Store.Set(ctx, item)
}

func (s *timedStore) Delete(ctx context.Context, key string) error {
	defer since(s.del, time.Now())
	return s.Store.Delete(ctx, key)
}

func (s *timedStore) FlushAll(ctx context.Context) error {
	defer since(s.flush, time.Now())
	return s.Store.FlushAll(ctx)
}

func (s *timedStore) Dump(ctx context.Context, fn func(kvcontroller.Item) error) error {
	defer since(s.dump, time.Now())
	return s.Store.Dump(ctx, fn)
}

func (s *timedStore) Stats(ctx context.Context) (kvcontroller.Stats, error) {
	defer since(s.stats, time.Now())
	return s.Store.Stats(ctx)
}

func (s *timedStore) Ping(ctx context.Context) error {
	defer since(s.ping, time.Now())
	return s.Store.Ping(ctx)
}
