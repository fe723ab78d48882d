package bench

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/internal/memcachedtest"
)

// statOf reads one general statistic of the memcached at addr.
func statOf(t *testing.T, addr, name string) int64 {
	t.Helper()
	c, err := memcachedtest.Dial(addr, 10*time.Second)
	require.NoError(t, err)
	defer c.Close()
	st, err := c.Stats("")
	require.NoError(t, err)
	v, ok := st[name]
	require.True(t, ok, "no stat %s at %s", name, addr)
	n, err := strconv.ParseInt(v, 10, 64)
	require.NoError(t, err)
	return n
}

// checkAccounting asserts the invariants every report must keep.
func checkAccounting(t *testing.T, rep Report) {
	t.Helper()
	assert.Equal(t, rep.Ops, rep.Hits+rep.Misses+rep.Sets+rep.ReadErrors+rep.WriteErrors, "every op counted once")
	assert.Equal(t, rep.Hits+rep.Misses, rep.Reads.Count, "read latencies")
	assert.Equal(t, rep.Sets, rep.Writes.Count, "write latencies")
	for name, l := range map[string]Latency{"reads": rep.Reads, "writes": rep.Writes} {
		if l.Count == 0 {
			continue
		}
		assert.True(t, 0 < l.Min && l.Min <= l.P50 && l.P50 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max,
			"%s percentiles ordered: %+v", name, l)
	}
}

func TestRun_AgainstMemcached(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		addrs     int
		exactOps  bool
		wantSets  func(rep Report) bool
		wantReads bool
	}{
		{name: "op count", cfg: Config{Conns: 4, Ops: 2000, Keys: 100, SetRatio: 0.1, Seed: 1}, addrs: 1, exactOps: true,
			wantSets: func(r Report) bool { return r.Sets >= 100 && r.Sets <= 300 }, wantReads: true},
		{name: "duration", cfg: Config{Conns: 8, Duration: 300 * time.Millisecond, Keys: 500, ValueSize: 1000, SetRatio: 0.5, Seed: 2}, addrs: 1,
			wantSets: func(r Report) bool { return r.Sets > 0 }, wantReads: true},
		{name: "two addresses", cfg: Config{Conns: 4, Ops: 1000, Keys: 100, SetRatio: 0.1, Seed: 3}, addrs: 2, exactOps: true,
			wantSets: func(r Report) bool { return r.Sets > 0 }, wantReads: true},
		{name: "reads only", cfg: Config{Conns: 2, Ops: 500, Keys: 50, SetRatio: 0}, addrs: 1, exactOps: true,
			wantSets: func(r Report) bool { return r.Sets == 0 }, wantReads: true},
		{name: "writes only", cfg: Config{Conns: 2, Ops: 500, Keys: 50, SetRatio: 1}, addrs: 1, exactOps: true,
			wantSets: func(r Report) bool { return r.Sets == 500 }, wantReads: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			for range tt.addrs {
				cfg.Addrs = append(cfg.Addrs, memcachedtest.Start(t))
			}
			rep, err := Run(context.Background(), cfg)
			require.NoError(t, err)
			assert.Positive(t, rep.Ops)
			assert.Zero(t, rep.Errors(), "first error: %s", rep.FirstError)
			if tt.addrs == 1 {
				// With two independent memcacheds (unlike a memcons cluster)
				// each holds only the keys prefilled through it.
				assert.Zero(t, rep.Misses, "the key space was filled first")
			}
			if tt.exactOps {
				assert.Equal(t, int64(cfg.Ops), rep.Ops)
			}
			assert.True(t, tt.wantSets(rep), "sets %d of %d", rep.Sets, rep.Ops)
			assert.Equal(t, tt.wantReads, rep.Reads.Count > 0)
			assert.Positive(t, rep.OpsPerSecond())
			checkAccounting(t, rep)
			for _, addr := range cfg.Addrs {
				assert.Positive(t, statOf(t, addr, "curr_items"), "items stored at %s", addr)
				if tt.wantReads {
					assert.Positive(t, statOf(t, addr, "get_hits"), "gets served by %s", addr)
				}
			}
		})
	}
}

func TestRun_PrefillFails(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(t *testing.T) Config
	}{
		{name: "value too large", cfg: func(t *testing.T) Config {
			// memcached refuses items above its 1 MiB item size limit with SERVER_ERROR.
			return Config{Addrs: []string{memcachedtest.Start(t)}, Conns: 2, Ops: 10, Keys: 2, ValueSize: 2 << 20}
		}},
		{name: "unreachable", cfg: func(t *testing.T) Config {
			return Config{Addrs: []string{memcachedtest.FreeAddr(t)}, Conns: 2, Ops: 10, Keys: 10, Timeout: 2 * time.Second}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.cfg(t))
			assert.ErrorIs(t, err, ErrPrefill)
		})
	}
}

func TestRun_CancelledContext(t *testing.T) {
	addr := memcachedtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, Config{Addrs: []string{addr}, Conns: 2, Keys: 10})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestRun_CountsErrorReplies(t *testing.T) {
	// A server that stores everything and fails every get: reads must all
	// be errors, on connections that stay usable.
	srv := memcachedtest.StartScripted(t, memcachedtest.Script{Reply: func(line, _ string) string {
		if strings.HasPrefix(line, "set ") {
			return "STORED\r\n"
		}
		return "SERVER_ERROR no quorum\r\n"
	}})
	rep, err := Run(context.Background(), Config{Addrs: []string{srv.Addr()}, Conns: 2, Ops: 400, Keys: 10, SetRatio: 0.5})
	require.NoError(t, err)
	assert.Equal(t, int64(400), rep.Ops)
	assert.Positive(t, rep.ReadErrors)
	assert.Zero(t, rep.Hits+rep.Misses)
	assert.Zero(t, rep.WriteErrors)
	assert.Equal(t, rep.Ops, rep.Sets+rep.ReadErrors)
	assert.Contains(t, rep.FirstError, "SERVER_ERROR no quorum")
	assert.Equal(t, 2, srv.Conns(), "error replies keep the connection")
	checkAccounting(t, rep)
}

func TestConfig_WithDefaults(t *testing.T) {
	addrs := []string{"127.0.0.1:1"}
	tests := []struct {
		name    string
		cfg     Config
		want    Config
		wantErr bool
	}{
		{name: "zero fields", cfg: Config{Addrs: addrs},
			want: Config{Addrs: addrs, Conns: DefaultConns, Duration: DefaultDuration, ValueSize: DefaultValueSize,
				Keys: DefaultKeys, SetRatio: 0, Timeout: DefaultTimeout}},
		{name: "kept", cfg: Config{Addrs: addrs, Conns: 3, Duration: time.Second, Ops: 7, ValueSize: 9, Keys: 11, SetRatio: 1, Seed: 5, Timeout: time.Minute},
			want: Config{Addrs: addrs, Conns: 3, Duration: time.Second, Ops: 7, ValueSize: 9, Keys: 11, SetRatio: 1, Seed: 5, Timeout: time.Minute}},
		{name: "no address", cfg: Config{}, wantErr: true},
		{name: "negative conns", cfg: Config{Addrs: addrs, Conns: -1}, wantErr: true},
		{name: "negative duration", cfg: Config{Addrs: addrs, Duration: -time.Second}, wantErr: true},
		{name: "negative ops", cfg: Config{Addrs: addrs, Ops: -1}, wantErr: true},
		{name: "negative value size", cfg: Config{Addrs: addrs, ValueSize: -1}, wantErr: true},
		{name: "negative keys", cfg: Config{Addrs: addrs, Keys: -1}, wantErr: true},
		{name: "ratio above one", cfg: Config{Addrs: addrs, SetRatio: 1.5}, wantErr: true},
		{name: "ratio negative", cfg: Config{Addrs: addrs, SetRatio: -0.1}, wantErr: true},
		{name: "negative timeout", cfg: Config{Addrs: addrs, Timeout: -1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.withDefaults()
			if tt.wantErr {
				assert.ErrorIs(t, err, ErrConfig)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestReport_Print(t *testing.T) {
	rep := Report{
		Config:  Config{Addrs: []string{"a:1", "b:2"}, Conns: 4, Keys: 100, ValueSize: 100, SetRatio: 0.1},
		Prefill: 12 * time.Millisecond, Elapsed: 2 * time.Second,
		Ops: 1000, Hits: 880, Misses: 10, Sets: 99, WriteErrors: 1, FirstError: "unexpected reply: \"SERVER_ERROR x\"",
		Reads:  Latency{Count: 890, P50: 87 * time.Microsecond, P99: 1240 * time.Microsecond, P999: 3 * time.Millisecond, Max: 2 * time.Second},
		Writes: Latency{Count: 99, P50: 100 * time.Microsecond},
	}
	var buf bytes.Buffer
	rep.Print(&buf)
	out := buf.String()
	for _, want := range []string{
		"a:1, b:2 (4 connections)",
		"100 keys, 100-byte values, 10% sets",
		"1000 ops, 500 ops/s, 1 errors",
		"87µs", "1.24ms", "3.00ms", "2.00s",
		"880 hits, 10 misses",
		"first error: unexpected reply",
	} {
		assert.Contains(t, out, want)
	}
	lines := strings.Split(out, "\n")
	var header, reads, writes string
	for _, l := range lines {
		switch {
		case strings.Contains(l, "p99.9"):
			header = l
		case strings.HasPrefix(strings.TrimSpace(l), "reads ") && strings.Contains(l, "µs"):
			reads = l
		case strings.HasPrefix(strings.TrimSpace(l), "writes"):
			writes = l
		}
	}
	require.NotEmpty(t, header, out)
	width := utf8.RuneCountInString
	assert.Equal(t, width(header), width(reads), "rows align with the header:\n%s", out)
	assert.Equal(t, width(header), width(writes), "rows align with the header:\n%s", out)
}
