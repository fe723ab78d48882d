package consistency

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestKeyLocks_LockAllWithSingleLocks(t *testing.T) {
	locks := NewKeyLocks()
	keys := make([]string, 300) // more keys than stripes: some share one
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	counts := make(map[string]int)
	var mu sync.Mutex // guards counts; the key locks alone order the updates
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				if (g+i)%2 == 0 {
					unlock := locks.LockAll(keys[i%50 : i%50+100])
					mu.Lock()
					counts["all"]++
					mu.Unlock()
					unlock()
					continue
				}
				unlock := locks.Lock(keys[i])
				mu.Lock()
				counts["one"]++
				mu.Unlock()
				unlock()
			}
		})
	}
	wg.Wait() // a deadlock would hang here
	assert.Equal(t, 800, counts["all"]+counts["one"])

	// A key whose stripe LockAll holds cannot be locked until it unlocks.
	unlock := locks.LockAll([]string{"a", "b"})
	got := make(chan struct{})
	go func() {
		defer close(got)
		locks.Lock("a")()
	}()
	select {
	case <-got:
		t.Fatal("Lock(a) succeeded while LockAll held it")
	default:
	}
	unlock()
	<-got
}
