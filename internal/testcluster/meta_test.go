package testcluster

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
	"github.com/memcons/memcons/internal/memcachedtest"
)

// metaScript is a named list of steps, each one or more pipelined
// command lines (data blocks included) sent at once. In a step, {k} is a
// key prefix unique to the script and the peer, {b} a binary key in
// base64, {a} the base64 of the key {k}abc, and {cas} the last CAS value
// the same server returned.
type metaScript struct {
	name  string
	steps []string
}

// metaScripts are protocol.txt's meta examples and the flags and error
// lines of every meta command, as memcached 1.6.18 answers them.
var metaScripts = []metaScript{
	{"protocol example", []string{"ms {k} 2 T0 F5\r\nhi\r\nmg {k} v f t c\r\n"}},
	{"mg miss", []string{"mg {k} v\r\nmg {k} k O123 v\r\nmg {k} q v\r\nmg {k} s v q k\r\nmg {k}\r\n"}},
	{"mg hit flags", []string{"ms {k} 3 T100 F7\r\nabc\r\nmg {k} s v f t k O1\r\nmg {k} q\r\nmg {k} c\r\nmg {k} h l\r\nmg {k} h l u\r\nmg {k}\r\n"}},
	{"mg touch", []string{"ms {k} 1\r\na\r\nmg {k} t T30 t v\r\nmg {k} t\r\nmg {k} T0 t\r\n"}},
	{"ms modes", []string{
		"ms {k} 1 ME\r\na\r\nms {k} 1 ME\r\nb\r\nms {k} 1 MA\r\nc\r\nms {k} 1 MP\r\nd\r\nmg {k} v\r\n",
		"ms {k}x 1 MR\r\ne\r\nms {k}x 1 MA\r\ne\r\nms {k}x 1 MP\r\ne\r\nms {k} 1 MR k O9\r\nf\r\nmg {k} v s f\r\nms {k} 2 MS F3 T0\r\ngh\r\nmg {k} v f\r\n",
		"ms {k} 1 MA N30\r\nz\r\nmg {k} v\r\nms {k}y 1 MA N30\r\nz\r\nmg {k}y v\r\n",
	}},
	{"ms cas", []string{
		"ms {k} 1 c\r\na\r\n",
		"ms {k} 1 C{cas} c\r\nb\r\nmg {k} v c\r\n",
		"ms {k} 1 C{cas}9\r\nc\r\nms {k} 1 C0\r\nd\r\nms {k}x 1 C5\r\ne\r\nms {k} 1 MA C99999999999\r\nf\r\nms {k} 1 MA C0\r\ng\r\nms {k} 1 ME C5\r\nh\r\nmg {k} v\r\n",
		"ms {k} 1 MA C{cas}\r\ni\r\nmg {k} v\r\n",
	}},
	{"ms append past the size limit", []string{"ms {k} 300 q\r\n" + strings.Repeat("x", 300) + "\r\nms {k} 1048400 MA\r\n" + strings.Repeat("y", 1048400) + "\r\nmg {k} s\r\n"}},
	{"ms quiet", []string{"ms {k} 1 q\r\na\r\nms {k} 1 q ME\r\nb\r\nms {k} 1 q MR O5 k\r\nc\r\nmg {k} v q\r\n"}},
	{"md", []string{
		"md {k}\r\nmd {k} q\r\nms {k} 1\r\na\r\nmd {k} q\r\nmd {k} q\r\nmd {k} k O1\r\nms {k} 1\r\na\r\nmd {k} C0\r\nmd {k} C99999999999 O2\r\nmg {k} v c\r\n",
		"md {k} C{cas} k\r\nmg {k} v\r\n",
	}},
	{"stale and win", []string{
		"ms {k} 3 T100\r\nabc\r\nmd {k} I T30\r\nmg {k} v c t\r\nmg {k} v c t\r\nmg {k} c\r\n",
		"ms {k} 3 C1 I\r\nxyz\r\nmg {k} c v t\r\nms {k} 1 c\r\nq\r\nmg {k} c v\r\n",
		"md {k} I\r\nmd {k} I q\r\nmg {k} v\r\nmg {k} v\r\nmd {k}x I\r\n",
	}},
	{"recache", []string{"ms {k} 1 T100\r\na\r\nmg {k} R30 v\r\nmg {k} R200 v\r\nmg {k} R200 v\r\nmg {k} T300 R200 t\r\nms {k}x 1 T0\r\nb\r\nmg {k}x R200 v\r\n"}},
	{"vivify", []string{"mg {k} N30 v t\r\nmg {k} N30 v t\r\nmg {k} s\r\nms {k} 1\r\nx\r\nmg {k} v\r\nmg {k}x N30 q\r\nmg {k}x q\r\n"}},
	{"ma", []string{
		"ma {k}\r\nma {k} q\r\nma {k} N0 J10 v\r\nma {k} v\r\nma {k} MD D5 v t\r\nma {k} M- D100 v\r\nma {k} q\r\nma {k} q v\r\nma {k} v k O5\r\nma {k} M+ D18446744073709551615 v\r\nmg {k} v\r\n",
		"ma {k}x N0 J7 q\r\nma {k}x N0 J7 q v\r\nma {k}y N60 T30 t\r\nma {k}z T30 N60 t\r\nms {k}w 1 T100\r\n5\r\nma {k}w T30 t v\r\nma {k}w t T0 t\r\n",
		"ms {k}s 1\r\nx\r\nma {k}s\r\nms {k}e 0\r\n\r\nma {k}e\r\nma {k}e C99999999999\r\nms {k}c 1\r\n1\r\nma {k}c C99999999999 O3 k\r\nma {k}s C99999999999\r\n",
	}},
	{"mn and me", []string{"mn\r\nmn extra words\r\nme {k}\r\nms {k} 2 F5\r\nhi\r\nme {k}\r\nmg {k} v\r\nme {k}\r\n"}},
	{"base64 keys", []string{"ms {b} 2 b\r\nhi\r\nmg {b} b v k\r\nmg {b} b k q\r\nmd {b} b k\r\nmg {b} b v k\r\nme {b} b\r\nms !!! 1 b\r\nx\r\nmg !!! b v\r\nmd ==== b\r\nme !!! b\r\nma {b} b N0 k\r\n"}},
	{"binary key remembered by the item", []string{
		"ms {a} 1 b\r\nx\r\nmg {k}abc k v\r\nme {k}abc\r\nmd {k}abc k\r\nms {k}abc 1\r\ny\r\nmg {k}abc k\r\nmg {a} b k\r\n",
		"mg {b} b N30 k s\r\nmg {b} b k\r\nma {a}1 b N0 k\r\nmg {k}abc1 k\r\n",
	}},
	{"opaque too long after the command ran", []string{
		"ms {k} 1 T100\r\nx\r\nmg {k} T30 " + longOpaque + " t\r\nmg {k} t\r\nmg {k} " + longOpaque + " T60\r\nmg {k} t\r\n",
		"md {k} I\r\nmg {k} " + longOpaque + "\r\nmg {k} v\r\nmg {k}n " + longOpaque + " N30\r\nmg {k}n t v\r\n",
		"ma {k}m N0 J5 T30 " + longOpaque + " k\r\nmg {k}m t v\r\nma {k}m " + longOpaque + "\r\nmg {k}m v\r\nma {k}x " + longOpaque + "\r\n",
	}},
	{"flag errors", []string{
		"mg {k} v v\r\nmg {k} zz\r\nmg {k} T\r\nmg {k} Tx\r\nmg {k} N\r\nmg {k} R1x\r\nmg {k} F\r\nmg {k} C\r\nmg {k} Mxx\r\nmg {k} J-\r\nmg {k} Dx\r\nmg {k} O123456789012345678901234567890123\r\n",
		"md {k} zz\r\nmd {k} q q\r\nmd {k} O123456789012345678901234567890123\r\nma {k} zz\r\nma {k} MX\r\nma {k} Dx\r\nma {k} Jx\r\n",
		"mg\r\nms\r\nmd\r\nma\r\nme\r\nmz {k}\r\nm\r\n",
		"mg {k} a b c d e f g h i j k l m n o p q r\r\nmg {k} s t c f h l O1 k v q u P L\r\nmd {k} 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18\r\n",
		"mg " + strings.Repeat("a", 251) + " v\r\nmd " + strings.Repeat("a", 251) + "\r\nme " + strings.Repeat("a", 251) + "\r\n",
	}},
	{"ms errors", []string{
		"ms {k}\r\nms {k} x\r\nset {k} 0 0 1\r\nms {k} -1\r\nms {k} 1 zz\r\na\r\nms {k} 1 MX\r\nb\r\nms {k} 1 O123456789012345678901234567890123\r\nc\r\nms {k} 1 Fx\r\nd\r\nms {k} 1 T1 Tx\r\ne\r\nmg {k} v\r\n",
		"ms {k} 2\r\nabc\r\nms {k} 1 q\r\nab\r\nmg {k} v\r\n",
		"ms " + strings.Repeat("a", 251) + " 1\r\nms {k} 1 a b c d e f g h i j k l m n o p q\r\nx\r\n",
	}},
}

// longOpaque is an O token one byte over memcached's limit.
const longOpaque = "O12345678901234567890123456789012"

// metaTarget is one server a script runs against, with what the script
// has seen of it.
type metaTarget struct {
	conn    net.Conn
	lastCas string
}

var casToken = regexp.MustCompile(`(?:^| )(?:c|cas=)(\d+)`)

// exchange sends one step and a closing miss of the key end, and returns
// every reply byte before the miss.
func (m *metaTarget) exchange(t *testing.T, step, end string) string {
	t.Helper()
	step = strings.ReplaceAll(step, "{cas}", m.lastCas)
	require.NoError(t, m.conn.SetDeadline(time.Now().Add(20*time.Second)))
	_, err := m.conn.Write([]byte(step + "mg " + end + " k\r\n"))
	require.NoError(t, err)
	var got []byte
	buf := make([]byte, 64<<10)
	endReply := []byte("EN k" + end + "\r\n")
	for !bytes.HasSuffix(got, endReply) {
		n, err := m.conn.Read(buf)
		got = append(got, buf[:n]...)
		require.NoError(t, err, "reading the reply to %q; so far %q", step, got)
	}
	out := string(got[:len(got)-len(endReply)])
	if all := casToken.FindAllStringSubmatch(out, -1); len(all) > 0 {
		m.lastCas = all[len(all)-1][1]
	}
	return out
}

// metaNormalizer rewrites replies so that a memcons peer's and
// memcached's can be compared: CAS values become their order of first
// appearance (equal uniques stay equal), and the clock-dependent figures
// (t, l, exp=, la=) are taken out of the text, to be compared allowing a
// second boundary between the two servers' clocks.
type metaNormalizer struct {
	cas     map[string]int
	maskCas bool
	clocks  []int64 // the clock-dependent figures taken out, in order
}

func (n *metaNormalizer) normalize(out string) string {
	lines := strings.SplitAfter(out, "\r\n")
	var b strings.Builder
	for i := 0; i < len(lines); i++ {
		fields := strings.Fields(lines[i])
		for j, f := range fields {
			fields[j] = n.token(fields[0], j, f)
		}
		b.WriteString(strings.Join(fields, " "))
		b.WriteString("\n")
		if len(fields) > 1 && fields[0] == "VA" && i+1 < len(lines) {
			i++
			b.WriteString("data:" + lines[i]) // a value is compared as it is
		}
	}
	return b.String()
}

func (n *metaNormalizer) token(code string, j int, f string) string {
	if j == 0 {
		return f
	}
	num := func(prefix string) (int64, bool) {
		if !strings.HasPrefix(f, prefix) {
			return 0, false
		}
		v, err := strconv.ParseInt(f[len(prefix):], 10, 64)
		return v, err == nil
	}
	clock := func(prefix string) (string, bool) {
		v, ok := num(prefix)
		if !ok || (v < 0 && prefix != "exp=") {
			return "", false
		}
		n.clocks = append(n.clocks, v)
		return prefix + "~", true
	}
	if code == "ME" {
		for _, p := range []string{"exp=", "la="} {
			if s, ok := clock(p); ok {
				return s
			}
		}
		if _, ok := num("cas="); ok {
			return "cas=" + n.casID(f[len("cas="):])
		}
		return f
	}
	if code == "VALUE" && j == 4 {
		return n.casID(f)
	}
	if len(code) != 2 {
		return f
	}
	if _, ok := num("c"); ok {
		return "c" + n.casID(f[1:])
	}
	for _, p := range []string{"t", "l"} {
		if s, ok := clock(p); ok {
			return s
		}
	}
	return f
}

func (n *metaNormalizer) casID(v string) string {
	if n.maskCas {
		return "#"
	}
	id, ok := n.cas[v]
	if !ok {
		id = len(n.cas) + 1
		n.cas[v] = id
	}
	return "#" + strconv.Itoa(id)
}

// TestMeta_RepliesMatchMemcached sends every meta script to a real
// memcached and through each peer of a cluster in each mode and store,
// and compares the replies (CAS values as a mapping; in eventual mode,
// where a touch or a win gives the item a new unique, CAS values are left
// out).
func TestMeta_RepliesMatchMemcached(t *testing.T) {
	ref := memcachedtest.Start(t)
	onEveryCluster(t, false, func(t *testing.T, c *Cluster, cc clusterCase) {
		for i := range 3 {
			for si, sc := range metaScripts {
				prefix := fmt.Sprintf("%s-%s-p%d-s%d-", cc.Store, cc.Mode, i, si)
				t.Run(c.Name(i)+"/"+sc.name, func(t *testing.T) {
					runMetaScript(t, sc, prefix, ref, c.ClientAddr(i), cc.Mode == consistency.Eventual)
				})
			}
		}
	})
}

func runMetaScript(t *testing.T, sc metaScript, prefix, refAddr, peerAddr string, maskCas bool) {
	dial := func(addr string) *metaTarget {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		return &metaTarget{conn: conn}
	}
	ref, peer := dial(refAddr), dial(peerAddr)
	refN := &metaNormalizer{cas: map[string]int{}, maskCas: maskCas}
	peerN := &metaNormalizer{cas: map[string]int{}, maskCas: maskCas}
	bin := base64.StdEncoding.EncodeToString([]byte(prefix + "\x00 bin\xff"))
	for _, step := range sc.steps {
		// {a} is the base64 of the printable key {k}abc ({a}1 of {k}abc1).
		step = strings.ReplaceAll(step, "{a}1", base64.StdEncoding.EncodeToString([]byte(prefix+"kabc1")))
		step = strings.ReplaceAll(step, "{a}", base64.StdEncoding.EncodeToString([]byte(prefix+"kabc")))
		step = strings.ReplaceAll(strings.ReplaceAll(step, "{k}", prefix+"k"), "{b}", bin)
		end := prefix + "end"
		want, got := ref.exchange(t, step, end), peer.exchange(t, step, end)
		refN.clocks, peerN.clocks = nil, nil
		if !assert.Equal(t, refN.normalize(want), peerN.normalize(got), "step %q\nmemcached: %q\nmemcons:   %q", step, want, got) {
			continue
		}
		for i, w := range refN.clocks {
			assert.InDelta(t, w, peerN.clocks[i], 1, "clock figure %d of step %q\nmemcached: %q\nmemcons:   %q", i, step, want, got)
		}
	}
}

// metaCall sends one request on a fresh connection to addr and returns
// its first reply line.
func metaCall(t *testing.T, addr, req string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	_, err = conn.Write([]byte(req))
	require.NoError(t, err)
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte("\r\n")) {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		require.NoError(t, err, "reply to %q", req)
	}
	return string(got[:bytes.Index(got, []byte("\r\n"))])
}

// metaLast sends req on a fresh connection to addr and returns the first
// reply line that starts with prefix.
func metaLast(t *testing.T, addr, req, prefix string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	_, err = conn.Write([]byte(req))
	require.NoError(t, err)
	var got []byte
	buf := make([]byte, 4096)
	for {
		for _, line := range strings.Split(string(got), "\r\n") {
			if strings.HasPrefix(line, prefix) && strings.Contains(string(got), line+"\r\n") {
				return line
			}
		}
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		require.NoError(t, err, "reply to %q; so far %q", req, got)
	}
}

// TestMeta_WinDecidedOnceForTheCluster races clients on all three peers
// for the recache win of a missing key (N) and of a stale item: in the
// strict modes the log decides, so exactly one client gets W and the rest
// Z.
func TestMeta_WinDecidedOnceForTheCluster(t *testing.T) {
	const clientsPerPeer = 4
	for _, mode := range []consistency.Kind{consistency.Linearizable, consistency.Sequential} {
		t.Run(string(mode), func(t *testing.T) {
			c := Start(t, Options{Mode: mode})
			require.NoError(t, c.WaitAllUp(slack))
			for round := range 5 {
				for _, race := range []struct{ name, setup, req string }{
					{"vivify", "", "mg viv%d N30 v\r\n"},
					{"stale", "ms st%d 1 T100\r\nx\r\nmd st%[1]d I\r\n", "mg st%d v\r\n"},
				} {
					if race.setup != "" {
						// The setup ends with me, whose cas= is the stale item's.
						key := fmt.Sprintf("st%d", round)
						debug := metaLast(t, c.ClientAddr(0), fmt.Sprintf(race.setup, round)+"me "+key+"\r\n", "ME ")
						cas := casToken.FindStringSubmatch(debug)
						require.NotNil(t, cas, "me line %q", debug)
						for i := range 3 {
							// A sequential read may not see the stale mark yet:
							// wait until every peer has applied it.
							require.Eventually(t, func() bool {
								return strings.Contains(metaCall(t, c.ClientAddr(i), "me "+key+"\r\n"), " cas="+cas[1]+" ")
							}, slack, 10*time.Millisecond)
						}
					}
					replies := make(chan string, 3*clientsPerPeer)
					start := make(chan struct{})
					var done []chan struct{}
					for i := range 3 {
						for range clientsPerPeer {
							ch := make(chan struct{})
							done = append(done, ch)
							go func() {
								defer close(ch)
								<-start
								replies <- metaCall(t, c.ClientAddr(i), fmt.Sprintf(race.req, round))
							}()
						}
					}
					close(start)
					for _, ch := range done {
						<-ch
					}
					close(replies)
					wins, zs := 0, 0
					for r := range replies {
						fields := strings.Fields(r)
						require.NotEmpty(t, fields)
						require.Equal(t, "VA", fields[0], "reply %q", r)
						if slices.Contains(fields, "W") {
							wins++
						}
						if slices.Contains(fields, "Z") {
							zs++
						}
					}
					assert.Equal(t, 1, wins, "%s round %d: one client in the cluster wins", race.name, round)
					assert.Equal(t, 3*clientsPerPeer-1, zs, "%s round %d: every other client sees Z", race.name, round)
				}
			}
		})
	}
}

// TestMeta_EventualStaleMarkConverges marks an item stale on one peer and
// expects the other peers to report it stale once they converge; each
// peer then hands out its own win (eventual mode decides wins per peer).
func TestMeta_EventualStaleMarkConverges(t *testing.T) {
	c := Start(t, Options{Mode: consistency.Eventual})
	require.NoError(t, c.WaitAllUp(slack))
	assert.Equal(t, "HD", metaCall(t, c.ClientAddr(0), "ms k 1 T100\r\nx\r\n"))
	for i := 1; i < 3; i++ {
		require.Eventually(t, func() bool { return metaCall(t, c.ClientAddr(i), "mg k v\r\n") == "VA 1" }, slack, 10*time.Millisecond)
	}
	assert.Equal(t, "HD", metaCall(t, c.ClientAddr(0), "md k I\r\n"))
	for i := 1; i < 3; i++ {
		var last string
		require.Eventually(t, func() bool {
			last = metaCall(t, c.ClientAddr(i), "mg k v\r\n")
			return strings.Contains(last, " X")
		}, slack, 10*time.Millisecond, "peer %d never saw the stale mark (last %q)", i, last)
	}
}
