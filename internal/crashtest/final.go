package crashtest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/memcons/memcons/internal/history"
	"github.com/memcons/memcons/internal/memcachedtest"
)

// finalClient is the client id of the final reads at peer i: finalClient+i.
const finalClient = 1000

// Barrier writes a key through every peer, retrying until each
// acknowledges it. In the ordered modes an acknowledged write has been
// applied by the peer that took it, so afterwards each peer has applied
// every write acknowledged before the barrier.
func Barrier(t testing.TB, c *Cluster, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for i := range c.Size() {
		p := c.Peer(i)
		for {
			conn, err := memcachedtest.Dial(p.ClientAddr, opTimeout)
			if err == nil {
				var reply string
				reply, err = conn.Store("set", "barrier-"+p.Name, time.Now().Format(time.RFC3339Nano))
				_ = conn.Close()
				if err == nil && reply == history.Stored {
					break
				}
				if err == nil {
					err = fmt.Errorf("reply %q", reply)
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("barrier write at %s: %v", p.Name, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// FinalState reads keys at every peer until all peers answer the same
// (value and unique) for every key, within limit, and returns that state.
// Every read is added to rec (client finalClient+i, a new session per
// attempt); agreed are the records of the attempt that agreed.
func FinalState(t testing.TB, c *Cluster, rec *history.Recorder, keys []string, limit time.Duration) (state map[string]memcachedtest.Item, agreed []history.Record) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last string
	for attempt := 1; ; attempt++ {
		views := make([]map[string]memcachedtest.Item, c.Size())
		var recs []history.Record
		complete := true
		for i := range c.Size() {
			views[i], recs = readAll(c.Peer(i), i, attempt, rec, keys, recs)
			if views[i] == nil {
				complete = false
			}
		}
		for _, r := range recs {
			rec.Add(r)
		}
		if complete {
			diff := differences(c, views, keys)
			if diff == "" {
				return views[0], recs
			}
			last = diff
		} else {
			last = "not every peer answered"
		}
		if time.Now().After(deadline) {
			t.Fatalf("the peers did not agree within %v: %s", limit, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readAll gets each key at p with one connection, recording each read;
// the view is nil if any read failed.
func readAll(p *Peer, i, session int, rec *history.Recorder, keys []string, recs []history.Record) (map[string]memcachedtest.Item, []history.Record) {
	conn, err := memcachedtest.Dial(p.ClientAddr, opTimeout)
	if err != nil {
		return nil, recs
	}
	defer conn.Close()
	view := map[string]memcachedtest.Item{}
	for _, k := range keys {
		call := rec.Now()
		it, err := conn.Gets(k)
		if err != nil {
			return nil, recs
		}
		out := history.Output{Found: it.Found}
		if it.Found {
			out.Value, out.Unique = parseValue(it.Value), it.Cas
		}
		recs = append(recs, history.Record{
			Client: finalClient + i, Session: session, Peer: p.Name,
			Input: history.Input{Op: history.Get, Key: k}, Output: out, Call: call, Return: rec.Now(),
		})
		view[k] = it
	}
	return view, recs
}

// differences describes where the peers' views disagree, or "".
func differences(c *Cluster, views []map[string]memcachedtest.Item, keys []string) string {
	var diffs []string
	for _, k := range keys {
		for i := 1; i < len(views); i++ {
			if views[i][k] != views[0][k] {
				diffs = append(diffs, fmt.Sprintf("%s: %s has %+v, %s has %+v", k, c.Peer(0).Name, views[0][k], c.Peer(i).Name, views[i][k]))
			}
		}
	}
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("and %d more", len(diffs)-5))
	}
	return strings.Join(diffs, "; ")
}

// CheckAckWrites reads every ack- key at every peer: an acknowledged one
// must be there with its value, one with an unknown outcome must be there
// with its value or nowhere, the same at every peer. Peers that are still
// catching up get until limit.
func CheckAckWrites(t testing.TB, c *Cluster, writes []AckWrite, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		problems := ackProblems(c, writes)
		if len(problems) == 0 {
			acked := 0
			for _, w := range writes {
				if w.Acknowledged {
					acked++
				}
			}
			t.Logf("%d acknowledged writes of fresh keys (of %d sent) readable at all %d peers", acked, len(writes), c.Size())
			if acked == 0 {
				t.Errorf("no write of a fresh key was acknowledged")
			}
			return
		}
		if time.Now().After(deadline) {
			if len(problems) > 20 {
				problems = append(problems[:20], fmt.Sprintf("and %d more", len(problems)-20))
			}
			t.Errorf("writes lost or diverged after %v:\n\t%s", limit, strings.Join(problems, "\n\t"))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func ackProblems(c *Cluster, writes []AckWrite) []string {
	views := make([]map[string]memcachedtest.Item, c.Size())
	for i := range c.Size() {
		v, err := readKeys(c.Peer(i).ClientAddr, writes)
		if err != nil {
			return []string{fmt.Sprintf("%s: %v", c.Peer(i).Name, err)}
		}
		views[i] = v
	}
	var problems []string
	for _, w := range writes {
		for i, v := range views {
			it, ok := v[w.Key]
			switch {
			case ok && it.Value != w.Value:
				problems = append(problems, fmt.Sprintf("%s at %s: value %q, want %q", w.Key, c.Peer(i).Name, it.Value, w.Value))
			case !ok && w.Acknowledged:
				problems = append(problems, fmt.Sprintf("%s (acknowledged by %s) missing at %s", w.Key, w.Peer, c.Peer(i).Name))
			case ok != (views[0][w.Key].Found):
				problems = append(problems, fmt.Sprintf("%s (outcome unknown) at %s but not at %s", w.Key, c.Peer(0).Name, c.Peer(i).Name))
			}
		}
	}
	return problems
}

// readKeys reads the ack- keys at addr in batches.
func readKeys(addr string, writes []AckWrite) (map[string]memcachedtest.Item, error) {
	conn, err := memcachedtest.Dial(addr, opTimeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	out := map[string]memcachedtest.Item{}
	const batch = 100
	for i := 0; i < len(writes); i += batch {
		var keys []string
		for _, w := range writes[i:min(i+batch, len(writes))] {
			keys = append(keys, w.Key)
		}
		got, err := conn.GetsMulti(keys)
		if err != nil {
			return nil, err
		}
		for k, it := range got {
			out[k] = it
		}
	}
	return out, nil
}

// SaveHistory writes the records and notes, in time order, to path for a
// failure report.
func SaveHistory(path string, recs []history.Record, notes []history.Note) error {
	type line struct {
		at   int64
		text string
	}
	var lines []line
	for _, r := range recs {
		lines = append(lines, line{r.Call, r.String()})
	}
	for _, n := range notes {
		lines = append(lines, line{n.At, fmt.Sprintf("---- %.3fs %s", float64(n.At)/1e9, n.Text)})
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].at < lines[j].at })
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
