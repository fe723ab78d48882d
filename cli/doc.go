// Package cli is the memcons command-line client: an interactive prompt
// (and a line-by-line reader for piped input) over a peer's client port,
// plus the `show` table of the cluster's members.
//
// # Commands
//
// Friendly commands (names are case-insensitive):
//
//	set k v [ttl] [flags]        also add, replace, append, prepend
//	cas k v unique [ttl] [flags]
//	get k [k ...]                gets k [k ...] also prints the cas unique
//	gat ttl k [k ...]
//	delete k
//	incr k [n]                   decr k [n]; n defaults to 1
//	touch k ttl
//	flush [delay]                sends flush_all
//	stats [group]
//	version
//	show                         the member table (see below)
//	raw <protocol line>          sends the line as it is
//	help, exit, quit
//
// Arguments are split at spaces; a double-quoted argument may contain
// spaces and the escapes \\ \" \n \r \t \0 and \xHH; a single-quoted one is
// taken literally. Every other line is sent to the server as a raw protocol
// line. Because the friendly storage commands take the names of the
// protocol's storage commands, a raw storage command must be written with
// the raw prefix (`raw set k 0 0 5`); the next input line is then its data
// block, and it must be exactly as long as the command says (memcached would
// otherwise wait for more data, or answer twice and leave the connection out
// of step). The raw reply is printed as received.
//
// If the connection has dropped (the server restarted, an idle timeout), the
// client dials again and resends the command once, provided no reply byte
// had been received for it.
//
// # Piped input
//
// When standard input is not a terminal (Config.Interactive false) there is
// no prompt and no history: every line is one command (blank lines and lines
// starting with # are skipped) and Run returns at end of input. Run then
// returns an error wrapping ErrCommandFailed when any command failed: the
// server answered ERROR, CLIENT_ERROR or SERVER_ERROR, the command was not
// valid, or the server could not be reached. NOT_FOUND, NOT_STORED and
// EXISTS are ordinary answers, not failures. Replies, error replies
// included, go to Config.Out; local errors go to Config.Err with the input
// line number. `memcons cli` turns that error into a non-zero exit status,
// so scripts can test it. Cancelling the context is noticed between lines
// (a read from a pipe cannot be interrupted).
//
// # The stats cluster reply
//
// `show` sends "stats cluster\r\n" and expects this reply, which is the
// contract between this package and the memcons server:
//
//	STAT cluster_name <name>
//	STAT cluster_mode <mode>
//	STAT self <peer name>
//	STAT peer:<name>:<field> <value>
//	END
//
// with one line per peer and field, where field is one of client_addr,
// client_tls_addr (only for a peer with a TLS client port), peer_addr, replica_addr, state (up, down or self), last_heard_ms
// (milliseconds since the peer was last heard; -1 means never), role, mode,
// progress, backend, in_flight, queued, completed and errors. A value is the
// rest of the line after the stat name and may contain spaces; a peer name
// may not contain spaces (it may contain colons: the field is what follows
// the last colon). Peers are listed in the order they first appear. Fields
// this package does not know are ignored, missing ones are shown as "-".
// A server that answers ERROR (a plain memcached) is reported with
// ErrNotMemcons.
package cli
