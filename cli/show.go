package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// clusterInfo is a parsed `stats cluster` reply.
type clusterInfo struct {
	name, mode, self string
	peers            []peerInfo // in first-seen order
}

// peerInfo holds one peer's fields by field name.
type peerInfo struct {
	name   string
	fields map[string]string
	order  []string // field names in the order the reply gave them
}

// column is one table column: its heading and the peer field it shows.
type column struct{ head, field string }

// tlsField is the member field of a peer's TLS client port, which only a
// peer serving one reports.
const tlsField = "client_tls_addr"

// allMemberColumns lists every column of the member table after PEER.
func allMemberColumns() []column {
	return []column{
		{"CLIENT ADDR", "client_addr"}, {"TLS ADDR", tlsField}, {"PEER ADDR", "peer_addr"}, {"REPLICA ADDR", "replica_addr"},
		{"STATE", "state"}, {"LAST HEARD", "last_heard_ms"}, {"ROLE", "role"}, {"MODE", "mode"},
		{"PROGRESS", "progress"}, {"BACKEND", "backend"},
	}
}

// memberColumns lists the member table's columns for info: the TLS
// address only when a peer of info reports one.
func memberColumns(info clusterInfo) []column {
	cols := allMemberColumns()
	if !slices.ContainsFunc(info.peers, func(p peerInfo) bool { return p.fields[tlsField] != "" }) {
		cols = slices.DeleteFunc(cols, func(c column) bool { return c.field == tlsField })
	}
	return cols
}

// requestColumns lists the columns of the request table after PEER.
func requestColumns() []column {
	return []column{
		{"IN FLIGHT", "in_flight"}, {"QUEUED", "queued"}, {"COMPLETED", "completed"}, {"ERRORS", "errors"},
	}
}

// Show asks the peer at addr for `stats cluster` and prints its member and
// request tables to out.
func Show(ctx context.Context, addr string, timeout time.Duration, out io.Writer) error {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c := newClient(addr, timeout)
	defer c.Close()
	info, err := fetchCluster(ctx, c)
	if err != nil {
		return err
	}
	return printCluster(out, info)
}

// fetchCluster sends `stats cluster` and parses the reply.
func fetchCluster(ctx context.Context, c *client) (clusterInfo, error) {
	resp, err := c.do(ctx, "stats cluster\r\n", replyStats)
	if err != nil {
		return clusterInfo{}, fmt.Errorf("stats cluster: %w", err)
	}
	switch {
	case resp.status == "ERROR":
		return clusterInfo{}, fmt.Errorf("%s: %w", c.addr, ErrNotMemcons)
	case resp.failed():
		return clusterInfo{}, fmt.Errorf("stats cluster: %s answered %q", c.addr, resp.status)
	}
	return parseCluster(resp.stats), nil
}

// parseCluster reads the STAT lines of a `stats cluster` reply (the
// format is in the package doc). It does no IO.
func parseCluster(stats []stat) clusterInfo {
	var info clusterInfo
	index := map[string]int{}
	for _, s := range stats {
		switch s.name {
		case "cluster_name":
			info.name = s.value
		case "cluster_mode":
			info.mode = s.value
		case "self":
			info.self = s.value
		default:
			rest, ok := strings.CutPrefix(s.name, "peer:")
			cut := strings.LastIndexByte(rest, ':')
			if !ok || cut <= 0 {
				continue
			}
			name, field := rest[:cut], rest[cut+1:]
			i, seen := index[name]
			if !seen {
				i = len(info.peers)
				index[name] = i
				info.peers = append(info.peers, peerInfo{name: name, fields: map[string]string{}})
			}
			if _, dup := info.peers[i].fields[field]; !dup {
				info.peers[i].order = append(info.peers[i].order, field)
			}
			info.peers[i].fields[field] = s.value
		}
	}
	leaderLag(&info)
	return info
}

// stateDown is the state of a peer that is not answering heartbeats; what
// it last reported (its role above all) may be out of date.
const stateDown = "down"

// behindNote explains the behind column under the mode's heading.
const behindNote = "BEHIND: log entries the leader has committed that the peer's replica has not applied yet"

// leaderLag sets each peer's behind field, in the ordered modes, to how far
// its applied index trails what the leader has committed. A peer's own
// figure stays 0 on a follower that is cut off, since it no longer learns
// of new commits. The leader is the peer that names itself leader with the
// highest commit index and is not down; what it has committed, counted in entries a replica
// applies (raft's no-op and barrier entries are not), is its applied index
// plus its own behind. With no leader, or for a peer that reports no
// applied index, the peer's own figure stays.
func leaderLag(info *clusterInfo) {
	var commit, ref uint64
	found := false
	for _, p := range info.peers {
		if p.fields["leader"] != p.name || p.fields["state"] == stateDown {
			continue // a silent peer's claim may be long out of date
		}
		c, err := strconv.ParseUint(p.fields["commit_index"], 10, 64)
		if err != nil || (found && c <= commit) {
			continue
		}
		applied, errA := strconv.ParseUint(p.fields["applied_index"], 10, 64)
		behind, errB := strconv.ParseUint(p.fields["behind"], 10, 64)
		if errA != nil || errB != nil {
			continue
		}
		commit, ref, found = c, applied+behind, true
	}
	if !found {
		return
	}
	for _, p := range info.peers {
		applied, err := strconv.ParseUint(p.fields["applied_index"], 10, 64)
		if _, ok := p.fields["behind"]; !ok || err != nil {
			continue
		}
		p.fields["behind"] = strconv.FormatUint(ref-min(ref, applied), 10)
	}
}

// printCluster writes a heading line and the aligned tables: members,
// requests, and the mode's own details (sync or log state) when peers
// report any.
func printCluster(w io.Writer, info clusterInfo) error {
	fmt.Fprintf(w, "cluster %s, mode %s, answered by %s\n\n", orDash(info.name), orDash(info.mode), orDash(info.self))
	if err := printTable(w, info, memberColumns(info)); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "requests")
	if err := printTable(w, info, requestColumns()); err != nil {
		return err
	}
	if cols := detailColumns(info); len(cols) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, info.mode)
		if slices.ContainsFunc(cols, func(c column) bool { return c.field == "behind" }) {
			fmt.Fprintln(w, behindNote)
		}
		return printTable(w, info, cols)
	}
	return nil
}

// detailColumns lists the fields that are neither member nor request
// columns (the mode's details), in the order peers reported them; the
// heading is the field name in upper case with spaces.
func detailColumns(info clusterInfo) []column {
	known := map[string]bool{}
	for _, c := range append(allMemberColumns(), requestColumns()...) {
		known[c.field] = true
	}
	var cols []column
	for _, p := range info.peers {
		for _, f := range p.order {
			if !known[f] {
				known[f] = true
				cols = append(cols, column{strings.ToUpper(strings.ReplaceAll(f, "_", " ")), f})
			}
		}
	}
	return cols
}

func printTable(w io.Writer, info clusterInfo, cols []column) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	heads := []string{"PEER"}
	for _, c := range cols {
		heads = append(heads, c.head)
	}
	fmt.Fprintln(tw, strings.Join(heads, "\t"))
	for _, p := range info.peers {
		cells := []string{cell(p.name)}
		for _, c := range cols {
			cells = append(cells, peerCell(p, c.field))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// peerCell renders one field of a peer for the table. The role of a peer
// that is down is the one it last reported, marked stale: a frozen old
// leader must not read as a second leader.
func peerCell(p peerInfo, field string) string {
	v, ok := p.fields[field]
	if !ok || v == "" {
		return "-"
	}
	switch {
	case field == "last_heard_ms":
		return sinceMillis(v)
	case field == "role" && p.fields["state"] == stateDown:
		return cell(v) + " (stale)"
	}
	return cell(v)
}

// sinceMillis shows a last_heard_ms value: "never" for a negative one, a
// short duration ("120ms", "1.5s", "3m20s", "2h5m") otherwise, and the raw
// text when it is not a number.
func sinceMillis(v string) string {
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return cell(v)
	}
	if ms < 0 {
		return "never"
	}
	d := time.Duration(ms) * time.Millisecond
	switch {
	case d < time.Second:
		return strconv.FormatInt(ms, 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Round(100*time.Millisecond).Seconds(), 'f', -1, 64) + "s"
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
}

// cell keeps a value on one table cell: tabs and line breaks become spaces.
func cell(v string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
