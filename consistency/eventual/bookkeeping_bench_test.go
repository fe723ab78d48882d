package eventual

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkBookkeeping measures the per-write bookkeeping of Mode.Do and
// storedLocked (a version from the clock, the recent-log entry, and the
// tombstone set's forget or add) with the log and the tombstone set already
// holding held entries: the cost per write must not grow with them.
func BenchmarkBookkeeping(b *testing.B) {
	for _, held := range []int{1 << 10, 1 << 17} {
		for _, op := range []string{"set", "delete"} {
			b.Run(op+"/held="+strconv.Itoa(held), func(b *testing.B) {
				log, tombs := newRecentLog(held), newTombSet(held)
				clock := &versionClock{now: time.Now}
				keys := make([]string, held)
				for i := range keys {
					keys[i] = "key:" + strconv.Itoa(i)
					v := clock.next()
					tombs.add(tomb{key: keys[i], version: v, seq: log.add(keys[i])})
				}
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					k := keys[i%held]
					v := clock.next()
					seq := log.add(k)
					if op == "set" {
						tombs.forget(k)
					} else {
						tombs.add(tomb{key: k, version: v, seq: seq})
					}
				}
			})
		}
	}
}
