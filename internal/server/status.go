package server

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memcons/memcons/controller"
	"github.com/memcons/memcons/kvcontroller"
)

// healthProbe pings the replica on a ticker so heartbeats and `show` can
// report backend health without a round trip of their own.
type healthProbe struct {
	store    kvcontroller.Store
	interval time.Duration
	timeout  time.Duration
	last     atomic.Pointer[string]

	stopOnce sync.Once
	done     chan struct{}
	wg       sync.WaitGroup
}

func newHealthProbe(store kvcontroller.Store, interval, timeout time.Duration) *healthProbe {
	h := &healthProbe{store: store, interval: interval, timeout: timeout, done: make(chan struct{})}
	ok := "ok"
	h.last.Store(&ok)
	return h
}

func (h *healthProbe) start() {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(h.interval)
		defer t.Stop()
		for {
			h.probe()
			select {
			case <-h.done:
				return
			case <-t.C:
			}
		}
	}()
}

func (h *healthProbe) probe() {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	s := "ok"
	if err := h.store.Ping(ctx); err != nil {
		s = "down: " + err.Error()
	}
	h.last.Store(&s)
}

func (h *healthProbe) status() string { return *h.last.Load() }

func (h *healthProbe) stop() {
	h.stopOnce.Do(func() { close(h.done) })
	h.wg.Wait()
}

// clusterStats answers `stats cluster` from the membership table, in the
// format cli/doc.go documents.
type clusterStats struct{ s *Server }

func (c clusterStats) ClusterStats() []controller.Stat {
	s := c.s
	stats := []controller.Stat{
		{Name: "cluster_name", Value: s.cfg.ClusterName},
		{Name: "cluster_mode", Value: string(s.cfg.Mode)},
		{Name: "self", Value: s.cfg.Self},
	}
	now := time.Now()
	for _, m := range s.members.Members() {
		state, heard := "down", int64(-1)
		switch {
		case m.Self:
			state, heard = "self", 0
		case m.Up:
			state = "up"
		}
		if !m.Self && !m.LastHeard.IsZero() {
			heard = now.Sub(m.LastHeard).Milliseconds()
		}
		hb := m.Last
		p := "peer:" + m.Name + ":"
		stats = append(stats,
			controller.Stat{Name: p + "client_addr", Value: m.ClientAddr},
			controller.Stat{Name: p + "peer_addr", Value: m.PeerAddr},
			controller.Stat{Name: p + "replica_addr", Value: m.ReplicaAddr},
			controller.Stat{Name: p + "state", Value: state},
			controller.Stat{Name: p + "last_heard_ms", Value: strconv.FormatInt(heard, 10)},
			controller.Stat{Name: p + "role", Value: orDash(hb.Role)},
			controller.Stat{Name: p + "mode", Value: orDash(hb.Mode)},
			controller.Stat{Name: p + "progress", Value: orDash(hb.Progress)},
			controller.Stat{Name: p + "backend", Value: orDash(hb.Backend)},
			controller.Stat{Name: p + "in_flight", Value: strconv.FormatUint(hb.Requests.InFlight, 10)},
			controller.Stat{Name: p + "queued", Value: strconv.FormatUint(hb.Requests.Queued, 10)},
			controller.Stat{Name: p + "completed", Value: strconv.FormatUint(hb.Requests.Completed, 10)},
			controller.Stat{Name: p + "errors", Value: strconv.FormatUint(hb.Requests.Errors, 10)},
		)
		if m.ClientTLSAddr != "" {
			stats = append(stats, controller.Stat{Name: p + "client_tls_addr", Value: m.ClientTLSAddr})
		}
		for _, d := range hb.Details {
			stats = append(stats, controller.Stat{Name: p + d.Key, Value: orDash(d.Value)})
		}
	}
	return stats
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// storeStats answers the store's part of `stats`, `stats items` and
// `stats slabs`.
type storeStats struct{ store kvcontroller.Store }

func (s storeStats) StoreStats(ctx context.Context) (controller.StoreStats, error) {
	st, err := s.store.Stats(ctx)
	if err != nil {
		return controller.StoreStats{}, err
	}
	return controller.StoreStats{
		CurrItems: st.Items, TotalItems: st.TotalItems, Bytes: st.Bytes,
		LimitBytes: st.LimitBytes, Evictions: st.Evictions,
	}, nil
}

func (s storeStats) GroupStats(ctx context.Context, group string) ([]controller.Stat, error) {
	lines, err := s.store.GroupStats(ctx, kvcontroller.StatGroup(group))
	if err != nil {
		return nil, err
	}
	out := make([]controller.Stat, len(lines))
	for i, l := range lines {
		out[i] = controller.Stat(l)
	}
	return out, nil
}
