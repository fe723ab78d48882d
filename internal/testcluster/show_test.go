package testcluster

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/cli"
	"github.com/memcons/memcons/consistency"
)

// TestShow_FrozenLeaderReadsStale freezes the leader (its links drop every
// byte, as a paused process looks) and checks that `show` at a majority
// peer, once the majority has elected another, marks the old leader's role
// stale rather than listing two leaders, and explains BEHIND.
func TestShow_FrozenLeaderReadsStale(t *testing.T) {
	c := Start(t, Options{Mode: consistency.Linearizable})
	require.NoError(t, c.WaitAllUp(slack))
	old := waitLeader(t, c)
	a, b := (old+1)%3, (old+2)%3
	// The majority must have heard the leader say so before it freezes.
	seenLeading := func(observer int) bool {
		for _, m := range c.Server(observer).Members() {
			if m.Name == c.Name(old) {
				return m.Last.Role == "leader"
			}
		}
		return false
	}
	require.Eventually(t, func() bool { return seenLeading(a) && seenLeading(b) }, slack, 10*time.Millisecond,
		"%s and %s hear %s lead", c.Name(a), c.Name(b), c.Name(old))
	c.Net.Drop(c.Name(old), c.Name(a), true)
	c.Net.Drop(c.Name(old), c.Name(b), true)

	rowOf := func(out, name string) string {
		for line := range strings.SplitSeq(out, "\n") {
			if strings.HasPrefix(line, name+" ") {
				return line // the first table: members
			}
		}
		return ""
	}
	var out string
	deadline := time.Now().Add(failoverLimit)
	for time.Now().Before(deadline) {
		var buf bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), slack)
		err := cli.Show(ctx, c.ClientAddr(a), slack, &buf)
		cancel()
		require.NoError(t, err)
		out = buf.String()
		oldRow := rowOf(out, c.Name(old))
		newLed := strings.Contains(rowOf(out, c.Name(a)), " leader ") || strings.Contains(rowOf(out, c.Name(b)), " leader ")
		if strings.Contains(oldRow, " down ") && newLed {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("show at %s:\n%s", c.Name(a), out)
	oldRow := rowOf(out, c.Name(old))
	require.Contains(t, oldRow, " down ", "the frozen leader is down in the majority's view")
	assert.Contains(t, oldRow, "leader (stale)", "its last known role is marked stale")
	leaders := 0
	for _, i := range []int{a, b} {
		if row := rowOf(out, c.Name(i)); strings.Contains(row, " leader ") {
			leaders++
			assert.NotContains(t, row, "(stale)")
		}
	}
	assert.Equal(t, 1, leaders, "one current leader among the majority")
	assert.Contains(t, out, "BEHIND: ", "the mode table explains BEHIND")
}
