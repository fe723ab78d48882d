package testcluster

import (
	"fmt"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/server"
)

// BenchmarkEventual_ConvergeAfterPartition measures how long the replicas
// of an eventual-mode cluster (default sync interval) take to become
// identical after peer3 was cut off from both others for 10 seconds while
// clients wrote at all three peers: links closed ("cut") or silently
// dropping every byte ("drop"). Each iteration takes over 10 seconds:
// run it with -benchtime 1x.
//
//	go test -run '^$' -bench ConvergeAfterPartition -benchtime 1x ./internal/testcluster
func BenchmarkEventual_ConvergeAfterPartition(b *testing.B) {
	const partition = 10 * time.Second
	store := server.StoreMemory
	if _, err := exec.LookPath("memcached"); err == nil {
		store = server.StoreMemcached
	}
	keys := make([]string, 2000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key%d", i)
	}
	for _, kind := range []string{"cut", "drop"} {
		b.Run(kind, func(b *testing.B) { benchPartition(b, store, keys, partition, kind == "drop") })
	}
}

func benchPartition(b *testing.B, store server.StoreKind, keys []string, partition time.Duration, drop bool) {
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		c := Start(b, Options{Mode: consistency.Eventual, Store: store})
		if err := c.WaitAllUp(slack); err != nil {
			b.Fatal(err)
		}
		h := newWriteLog()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 3 {
			for j := range 2 {
				wg.Go(func() { runClient(c, i, uint64(n*10+j), keys, h, stop) })
			}
		}
		if drop {
			c.Net.Drop("peer1", "peer3", true)
			c.Net.Drop("peer2", "peer3", true)
		} else {
			c.Net.Cut("peer1", "peer3")
			c.Net.Cut("peer2", "peer3")
		}
		time.Sleep(partition) // the load phase of a benchmark, not a wait on a condition
		close(stop)
		wg.Wait()
		b.StartTimer()
		healed := time.Now()
		c.Net.Heal("peer1", "peer3")
		c.Net.Heal("peer2", "peer3")
		for replicaDiff(c) != "" {
			if time.Since(healed) > time.Minute {
				b.Fatalf("no convergence within a minute: %s", replicaDiff(c))
			}
			time.Sleep(10 * time.Millisecond)
		}
		b.StopTimer()
		b.ReportMetric(float64(time.Since(healed).Milliseconds()), "converge-ms")
		h.mu.Lock()
		b.ReportMetric(float64(h.acked), "acked-writes")
		h.mu.Unlock()
		c.stopAll()
	}
}
