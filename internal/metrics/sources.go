package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/memcons/memcons/consistency/eventual"
	"github.com/memcons/memcons/consistency/ordered"
	"github.com/memcons/memcons/controller"
	"github.com/memcons/memcons/peer"
)

// Controller returns the collector of the client port's counters, which
// are those of `stats` (so `stats reset` resets them, which Prometheus
// reads as a counter reset).
func Controller(counts func() controller.Counts) prometheus.Collector {
	var (
		curr     = gauge("current_connections", "Client connections open now.")
		total    = counter("connections_total", "Client connections accepted.")
		refused  = counter("connections_refused_total", "Client connections refused at max_connections.")
		inFlight = gauge("requests_in_flight", "Commands inside the consistency mode now.")
		queued   = gauge("requests_queued", "Parsed pipelined commands waiting behind them.")
		done     = counter("requests_completed_total", "Commands answered (or executed, for noreply), refused ones included.")
		errs     = counter("error_replies_total", "Replies that were ERROR, CLIENT_ERROR or SERVER_ERROR.")
		cmd      = counter("cmd_total", "memcached's cmd_* counters: keys asked by get/gets, storage commands, flush_all, touches (gat/gats keys included).", "cmd")
		hits     = counter("hits_total", "Commands that found their key, by command family (keys, for retrievals).", "command")
		misses   = counter("misses_total", "Commands that did not find their key, by command family (keys, for retrievals).", "command")
		badval   = counter("cas_badval_total", "cas commands refused because the item changed.")
		tooLarge = counter("store_too_large_total", "Storage commands refused as larger than item_size_max.")
		noMem    = counter("store_no_memory_total", "Storage commands refused because the replica is out of memory.")
		read     = counter("read_bytes_total", "Bytes read from clients.")
		written  = counter("written_bytes_total", "Bytes written to clients.")
	)
	families := []string{"get", "delete", "incr", "decr", "cas", "touch"}
	return &snapshotCollector{
		series: []series{curr, total, refused, inFlight, queued, done, errs, cmd, hits, misses, badval, tooLarge, noMem, read, written},
		collect: func(ch chan<- prometheus.Metric) {
			c := counts()
			curr.emit(ch, float64(c.CurrConns))
			total.emit(ch, float64(c.TotalConns))
			refused.emit(ch, float64(c.RejectedConns))
			inFlight.emit(ch, float64(c.InFlight))
			queued.emit(ch, float64(c.Queued))
			done.emit(ch, float64(c.Completed))
			errs.emit(ch, float64(c.Errors))
			cmd.emit(ch, float64(c.CmdGet), "get")
			cmd.emit(ch, float64(c.CmdSet), "set")
			cmd.emit(ch, float64(c.CmdFlush), "flush")
			cmd.emit(ch, float64(c.CmdTouch), "touch")
			for _, f := range families {
				hits.emit(ch, float64(c.Hits[f]), f)
				misses.emit(ch, float64(c.Misses[f]), f)
			}
			badval.emit(ch, float64(c.CasBadval))
			tooLarge.emit(ch, float64(c.TooLarge))
			noMem.emit(ch, float64(c.NoMemory))
			read.emit(ch, float64(c.BytesRead))
			written.emit(ch, float64(c.BytesWritten))
		},
	}
}

// Eventual returns the collector of eventual mode's push and sync state.
func Eventual(stats func() eventual.Stats) prometheus.Collector {
	var (
		queue    = gauge("eventual_push_queue_length", "Writes queued for push to the peer.", "peer")
		pushed   = counter("eventual_pushed_writes_total", "Writes pushed to the peer.", "peer")
		dropped  = counter("eventual_push_dropped_total", "Writes not queued for the peer because its queue was full (sync repairs them).", "peer")
		rounds   = counter("eventual_sync_rounds_total", "Anti-entropy syncs with the peer completed.", "peer")
		attempts = counter("eventual_sync_attempts_total", "Anti-entropy syncs with the peer attempted, failed ones included.", "peer")
		full     = counter("eventual_full_transfers_total", "Completed syncs with the peer that were full transfers.", "peer")
		lag      = gauge("eventual_replication_lag_seconds", "Bound on how far this replica trails the peer's writes: time since the start of the last completed sync with it.", "peer")
		tombs    = gauge("eventual_tombstones", "Tombstones this peer's replica holds.")
	)
	return &snapshotCollector{
		series: []series{queue, pushed, dropped, rounds, attempts, full, lag, tombs},
		collect: func(ch chan<- prometheus.Metric) {
			st := stats()
			for _, l := range st.Links {
				queue.emit(ch, float64(l.Pending), l.Peer)
				pushed.emit(ch, float64(l.Pushed), l.Peer)
				dropped.emit(ch, float64(l.Dropped), l.Peer)
				rounds.emit(ch, float64(l.SyncRounds), l.Peer)
				attempts.emit(ch, float64(l.SyncAttempts), l.Peer)
				full.emit(ch, float64(l.FullSyncs), l.Peer)
				lag.emit(ch, l.Lag.Seconds(), l.Peer)
			}
			tombs.emit(ch, float64(st.Tombstones))
		},
	}
}

// raftStates are the label values of memcons_raft_state.
var raftStates = []string{"starting", "follower", "candidate", "leader", "shutdown"}

// Ordered returns the collector of the raft state of the linearizable and
// sequential modes.
func Ordered(stats func() ordered.Stats) prometheus.Collector {
	var (
		state     = gauge("raft_state", "1 for this peer's raft state, 0 for the others.", "state")
		hasLeader = gauge("raft_has_leader", "1 when this peer knows a leader.")
		term      = gauge("raft_term", "Current raft term.")
		commit    = gauge("raft_commit_index", "Last log index known committed.")
		applied   = gauge("raft_applied_index", "Last log index applied to this peer's replica.")
		last      = gauge("raft_last_log_index", "Last index in this peer's log.")
		snapIdx   = gauge("raft_last_snapshot_index", "Log index of the latest snapshot.")
		changes   = counter("raft_leader_changes_total", "Changes of leader this peer observed.")
		proposals = counter("raft_proposals_total", "Entries this peer appended to the log as leader (its own and forwarded writes).")
		forwarded = counter("raft_forwarded_total", "Requests this peer forwarded to the leader, by kind.", "kind")
		rounds    = counter("raft_read_index_rounds_total", "Read index rounds: leadership confirmations as leader, requests to the leader otherwise; each serves every read waiting when it starts.", "role")
	)
	return &snapshotCollector{
		series: []series{state, hasLeader, term, commit, applied, last, snapIdx, changes, proposals, forwarded, rounds},
		collect: func(ch chan<- prometheus.Metric) {
			st := stats()
			for _, s := range raftStates {
				state.emit(ch, boolValue(st.State == s), s)
			}
			hasLeader.emit(ch, boolValue(st.Leader != ""))
			term.emit(ch, float64(st.Term))
			commit.emit(ch, float64(st.CommitIndex))
			applied.emit(ch, float64(st.AppliedIndex))
			last.emit(ch, float64(st.LastLogIndex))
			snapIdx.emit(ch, float64(st.LastSnapshotIndex))
			changes.emit(ch, float64(st.LeaderChanges))
			proposals.emit(ch, float64(st.Proposals))
			forwarded.emit(ch, float64(st.ForwardedProposals), "propose")
			forwarded.emit(ch, float64(st.ForwardedReads), "read_index")
			rounds.emit(ch, float64(st.LeaderReadRounds), "leader")
			rounds.emit(ch, float64(st.FollowerReadRounds), "follower")
		},
	}
}

// Peers returns the collector of the membership table: which peers are up
// and when each was last heard.
func Peers(members func() []peer.Member) prometheus.Collector {
	var (
		up    = gauge("peer_up", "1 when the peer is heard within heartbeat_timeout (always 1 for this peer itself).", "peer")
		heard = gauge("peer_last_heard_seconds", "Seconds since the peer's last heartbeat; -1 if never heard.", "peer")
	)
	return &snapshotCollector{
		series: []series{up, heard},
		collect: func(ch chan<- prometheus.Metric) {
			now := time.Now()
			for _, m := range members() {
				up.emit(ch, boolValue(m.Up), m.Name)
				switch {
				case m.Self:
					heard.emit(ch, 0, m.Name)
				case m.LastHeard.IsZero():
					heard.emit(ch, -1, m.Name)
				default:
					heard.emit(ch, now.Sub(m.LastHeard).Seconds(), m.Name)
				}
			}
		},
	}
}

// Info returns the collector of memcons_info: the peer's name, mode and
// store as labels of a constant 1.
func Info(self, mode, store string) prometheus.Collector {
	info := gauge("info", "Always 1; labels name this peer, its consistency mode and its replica store.", "peer", "mode", "store")
	return &snapshotCollector{
		series:  []series{info},
		collect: func(ch chan<- prometheus.Metric) { info.emit(ch, 1, self, mode, store) },
	}
}

// Replica returns the collector of the replica's health as the peer's
// probe last saw it.
func Replica(healthy func() bool) prometheus.Collector {
	up := gauge("replica_up", "1 when this peer's replica answered its last health probe.")
	return &snapshotCollector{
		series:  []series{up},
		collect: func(ch chan<- prometheus.Metric) { up.emit(ch, boolValue(healthy())) },
	}
}
