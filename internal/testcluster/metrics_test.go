package testcluster

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/memcachedtest"
	"github.com/memcons/memcons/internal/server"
)

// scrape is one /metrics answer, parsed.
type scrape struct {
	raw      []byte
	families map[string]*dto.MetricFamily
}

func scrapeMetrics(t *testing.T, addr string) scrape {
	t.Helper()
	client := http.Client{Timeout: clientTimeout}
	resp, err := client.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(raw))
	require.NoError(t, err, "the text exposition parses")
	return scrape{raw: raw, families: fams}
}

// value returns the counter, gauge or histogram count of the series name
// whose labels include want ("k=v" pairs); -1 if there is none.
func (s scrape) value(name string, want ...string) float64 {
	f, ok := s.families[name]
	if !ok {
		return -1
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for _, kv := range want {
			k, v, _ := strings.Cut(kv, "=")
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

// promtool checks an exposition with `promtool check metrics`.
func promtool(t *testing.T, exposition []byte) {
	t.Helper()
	bin := memcachedtest.Tool(t, "promtool", "Debian: apt-get install prometheus")
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "promtool check metrics:\n%s", out)
	assert.Empty(t, strings.TrimSpace(string(out)), "promtool check metrics finds nothing to say")
}

// startWithMetrics runs a cluster whose every peer serves /metrics on a
// free loopback port; configure, when set, has the last word on each
// peer's config.
func startWithMetrics(t *testing.T, mode consistency.Kind, store server.StoreKind, configure ...func(*server.Config)) *Cluster {
	t.Helper()
	c := Start(t, Options{Mode: mode, Store: store, Configure: func(cfg *server.Config) {
		peers := append([]server.PeerAddrs(nil), cfg.Peers...)
		for i := range peers {
			peers[i].MetricsAddr = "127.0.0.1:0"
		}
		cfg.Peers = peers
		for _, f := range configure {
			f(cfg)
		}
	}})
	require.NoError(t, c.WaitAllUp(slack), "all peers up")
	for i := range 3 {
		require.NotEmpty(t, c.Server(i).MetricsAddr(), "peer %d serves metrics", i)
	}
	return c
}

// workload writes and reads through peer i: n sets, n hits, n misses and
// one delete each of a hit and a miss.
func workload(t *testing.T, c *Cluster, i, n int) {
	t.Helper()
	mc := newMemcache(t, c.ClientAddr(i))
	for k := range n {
		key := fmt.Sprintf("metrics-%d-%d", i, k)
		require.NoError(t, mc.Set(&memcache.Item{Key: key, Value: []byte("value")}))
		_, err := mc.Get(key)
		require.NoError(t, err)
		_, err = mc.Get(key + "-absent")
		require.ErrorIs(t, err, memcache.ErrCacheMiss)
	}
	require.NoError(t, mc.Delete(fmt.Sprintf("metrics-%d-0", i)))
	require.ErrorIs(t, mc.Delete("never-set"), memcache.ErrCacheMiss)
}

// TestMetrics_CountersMoveUnderWorkload scrapes every peer before and
// after a workload, in each mode family and on both stores, and checks
// that the series of each part moved, and that promtool finds the
// exposition clean.
func TestMetrics_CountersMoveUnderWorkload(t *testing.T) {
	const n = 20
	for _, mode := range []consistency.Kind{consistency.Eventual, consistency.Linearizable} {
		for _, store := range []server.StoreKind{server.StoreMemory, server.StoreMemcached} {
			t.Run(string(mode)+"/"+string(store), func(t *testing.T) {
				c := startWithMetrics(t, mode, store)
				const writer = 1
				before := scrapeMetrics(t, c.Server(writer).MetricsAddr())
				workload(t, c, writer, n)
				after := scrapeMetrics(t, c.Server(writer).MetricsAddr())

				moved := []struct {
					name    string
					labels  []string
					atLeast float64
				}{
					{"memcons_command_duration_seconds", []string{"command=set"}, n},
					{"memcons_command_duration_seconds", []string{"command=gets"}, 2 * n}, // gomemcache's Get
					{"memcons_command_duration_seconds", []string{"command=delete"}, 2},
					{"memcons_hits_total", []string{"command=get"}, n},
					{"memcons_misses_total", []string{"command=get"}, n},
					{"memcons_hits_total", []string{"command=delete"}, 1},
					{"memcons_misses_total", []string{"command=delete"}, 1},
					{"memcons_cmd_total", []string{"cmd=set"}, n},
					{"memcons_connections_total", nil, 1},
					{"memcons_requests_completed_total", nil, 3*n + 2},
					{"memcons_read_bytes_total", nil, 1},
					{"memcons_written_bytes_total", nil, 1},
					{"memcons_replica_call_duration_seconds", []string{"op=set"}, n},
				}
				for _, m := range moved {
					got := after.value(m.name, m.labels...) - max(before.value(m.name, m.labels...), 0)
					assert.GreaterOrEqual(t, got, m.atLeast, "%s%v moved by at least %v", m.name, m.labels, m.atLeast)
				}
				for _, p := range []string{"peer1", "peer2", "peer3"} {
					assert.Equal(t, 1.0, after.value("memcons_peer_up", "peer="+p), "%s up", p)
				}
				assert.Equal(t, 1.0, after.value("memcons_replica_up"))
				assert.Equal(t, 1.0, after.value("memcons_info", "peer=peer2", "mode="+string(mode), "store="+string(store)))
				assert.Positive(t, after.value("go_goroutines"), "Go runtime collector")
				assert.Positive(t, after.value("process_resident_memory_bytes"), "process collector")

				switch mode {
				case consistency.Eventual:
					// Pushes leave after push_delay and syncs every
					// sync_interval: wait for them.
					addr := c.Server(writer).MetricsAddr()
					require.Eventually(t, func() bool {
						s := scrapeMetrics(t, addr)
						return s.value("memcons_eventual_pushed_writes_total", "peer=peer1") >= n &&
							s.value("memcons_eventual_pushed_writes_total", "peer=peer3") >= n &&
							s.value("memcons_eventual_sync_rounds_total", "peer=peer3") > before.value("memcons_eventual_sync_rounds_total", "peer=peer3")
					}, slack, 20*time.Millisecond, "every write pushed to both peers, and a sync with peer3 completed")
					assert.GreaterOrEqual(t, after.value("memcons_eventual_replication_lag_seconds", "peer=peer3"), 0.0)
					assert.GreaterOrEqual(t, after.value("memcons_eventual_tombstones"), 1.0, "the delete left a tombstone")
					assert.Equal(t, 0.0, after.value("memcons_eventual_push_dropped_total", "peer=peer3"), "no push dropped")
				default:
					leaders, proposals := 0.0, 0.0
					for i := range 3 {
						s := scrapeMetrics(t, c.Server(i).MetricsAddr())
						leaders += s.value("memcons_raft_state", "state=leader")
						proposals += s.value("memcons_raft_proposals_total")
						assert.Positive(t, s.value("memcons_raft_apply_duration_seconds"), "peer %d applied entries", i)
						assert.Positive(t, s.value("memcons_raft_term"), "peer %d knows the term", i)
						assert.Positive(t, s.value("memcons_raft_applied_index"), "peer %d applied index", i)
					}
					assert.Equal(t, 1.0, leaders, "exactly one peer reports itself leader")
					assert.GreaterOrEqual(t, proposals, float64(n+1), "the leader appended every write")
					if after.value("memcons_raft_state", "state=leader") == 0 {
						assert.GreaterOrEqual(t, after.value("memcons_raft_forwarded_total", "kind=propose"), float64(n),
							"a follower forwards its writes")
						assert.Positive(t, after.value("memcons_raft_read_index_rounds_total", "role=follower"), "a follower asks for read indexes")
					}
				}
				t.Run("promtool check metrics", func(t *testing.T) { promtool(t, after.raw) })
				t.Run("docs/METRICS.md lists every series", func(t *testing.T) {
					doc, err := os.ReadFile("../../docs/METRICS.md")
					require.NoError(t, err)
					for name := range after.families {
						if strings.HasPrefix(name, "memcons_") {
							assert.Contains(t, string(doc), "`"+name+"`", "%s is documented", name)
						}
					}
				})
			})
		}
	}
}

// TestMetrics_PprofOnlyWhenOn checks that /debug/pprof/ answers with pprof
// on and is refused with it off, on the same metrics port.
func TestMetrics_PprofOnlyWhenOn(t *testing.T) {
	c := startWithMetrics(t, consistency.Eventual, server.StoreMemory)
	s := c.Server(0)
	client := http.Client{Timeout: clientTimeout}
	for _, tt := range []struct {
		on   bool
		want int
	}{{false, http.StatusNotFound}, {true, http.StatusOK}, {false, http.StatusNotFound}} {
		s.SetPprof(tt.on)
		resp, err := client.Get("http://" + s.MetricsAddr() + "/debug/pprof/goroutine?debug=1")
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, tt.want, resp.StatusCode, "pprof on=%v", tt.on)
	}
}

// TestMetrics_SetMetricsAddrMovesTheEndpoint moves a running peer's
// endpoint, as a reload does, and checks it answers at the new address only.
func TestMetrics_SetMetricsAddrMovesTheEndpoint(t *testing.T) {
	c := startWithMetrics(t, consistency.Eventual, server.StoreMemory)
	s := c.Server(0)
	old := s.MetricsAddr()
	require.NoError(t, s.SetMetricsAddr("localhost:0"), "another address (the configured one is 127.0.0.1:0)")
	moved := s.MetricsAddr()
	require.NotEqual(t, old, moved)
	scrapeMetrics(t, moved)
	client := http.Client{Timeout: clientTimeout}
	_, err := client.Get("http://" + old + "/metrics")
	assert.Error(t, err, "the old address no longer answers")

	assert.Error(t, s.SetMetricsAddr("127.0.0.1"), "an address without a port is refused")
	assert.Equal(t, moved, s.MetricsAddr(), "and the endpoint stays where it was")
	scrapeMetrics(t, moved)

	require.NoError(t, s.SetMetricsAddr(""), "empty turns the endpoint off")
	assert.Empty(t, s.MetricsAddr())
	_, err = client.Get("http://" + moved + "/metrics")
	assert.Error(t, err, "nothing answers once off")
}

// TestMetrics_RaftSnapshotsCounted lowers the snapshot threshold, writes
// past it and waits until every peer reports a snapshot taken, its
// duration observed and its index.
func TestMetrics_RaftSnapshotsCounted(t *testing.T) {
	c := startWithMetrics(t, consistency.Linearizable, server.StoreMemory, func(cfg *server.Config) {
		cfg.Ordered.SnapshotThreshold = 16
		cfg.Ordered.SnapshotInterval = 50 * time.Millisecond
	})
	mc := newMemcache(t, c.ClientAddr(0))
	for k := range 64 {
		require.NoError(t, mc.Set(&memcache.Item{Key: fmt.Sprintf("snap-%d", k), Value: []byte("v")}))
	}
	for i := range 3 {
		addr := c.Server(i).MetricsAddr()
		require.Eventually(t, func() bool {
			s := scrapeMetrics(t, addr)
			return s.value("memcons_raft_snapshot_duration_seconds") >= 1 && s.value("memcons_raft_last_snapshot_index") >= 16
		}, slack, 20*time.Millisecond, "peer %d took a snapshot and reports it", i)
	}
}

// TestMetrics_EventualFullTransferCounted restarts a peer on the memory
// store (its replica is then empty) after more writes than the recent-write
// log keeps, and waits until it reports the full transfer from the writer.
func TestMetrics_EventualFullTransferCounted(t *testing.T) {
	c := startWithMetrics(t, consistency.Eventual, server.StoreMemory, func(cfg *server.Config) {
		cfg.Eventual.RecentLogSize = 8
	})
	c.Kill(2)
	mc := newMemcache(t, c.ClientAddr(0))
	for k := range 32 {
		require.NoError(t, mc.Set(&memcache.Item{Key: fmt.Sprintf("full-%d", k), Value: []byte("v")}))
	}
	c.Restart(2)
	addr := c.Server(2).MetricsAddr()
	require.Eventually(t, func() bool {
		return scrapeMetrics(t, addr).value("memcons_eventual_full_transfers_total", "peer=peer1") >= 1
	}, slack, 20*time.Millisecond, "peer3 counts the full transfer from peer1")
}
