package testcluster

import (
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chosenCasSteps exercise E (the client chooses the new CAS unique) and md
// x as memcached 1.6's newest doc/protocol.txt and proto_parser.c define
// them. memcached 1.6.18, the reference of the other meta tests, refuses
// both flags, so the replies are written out: {k} is a key prefix, a * in
// want matches one token's worth of non-space bytes.
var chosenCasSteps = []struct{ send, want string }{
	{"ms {k}a 2 E1000 c s\r\nhi\r\n", "HD c1000 s2\r\n"},
	{"mg {k}a c v\r\ngets {k}a\r\n", "VA 2 c1000\r\nhi\r\nVALUE {k}a 0 2 1000\r\nhi\r\nEND\r\n"},
	// cas compares the chosen unique and, without E, clears it.
	{"cas {k}a 0 0 2 1000\r\nyo\r\nms {k}a 1 C1000\r\nz\r\n", "STORED\r\nEX\r\n"},
	{"ms {k}a 1 E2000 MA s c\r\nz\r\n", "HD s3 c2000\r\n"},
	// ms s is the stored item's size, the sent block's when nothing was stored.
	{"ms {k}a 4 ME s c\r\nzzzz\r\n", "NS s4 c0\r\n"},
	{"ma {k}b N0 J5 E3000 c v\r\nma {k}b C3000 E3001 c v\r\nma {k}b C3000\r\n", "VA 1 c3000\r\n5\r\nVA 1 c3001\r\n6\r\nEX\r\n"},
	// md x empties the item and keeps its unique; F and T give the new flags and ttl.
	{"md {k}a C2000 x F5 k\r\nmg {k}a c v f s\r\n", "HD k{k}a\r\nVA 0 c2000 f5 s0\r\n\r\n"},
	{"md {k}a I E4000 C2000\r\nmg {k}a c v\r\ntouch {k}a 100\r\nmg {k}a c\r\n", "HD\r\nVA 0 c4000 X W\r\n\r\nTOUCHED\r\nHD c4000 Z X\r\n"},
	// mg uses E only for the item N creates; a touch keeps the unique.
	{"mg {k}c N30 E5000 c\r\nmg {k}c T60 E6000 c\r\nme {k}c\r\n", "HD c5000 W\r\nHD c5000 Z\r\nME {k}c exp=* la=* cas=5000 fetch=* cls=* size=*\r\n"},
	{"md {k}c E0 I\r\nmg {k}c c\r\nmd {k}c C0\r\nmg {k}c v\r\n", "HD\r\nHD c0 X W\r\nHD\r\nEN\r\n"},
	{"md {k}d x\r\nms {k}d 1 T100 F9\r\nv\r\nmd {k}d x I T30 q\r\nmg {k}d v f t\r\n", "NF\r\nHD\r\nVA 0 f0 t* X W\r\n\r\n"},
}

// TestMeta_ChosenCas runs chosenCasSteps through one peer in each mode
// and store, then expects every peer to converge on the same items with
// the chosen uniques.
func TestMeta_ChosenCas(t *testing.T) {
	onEveryCluster(t, false, func(t *testing.T, c *Cluster, cc clusterCase) {
		prefix := "e" + string(cc.Mode)[:3]
		conn, err := net.DialTimeout("tcp", c.ClientAddr(0), 5*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		peer := &metaTarget{conn: conn}
		for _, st := range chosenCasSteps {
			send := strings.ReplaceAll(st.send, "{k}", prefix)
			want := strings.ReplaceAll(st.want, "{k}", prefix)
			pattern := strings.ReplaceAll(regexp.QuoteMeta(want), `\*`, `\S*`)
			got := peer.exchange(t, send, prefix+"end")
			assert.Regexp(t, "^"+pattern+"$", got, "step %q", send)
		}
		// Every peer holds the same items, chosen uniques included.
		for i := range 3 {
			for key, want := range map[string]string{"a": "VA 0 c4000 Z X", "b": "VA 1 c3001", "c": "EN"} {
				var last string
				require.Eventually(t, func() bool {
					last = metaCall(t, c.ClientAddr(i), "mg "+prefix+key+" c v\r\n")
					return last == want
				}, slack, 10*time.Millisecond, "peer %d, key %s: last %q", i, key, last)
			}
		}
		// A later write without E, on another peer, replaces the
		// chosen unique everywhere with one unique of its own.
		assert.Equal(t, "HD c7", metaCall(t, c.ClientAddr(1), "ms "+prefix+"w 1 E7 c\r\na\r\n"))
		require.Eventually(t, func() bool {
			return metaCall(t, c.ClientAddr(2), "mg "+prefix+"w c\r\n") == "HD c7"
		}, slack, 10*time.Millisecond)
		set := metaCall(t, c.ClientAddr(2), "ms "+prefix+"w 1 c\r\nb\r\n")
		require.Regexp(t, `^HD c\d+$`, set)
		require.NotEqual(t, "HD c7", set)
		for i := range 3 {
			var last string
			require.Eventually(t, func() bool {
				last = metaCall(t, c.ClientAddr(i), "mg "+prefix+"w c\r\n")
				return last == set
			}, slack, 10*time.Millisecond, "peer %d: last %q, want %q", i, last, set)
		}
	})
}
