#!/usr/bin/env bash
# startup.sh: build memcons and start a local cluster: one memcached replica
# per peer (when memcached is installed) and one memcons peer per section of
# the config, then wait until every peer sees every other one up.
#
#   ./startup.sh [--consistency MODE] [--store memcached|memory] [--config FILE] [--reset]
#
# Everything it starts is recorded under run/pids (or $MEMCONS_RUN_DIR/pids);
# ./stop.sh stops it. It says "up" once the cluster can serve: a leader is
# elected and every peer has caught up (strict modes), or every peer has
# finished its first sync (eventual).
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: ./startup.sh [--consistency MODE] [--store memcached|memory] [--config FILE] [--reset]

  --consistency MODE   linearizable, sequential or eventual (default: the config's cluster.mode)
  --store KIND         memcached (one replica per peer) or memory (embedded store);
                       default: the config's cluster.store, or memory when memcached is not installed
  --config FILE        config file (default: config.ini next to this script)
  --reset              erase every peer's data first (memcons reset --all), e.g. to
                       start in another mode: a peer refuses data of another mode
EOF
}

mode=""
store=""
config=""
reset=false
while (($# > 0)); do
	case "$1" in
	--consistency | --store | --config)
		if (($# < 2)); then
			echo "startup.sh: $1 needs a value" >&2
			exit 2
		fi
		case "$1" in
		--consistency) mode="$2" ;;
		--store) store="$2" ;;
		--config) config="$2" ;;
		esac
		shift 2
		;;
	--consistency=*) mode="${1#*=}" && shift ;;
	--store=*) store="${1#*=}" && shift ;;
	--config=*) config="${1#*=}" && shift ;;
	--reset) reset=true && shift ;;
	-h | --help) usage && exit 0 ;;
	*)
		echo "startup.sh: unknown argument: $1" >&2
		usage >&2
		exit 2
		;;
	esac
done

# Resolve --config against the caller's directory before moving.
if [[ -n "$config" && "$config" != /* ]]; then
	config="$PWD/$config"
fi
cd "$(dirname "${BASH_SOURCE[0]}")"
root="$PWD"
config="${config:-$root/config.ini}"
if [[ ! -f "$config" ]]; then
	echo "startup.sh: config file not found: $config" >&2
	exit 1
fi
case "$store" in
"" | memcached | memory) ;;
*)
	echo "startup.sh: --store: unknown store \"$store\" (want memcached or memory)" >&2
	exit 2
	;;
esac

# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"
bin="$run/bin/memcons"
logs="$run/logs"

# Refuse to start over a running cluster; forget pid files of dead processes.
mkdir -p "$pids" "$logs"
running=()
for f in "$pids"/*.pid; do
	[[ -e "$f" ]] || continue
	pid="$(cat "$f")"
	if [[ "$pid" =~ ^[0-9]+$ ]] && is_ours "$pid"; then
		running+=("$(basename "$f" .pid) (pid $pid)")
	else
		rm -f "$f"
	fi
done
if ((${#running[@]} > 0)); then
	echo "startup.sh: a cluster is already running: ${running[*]}" >&2
	echo "startup.sh: stop it first with ./stop.sh" >&2
	exit 1
fi

echo "building run/bin/memcons"
go build -o "$bin" .

# The overrides every memcons invocation gets, so scripts and peers agree.
overrides=()
if [[ -n "$mode" ]]; then
	overrides+=(--consistency "$mode")
fi
if [[ -z "$store" ]]; then
	store="$("$bin" config-get --config "$config" "${overrides[@]}" cluster.store)"
fi
if [[ "$store" == memcached ]] && ! command -v memcached >/dev/null 2>&1; then
	echo "memcached not found: using the embedded store"
	store=memory
fi
overrides+=(--cluster.store "$store")

# Validate everything before starting anything.
"$bin" config-check --config "$config" "${overrides[@]}"

cfg() { "$bin" config-get --config "$config" "${overrides[@]}" "$@"; }
IFS=', ' read -r -a peers <<<"$(cfg cluster.peers)"
mode="$(cfg cluster.mode)"

if [[ "$reset" == true ]]; then
	"$bin" reset --config "$config" "${overrides[@]}" --all
fi

# dial_addr turns a listen address into one to connect to.
dial_addr() {
	local host="${1%:*}" port="${1##*:}"
	case "$host" in
	"" | 0.0.0.0 | "[::]") host=127.0.0.1 ;;
	esac
	echo "$host:$port"
}

# On failure, stop whatever this run started; the logs stay in run/logs.
started=false
cleanup_on_failure() {
	local rc=$?
	if ((rc != 0)) && [[ "$started" == true ]]; then
		echo "startup.sh: failed; stopping what was started (logs are in $logs)" >&2
		"$root/stop.sh" >&2 || true
	fi
}
trap cleanup_on_failure EXIT

# show_log_tail prints the end of a log file for a failed start, after the
# peer's own one-line reason when it gave one.
show_log_tail() {
	local reason
	if reason="$(grep -m 1 '^memcons serve: ' "$1")"; then
		echo "$reason" >&2
	fi
	echo "---- last lines of $1 ----" >&2
	tail -n 20 "$1" >&2 || true
}

# wait_tcp waits up to $2 seconds for host:port $1 to accept connections
# while pid $3 stays alive.
wait_tcp() {
	local addr="$1" deadline=$((SECONDS + $2)) pid="$3"
	local host="${addr%:*}" port="${addr##*:}"
	host="${host#[}" && host="${host%]}"
	while ((SECONDS < deadline)); do
		alive "$pid" || return 1
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# in_use succeeds when something already accepts connections on host:port $1.
in_use() {
	local addr host port
	addr="$(dial_addr "$1")"
	host="${addr%:*}" && host="${host#[}" && host="${host%]}"
	port="${addr##*:}"
	(exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# Refuse ports that are taken before starting anything.
keys=()
for p in "${peers[@]}"; do
	keys+=("$p.client_addr" "$p.peer_addr")
	if [[ "$store" == memcached ]]; then
		keys+=("$p.replica_addr")
	fi
done
for k in "${keys[@]}"; do
	addr="$(cfg "$k")"
	if in_use "$addr"; then
		echo "startup.sh: $addr ($k) is already in use by another process" >&2
		exit 1
	fi
done

if [[ "$store" == memcached ]]; then
	user_args=()
	if ((EUID == 0)); then
		user_args=(-u root)
	fi
	for p in "${peers[@]}"; do
		addr="$(cfg "$p.replica_addr")"
		host="${addr%:*}"
		port="${addr##*:}"
		log="$logs/memcached-$p.log"
		started=true
		# -I 2m: the envelope header makes a 1 MiB client value slightly larger.
		nohup memcached -l "${host:-127.0.0.1}" -p "$port" -U 0 -m 64 -I 2m "${user_args[@]}" \
			</dev/null >"$log" 2>&1 &
		pid=$!
		echo "$pid" >"$pids/memcached-$p.pid"
		if ! wait_tcp "$(dial_addr "$addr")" 10 "$pid" || ! alive "$pid"; then
			echo "startup.sh: memcached for $p did not start on $addr" >&2
			show_log_tail "$log"
			exit 1
		fi
		echo "started memcached for $p on $addr (pid $pid)"
	done
fi

for p in "${peers[@]}"; do
	log="$logs/$p.log"
	started=true
	nohup "$bin" serve --config "$config" --name "$p" "${overrides[@]}" </dev/null >"$log" 2>&1 &
	pid=$!
	echo "$pid" >"$pids/$p.pid"
	echo "started $p (pid $pid, log $log)"
done

# cluster_up succeeds when every peer's show table lists every peer as up
# or self, none as down.
cluster_up() {
	local p q out line
	for p in "${peers[@]}"; do
		out="$("$bin" show --addr "$(dial_addr "$(cfg "$p.client_addr")")" --timeout 2s 2>/dev/null)" || return 1
		for q in "${peers[@]}"; do
			# The first table's rows start with the peer name.
			line="$(grep -m 1 -E "^${q}[[:space:]]" <<<"$out")" || return 1
			grep -qwE 'up|self' <<<"$line" || return 1
			if grep -qw down <<<"$line"; then
				return 1
			fi
		done
	done
}

echo "waiting for the peers to see each other (up to 20s)"
deadline=$((SECONDS + 20))
until cluster_up; do
	for p in "${peers[@]}"; do
		if ! alive "$(cat "$pids/$p.pid")"; then
			echo "startup.sh: $p exited" >&2
			show_log_tail "$logs/$p.log"
			exit 1
		fi
	done
	if ((SECONDS >= deadline)); then
		echo "startup.sh: the peers did not all see each other up within 20s" >&2
		for p in "${peers[@]}"; do
			show_log_tail "$logs/$p.log"
		done
		exit 1
	fi
	sleep 0.5
done

client_addrs=()
for p in "${peers[@]}"; do
	client_addrs+=("$(dial_addr "$(cfg "$p.client_addr")")")
done
echo "waiting until the cluster can serve (up to 60s)"
if ! ready="$("$bin" wait-ready --addr "$(
	IFS=,
	echo "${client_addrs[*]}"
)" --wait 60s)"; then
	echo "startup.sh: the cluster is not ready; logs are in $logs" >&2
	exit 1
fi
echo "$ready"

first="${client_addrs[0]}"
echo
"$bin" show --addr "$first" || true
echo
echo "memcons is up: ${#peers[@]} peers, mode $mode, store $store"
for i in "${!peers[@]}"; do
	echo "  ${peers[$i]}: ${client_addrs[$i]}"
done
stop_cmd="./stop.sh"
if [[ "$run" != "$root/run" ]]; then
	stop_cmd="MEMCONS_RUN_DIR=$run ./stop.sh"
fi
cat <<EOF

Connect with any memcached client, or:
  nc ${first%:*} ${first##*:}            (or: telnet ${first%:*} ${first##*:})
  ${bin#"$root"/} cli --addr $first
  ${bin#"$root"/} show --addr $first
Stop with:
  $stop_cmd
EOF
