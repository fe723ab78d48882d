package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/internal/memcachedtest"
)

const cannedCluster = "STAT cluster_name prod east\r\n" +
	"STAT cluster_mode linearizable\r\n" +
	"STAT self a\r\n" +
	"STAT peer:a:client_addr 127.0.0.1:8000\r\n" +
	"STAT peer:a:peer_addr 127.0.0.1:9000\r\n" +
	"STAT peer:a:replica_addr 127.0.0.1:11211\r\n" +
	"STAT peer:a:state self\r\n" +
	"STAT peer:a:last_heard_ms 0\r\n" +
	"STAT peer:a:role leader\r\n" +
	"STAT peer:a:mode linearizable\r\n" +
	"STAT peer:a:progress applied 1200\r\n" +
	"STAT peer:a:backend ok\r\n" +
	"STAT peer:a:in_flight 3\r\n" +
	"STAT peer:a:queued 0\r\n" +
	"STAT peer:a:completed 123456\r\n" +
	"STAT peer:a:errors 2\r\n" +
	"STAT peer:a:leader a\r\n" +
	"STAT peer:a:commit_index 1200\r\n" +
	"STAT peer:bravo-long-name:client_addr 127.0.0.1:8001\r\n" +
	"STAT peer:bravo-long-name:state up\r\n" +
	"STAT peer:bravo-long-name:last_heard_ms 120\r\n" +
	"STAT peer:bravo-long-name:role follower\r\n" +
	"STAT peer:bravo-long-name:backend ok\r\n" +
	"STAT peer:bravo-long-name:in_flight 0\r\n" +
	"STAT peer:c:client_addr 127.0.0.1:8002\r\n" +
	"STAT peer:c:state down\r\n" +
	"STAT peer:c:last_heard_ms -1\r\n" +
	"STAT peer:c:backend unreachable: dial tcp refused\r\n" +
	"STAT peer:c:future_field whatever\r\n" +
	"STAT peer:bravo-long-name:peer_addr 127.0.0.1:9001\r\n" +
	"END\r\n"

// cellUnder returns the cell of row under heading, using the heading's
// position in header, and checks the cell starts exactly there.
func cellUnder(t *testing.T, header, row, heading string) string {
	t.Helper()
	heads := []string{"PEER", "CLIENT ADDR", "PEER ADDR", "REPLICA ADDR", "STATE", "LAST HEARD", "ROLE", "MODE", "PROGRESS", "BACKEND",
		"IN FLIGHT", "QUEUED", "COMPLETED", "ERRORS", "LEADER", "COMMIT INDEX", "FUTURE FIELD"}
	start := strings.Index(header, heading)
	require.GreaterOrEqual(t, start, 0, "heading %q in %q", heading, header)
	end := len(row)
	for _, h := range heads {
		if i := strings.Index(header, h); i > start && i < end && h != heading {
			end = min(end, i)
		}
	}
	require.LessOrEqual(t, start, len(row), "row %q too short for %q", row, heading)
	if start > 0 {
		require.Equal(t, byte(' '), row[start-1], "cell under %q is not aligned in %q", heading, row)
	}
	return strings.TrimSpace(row[start:min(end, len(row))])
}

func TestShow_FakeCluster(t *testing.T) {
	f := memcachedtest.StartScripted(t, memcachedtest.Script{Reply: func(line, _ string) string {
		if line == "stats cluster" {
			return cannedCluster
		}
		return "ERROR\r\n"
	}})
	var out bytes.Buffer
	require.NoError(t, Show(context.Background(), f.Addr(), 5*time.Second, &out))
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	require.Len(t, lines, 18, out.String())
	assert.Equal(t, "cluster prod east, mode linearizable, answered by a", lines[0])

	members := map[string]map[string]string{
		"a": {"PEER": "a", "CLIENT ADDR": "127.0.0.1:8000", "PEER ADDR": "127.0.0.1:9000", "REPLICA ADDR": "127.0.0.1:11211",
			"STATE": "self", "LAST HEARD": "0ms", "ROLE": "leader", "MODE": "linearizable", "PROGRESS": "applied 1200", "BACKEND": "ok"},
		"bravo-long-name": {"PEER": "bravo-long-name", "CLIENT ADDR": "127.0.0.1:8001", "PEER ADDR": "127.0.0.1:9001", "REPLICA ADDR": "-",
			"STATE": "up", "LAST HEARD": "120ms", "ROLE": "follower", "MODE": "-", "PROGRESS": "-", "BACKEND": "ok"},
		"c": {"PEER": "c", "CLIENT ADDR": "127.0.0.1:8002", "PEER ADDR": "-", "REPLICA ADDR": "-",
			"STATE": "down", "LAST HEARD": "never", "ROLE": "-", "MODE": "-", "PROGRESS": "-", "BACKEND": "unreachable: dial tcp refused"},
	}
	requests := map[string]map[string]string{
		"a":               {"PEER": "a", "IN FLIGHT": "3", "QUEUED": "0", "COMPLETED": "123456", "ERRORS": "2"},
		"bravo-long-name": {"PEER": "bravo-long-name", "IN FLIGHT": "0", "QUEUED": "-", "COMPLETED": "-", "ERRORS": "-"},
		"c":               {"PEER": "c", "IN FLIGHT": "-", "QUEUED": "-", "COMPLETED": "-", "ERRORS": "-"},
	}
	details := map[string]map[string]string{
		"a":               {"PEER": "a", "LEADER": "a", "COMMIT INDEX": "1200", "FUTURE FIELD": "-"},
		"bravo-long-name": {"PEER": "bravo-long-name", "LEADER": "-", "COMMIT INDEX": "-", "FUTURE FIELD": "-"},
		"c":               {"PEER": "c", "LEADER": "-", "COMMIT INDEX": "-", "FUTURE FIELD": "whatever"},
	}
	order := []string{"a", "bravo-long-name", "c"}

	tables := []struct {
		name   string
		header int
		want   map[string]map[string]string
	}{
		{name: "members", header: 2, want: members},
		{name: "requests", header: 8, want: requests},
		{name: "mode details", header: 14, want: details},
	}
	assert.Empty(t, lines[1])
	assert.Empty(t, lines[6])
	assert.Equal(t, "requests", lines[7])
	assert.Empty(t, lines[12])
	assert.Equal(t, "linearizable", lines[13], "the details table is headed by the mode")
	for _, tb := range tables {
		t.Run(tb.name, func(t *testing.T) {
			header := lines[tb.header]
			require.True(t, strings.HasPrefix(header, "PEER "), header)
			for i, peer := range order {
				row := lines[tb.header+1+i]
				for heading, want := range tb.want[peer] {
					assert.Equal(t, want, cellUnder(t, header, row, heading), "peer %s column %s", peer, heading)
				}
			}
		})
	}
}

func TestShow_PlainMemcached(t *testing.T) {
	addr := memcachedtest.Start(t)
	var out bytes.Buffer
	err := Show(context.Background(), addr, 5*time.Second, &out)
	require.ErrorIs(t, err, ErrNotMemcons)
	assert.Contains(t, err.Error(), "not a memcons peer")
	assert.Empty(t, out.String())
}

func TestShow_Unreachable(t *testing.T) {
	addr := memcachedtest.FreeAddr(t)
	err := Show(context.Background(), addr, 2*time.Second, &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), addr)
}

func TestParseCluster_Fields(t *testing.T) {
	tests := []struct {
		name  string
		stats []stat
		want  clusterInfo
	}{
		{name: "empty", want: clusterInfo{}},
		{
			name: "first-seen order and colons in names",
			stats: []stat{
				{"cluster_name", "x"}, {"peer:z:state", "up"}, {"peer:host:1:state", "down"},
				{"peer:z:role", "leader"}, {"peer:a:backend", "ok too"},
			},
			want: clusterInfo{name: "x", peers: []peerInfo{
				{name: "z", fields: map[string]string{"state": "up", "role": "leader"}, order: []string{"state", "role"}},
				{name: "host:1", fields: map[string]string{"state": "down"}, order: []string{"state"}},
				{name: "a", fields: map[string]string{"backend": "ok too"}, order: []string{"backend"}},
			}},
		},
		{
			name: "behind is counted from what the leader committed",
			stats: []stat{
				{"peer:p1:leader", "p1"}, {"peer:p1:commit_index", "90"}, {"peer:p1:applied_index", "88"}, {"peer:p1:behind", "2"},
				{"peer:p2:leader", "p1"}, {"peer:p2:commit_index", "40"}, {"peer:p2:applied_index", "40"}, {"peer:p2:behind", "0"},
				{"peer:p3:leader", "p3"}, {"peer:p3:commit_index", "30"}, {"peer:p3:applied_index", "30"}, {"peer:p3:behind", "0"},
				{"peer:p4:state", "down"},
			},
			want: clusterInfo{peers: []peerInfo{
				{name: "p1", fields: map[string]string{"leader": "p1", "commit_index": "90", "applied_index": "88", "behind": "2"}, order: []string{"leader", "commit_index", "applied_index", "behind"}},
				{name: "p2", fields: map[string]string{"leader": "p1", "commit_index": "40", "applied_index": "40", "behind": "50"}, order: []string{"leader", "commit_index", "applied_index", "behind"}},
				{name: "p3", fields: map[string]string{"leader": "p3", "commit_index": "30", "applied_index": "30", "behind": "60"}, order: []string{"leader", "commit_index", "applied_index", "behind"}},
				{name: "p4", fields: map[string]string{"state": "down"}, order: []string{"state"}},
			}},
		},
		{
			name: "the leader's trailing no-op entries are not counted",
			stats: []stat{
				{"peer:p1:leader", "p1"}, {"peer:p1:commit_index", "103"}, {"peer:p1:applied_index", "100"}, {"peer:p1:behind", "0"},
				{"peer:p2:leader", "p1"}, {"peer:p2:commit_index", "103"}, {"peer:p2:applied_index", "100"}, {"peer:p2:behind", "0"},
			},
			want: clusterInfo{peers: []peerInfo{
				{name: "p1", fields: map[string]string{"leader": "p1", "commit_index": "103", "applied_index": "100", "behind": "0"}, order: []string{"leader", "commit_index", "applied_index", "behind"}},
				{name: "p2", fields: map[string]string{"leader": "p1", "commit_index": "103", "applied_index": "100", "behind": "0"}, order: []string{"leader", "commit_index", "applied_index", "behind"}},
			}},
		},
		{
			name: "no leader keeps each peer's own figure",
			stats: []stat{
				{"peer:p1:leader", ""}, {"peer:p1:commit_index", "9"}, {"peer:p1:applied_index", "7"}, {"peer:p1:behind", "2"},
			},
			want: clusterInfo{peers: []peerInfo{
				{name: "p1", fields: map[string]string{"leader": "", "commit_index": "9", "applied_index": "7", "behind": "2"}, order: []string{"leader", "commit_index", "applied_index", "behind"}},
			}},
		},
		{
			name: "a leader that is down is no reference",
			stats: []stat{
				{"peer:p1:state", "down"}, {"peer:p1:leader", "p1"}, {"peer:p1:commit_index", "90"}, {"peer:p1:applied_index", "90"}, {"peer:p1:behind", "0"},
				{"peer:p2:state", "up"}, {"peer:p2:leader", "p2"}, {"peer:p2:commit_index", "50"}, {"peer:p2:applied_index", "48"}, {"peer:p2:behind", "2"},
			},
			want: clusterInfo{peers: []peerInfo{
				{name: "p1", fields: map[string]string{"state": "down", "leader": "p1", "commit_index": "90", "applied_index": "90", "behind": "0"},
					order: []string{"state", "leader", "commit_index", "applied_index", "behind"}},
				{name: "p2", fields: map[string]string{"state": "up", "leader": "p2", "commit_index": "50", "applied_index": "48", "behind": "2"},
					order: []string{"state", "leader", "commit_index", "applied_index", "behind"}},
			}},
		},
		{
			name:  "ignored lines",
			stats: []stat{{"pid", "1"}, {"peer:", "x"}, {"peer::state", "up"}, {"peer:nofield", "x"}},
			want:  clusterInfo{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, parseCluster(tt.stats))
		})
	}
}

func TestPrintCluster_StaleRoleAndBehindNote(t *testing.T) {
	peer := func(name, state, role string, extra ...string) peerInfo {
		return testPeer(name, append([]string{"state", state, "role", role}, extra...)...)
	}
	tests := []struct {
		name     string
		peers    []peerInfo
		roles    map[string]string // ROLE cell by peer
		wantNote bool
	}{
		{
			name: "a frozen old leader beside the new one",
			peers: []peerInfo{
				peer("p1", "down", "leader", "behind", "0"), peer("p2", "self", "leader", "behind", "0"), peer("p3", "up", "follower", "behind", "1"),
			},
			roles:    map[string]string{"p1": "leader (stale)", "p2": "leader", "p3": "follower"},
			wantNote: true,
		},
		{
			name:     "a peer down with no role reported",
			peers:    []peerInfo{peer("p1", "self", "peer", "last_sync", "x"), peer("p2", "down", "")},
			roles:    map[string]string{"p1": "peer", "p2": "-"},
			wantNote: false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, header, rows := printMembers(t, tc.peers)
			for i, p := range tc.peers {
				assert.Equal(t, tc.roles[p.name], cellUnder(t, header, rows[i], "ROLE"), "peer %s", p.name)
			}
			if tc.wantNote {
				assert.Contains(t, strings.Split(out, "\n"), behindNote, "the mode table explains BEHIND")
			} else {
				assert.NotContains(t, out, "BEHIND")
			}
		})
	}
}

func TestSinceMillis_Human(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"-1", "never"},
		{"-5", "never"},
		{"0", "0ms"},
		{"120", "120ms"},
		{"999", "999ms"},
		{"1000", "1s"},
		{"1540", "1.5s"},
		{"59940", "59.9s"},
		{"200000", "3m20s"},
		{"7500000", "2h5m"},
		{"soon", "soon"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, sinceMillis(tt.in))
		})
	}
}

func TestPrintCluster_TLSAddrColumn(t *testing.T) {
	peer := testPeer
	tests := []struct {
		name  string
		peers []peerInfo
		tls   map[string]string // TLS ADDR cell by peer; nil: no such column
	}{
		{
			name:  "no peer serves TLS",
			peers: []peerInfo{peer("p1", "client_addr", "127.0.0.1:8000"), peer("p2", "client_addr", "127.0.0.1:8001")},
		},
		{
			name: "one peer serves TLS only, one both, one plain",
			peers: []peerInfo{
				peer("p1", "client_addr", "", "client_tls_addr", "127.0.0.1:9000"),
				peer("p2", "client_addr", "127.0.0.1:8001", "client_tls_addr", "127.0.0.1:9001"),
				peer("p3", "client_addr", "127.0.0.1:8002"),
			},
			tls: map[string]string{"p1": "127.0.0.1:9000", "p2": "127.0.0.1:9001", "p3": "-"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, header, rows := printMembers(t, tc.peers)
			if tc.tls == nil {
				assert.NotContains(t, out, "TLS ADDR")
				return
			}
			for i, p := range tc.peers {
				assert.Equal(t, tc.tls[p.name], cellUnder(t, header, rows[i], "TLS ADDR"), "peer %s", p.name)
			}
			assert.NotContains(t, out, "CLIENT TLS ADDR", "the TLS address is a member column, not a mode detail")
		})
	}
}

// testPeer is a peer with the given field names and values, in order.
func testPeer(name string, fields ...string) peerInfo {
	p := peerInfo{name: name, fields: map[string]string{}}
	for i := 0; i+1 < len(fields); i += 2 {
		p.fields[fields[i]] = fields[i+1]
		p.order = append(p.order, fields[i])
	}
	return p
}

// printMembers prints a cluster of peers and returns the output, the
// member table's header and its row for each peer.
func printMembers(t *testing.T, peers []peerInfo) (out, header string, rows []string) {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, printCluster(&b, clusterInfo{name: "c", mode: "m", self: "p1", peers: peers}))
	lines := strings.Split(b.String(), "\n")
	require.Greater(t, len(lines), 2+len(peers), b.String())
	return b.String(), lines[2], lines[3 : 3+len(peers)]
}
