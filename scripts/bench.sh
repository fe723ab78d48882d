#!/usr/bin/env bash
# bench.sh: memcaslap against plain memcached and against memcons in front of
# identical memcacheds, all in the same run, alternating targets round by
# round; prints the median ops/s of each target and its ratio to memcached.
#
# Targets: plain memcached; twemproxy (nutcracker) in front of one memcached,
# when installed; one memcons peer in front of one memcached and on the
# embedded store; and, for each mode in --modes, a three-peer memcons cluster
# over three memcacheds, memcaslap against its first peer (for the ordered
# modes: against its leader and against a follower); and, with etcd
# installed (Debian: etcd-server), a three-member etcd on loopback loaded by
# ../shared/tools/etcdload (built here) with the same workers, 90% gets and
# value size.
#
# Each round also times one connection sending 10,000 pipelined sets
# (--pipeline N, 0 for none) to every memcache target and prints the median
# seconds. --pipeline-cmd ms sends them as quiet meta sets (ms <key> <len> q)
# ended by one mn, the meta bulk-load pattern, whose only reply is MN;
# twemproxy, which has no meta commands, is left out of that row.
#
#   scripts/bench.sh [--time 10s] [--concurrency 32] [--value-size 100] [--rounds 3]
#                    [--modes "eventual sequential linearizable"] [--single yes|no]
#                    [--latency yes|no] [--threads 2] [--perreq yes|no] [--before BIN]
#                    [--pipeline 10000] [--pipeline-cmd set|ms] [--etcd yes|no]
#
# --latency yes also runs `memcons bench` (Go client, same concurrency, 9:1
# get/set) once per target and prints p50/p99 of reads and writes.
#
# --perreq yes also measures, in each round while memcaslap runs, the CPU
# time, syscalls and context switches per request served of the front
# process (memcached, nutcracker, the memcons peers) and of its backing
# memcacheds, with `perf stat` over the middle of the run, and prints their
# medians. Requests served are the front's (for twemproxy its memcached's)
# cmd_get + cmd_set delta over the same window.
#
# --before BIN adds the single-peer and cluster targets again, run with the
# memcons binary BIN (e.g. one built from main), in the same rounds.
set -euo pipefail

time_s=10s concurrency=32 value_size=100 rounds=3 modes="eventual sequential linearizable"
single=yes latency=no threads=2 perreq=no before="" pipeline=10000 pipeline_cmd=set etcd=yes
while (($# > 0)); do
	case "$1" in
	--time) time_s="$2" ;;
	--concurrency) concurrency="$2" ;;
	--value-size) value_size="$2" ;;
	--rounds) rounds="$2" ;;
	--modes) modes="$2" ;;
	--single) single="$2" ;;
	--latency) latency="$2" ;;
	--threads) threads="$2" ;;
	--perreq) perreq="$2" ;;
	--before) before="$2" ;;
	--pipeline) pipeline="$2" ;;
	--pipeline-cmd) pipeline_cmd="$2" ;;
	--etcd) etcd="$2" ;;
	*) echo "bench.sh: unknown argument $1" >&2 && exit 2 ;;
	esac
	shift 2
done
tools=(memcached memcaslap go)
[[ "$perreq" == yes ]] && tools+=(perf)
for tool in "${tools[@]}"; do
	command -v "$tool" >/dev/null || { echo "bench.sh: $tool not installed (apt-get install memcached libmemcached-tools)" >&2; exit 1; }
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
etcdload_src="$PWD/../shared/tools/etcdload"
if [[ "$etcd" == yes ]] && { ! command -v etcd >/dev/null || [[ ! -d "$etcdload_src" ]]; }; then
	echo "bench.sh: no etcd row (needs etcd, apt-get install etcd-server, and $etcdload_src)" >&2
	etcd=no
fi
go build -o run/bin/memcons .
bin="$PWD/run/bin/memcons"
tmp="$(mktemp -d)"
started=()
cleanup() {
	for pid in "${started[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${started[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# free_port sets port to a loopback port nobody listens on, from a random
# start between 20000 and 39999 (two runs at once then rarely race for the
# same ports). It sets a variable rather than printing: in a $(...) subshell
# next_port would not advance, and ports not yet listened on would be handed
# out twice.
next_port=$((20000 + RANDOM % 20000)) port=0
free_port() {
	while (exec 3<>"/dev/tcp/127.0.0.1/$next_port") 2>/dev/null; do next_port=$((next_port + 1)); done
	port=$next_port
	next_port=$((next_port + 1))
}
wait_port() {
	for _ in $(seq 300); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "bench.sh: nothing listens on port $1" >&2
	cat "$tmp"/*.log >&2 2>/dev/null || true
	exit 1
}
user=()
[[ "$(id -u)" == 0 ]] && user=(-u root)
# start_memcached PORT: sets last_pid to its pid.
start_memcached() {
	memcached -l 127.0.0.1 -p "$1" -U 0 -m 256 -I 2m -t 2 "${user[@]}" &
	started+=($!)
	last_pid=$!
	wait_port "$1"
}

# ask PORT REQUEST: send one request and print the first reply line.
ask() {
	local reply
	exec 3<>"/dev/tcp/127.0.0.1/$1"
	printf '%b' "$2" >&3
	read -r -t 5 reply <&3 || reply="(no reply)"
	exec 3>&-
	printf '%s\n' "${reply%$'\r'}"
}

# wait_memcons PORT: wait until PORT is a memcons peer that stores a write
# (for the ordered modes: a leader is elected and reachable).
wait_memcons() {
	wait_port "$1"
	local reply
	reply="$(ask "$1" 'version\r\n')"
	[[ "$reply" == *memcons* ]] || { echo "bench.sh: port $1 is not a memcons peer: $reply" >&2; exit 1; }
	for _ in $(seq 300); do
		reply="$(ask "$1" 'set bench:warm 0 0 1\r\nx\r\n')"
		[[ "$reply" == STORED ]] && return 0
		sleep 0.1
	done
	echo "bench.sh: port $1 never stored a write: $reply" >&2
	cat "$tmp"/*.log >&2
	exit 1
}

peer_pids=()
# start_cluster NAME MODE STORE N [BIN]: an N-peer cluster, each peer over its
# own fresh memcached (or the embedded store), run by BIN (default the build
# of this tree); sets port to peer1's client port, front to the peers' pids
# and back to the memcacheds' (comma-separated).
start_cluster() {
	local name="$1" mode="$2" store="$3" n="$4" exe="${5:-$bin}" i first=""
	front="" back=""
	local -a clients=() peerps=() replicas=()
	for ((i = 1; i <= n; i++)); do
		free_port && clients+=("$port")
		free_port && peerps+=("$port")
		free_port && replicas+=("$port")
		if [[ "$store" == memcached ]]; then
			start_memcached "$port"
			back+="${back:+,}$last_pid"
		fi
	done
	{
		echo "[cluster]"
		echo "name = bench-$name"
		echo "mode = $mode"
		echo "secret = bench"
		echo "peers = $(for ((i = 1; i <= n; i++)); do printf 'peer%d%s' "$i" "$([[ $i -lt $n ]] && echo ', ')"; done)"
		echo "data_dir = $tmp/data-$name"
		echo "store = $store"
		echo "memory_limit = 256m"
		for ((i = 1; i <= n; i++)); do
			echo "[peer$i]"
			echo "client_addr = 127.0.0.1:${clients[i - 1]}"
			echo "peer_addr = 127.0.0.1:${peerps[i - 1]}"
			echo "replica_addr = 127.0.0.1:${replicas[i - 1]}"
		done
	} >"$tmp/$name.ini"
	for ((i = 1; i <= n; i++)); do
		"$exe" serve --config "$tmp/$name.ini" --name "peer$i" >"$tmp/$name-peer$i.log" 2>&1 &
		started+=($!)
		peer_pids+=($!)
		front+="${front:+,}$!"
	done
	wait_memcons "${clients[0]}"
	port=${clients[0]}
	cluster_clients=("${clients[@]}")
}

# own_role PORT: the raft role the peer on PORT reports for itself.
own_role() {
	local line self="" role=""
	local -a lines=()
	exec 3<>"/dev/tcp/127.0.0.1/$1"
	printf 'stats cluster\r\n' >&3
	while read -r -t 5 line <&3; do
		line="${line%$'\r'}"
		[[ "$line" == END ]] && break
		lines+=("$line")
	done
	exec 3>&-
	for line in "${lines[@]}"; do [[ "$line" == "STAT self "* ]] && self="${line#STAT self }"; done
	for line in "${lines[@]}"; do [[ "$line" == "STAT peer:$self:role "* ]] && role="${line##* }"; done
	printf '%s\n' "$role"
}

# add_ordered LABEL: the cluster just started, as two targets: memcaslap at
# a follower and at the leader (elected by the first write wait_memcons
# made), each told by the role the peer reports.
add_ordered() {
	local p leader="" follower=""
	for _ in $(seq 100); do
		for p in "${cluster_clients[@]}"; do
			case "$(own_role "$p")" in
			leader) leader=$p ;;
			follower) follower=$p ;;
			esac
		done
		[[ -n "$leader" && -n "$follower" ]] && break
		sleep 0.1
	done
	[[ -n "$leader" && -n "$follower" ]] || { echo "bench.sh: no leader and follower in $1" >&2; exit 1; }
	add_target "$1, follower" "$follower" "$front" "$back" "$follower"
	add_target "$1, leader" "$leader" "$front" "$back" "$leader"
}

# Per target: its label, client port, the pids of its front processes and
# of its backing memcacheds, and the port whose stats count its requests.
labels=() ports=() fronts=() backs=() counted=()
add_target() { labels+=("$1") ports+=("$2") fronts+=("$3") backs+=("$4") counted+=("$5"); }
add_cluster() { add_target "$1" "$port" "$front" "$back" "$port"; }

free_port && start_memcached "$port" && add_target "memcached" "$port" "$last_pid" "" "$port"
if command -v nutcracker >/dev/null; then
	free_port && replica=$port && start_memcached "$replica" && replica_pid=$last_pid
	free_port && proxy=$port
	free_port && proxy_stats=$port
	cat >"$tmp/nutcracker.yml" <<YML
bench:
  listen: 127.0.0.1:$proxy
  hash: fnv1a_64
  distribution: ketama
  timeout: 2000
  servers:
    - 127.0.0.1:$replica:1
YML
	nutcracker -c "$tmp/nutcracker.yml" -s "$proxy_stats" -a 127.0.0.1 -p "$tmp/nutcracker.pid" -o "$tmp/nutcracker.log" &
	started+=($!)
	wait_port "$proxy"
	# nutcracker daemonizes only with -d; $! is nutcracker itself.
	add_target "twemproxy -> memcached" "$proxy" "$!" "$replica_pid" "$replica"
fi
# add_memcons SUFFIX BIN: the memcons targets run by BIN, labels + SUFFIX.
add_memcons() {
	local sfx="$1" exe="$2" tag="${1:+-before}"
	if [[ "$single" == yes ]]; then
		start_cluster "single$tag" eventual memcached 1 "$exe" && add_cluster "memcons, 1 peer -> memcached$sfx"
		start_cluster "embedded$tag" eventual memory 1 "$exe" && add_cluster "memcons, 1 peer, embedded$sfx"
	fi
	for mode in $modes; do
		start_cluster "$mode$tag" "$mode" memcached 3 "$exe"
		if [[ "$mode" == eventual ]]; then
			add_cluster "memcons $mode, 3 peers$sfx"
		else
			add_ordered "memcons $mode$sfx"
		fi
	done
}
add_memcons "" "$bin"
[[ -n "$before" ]] && add_memcons " (before)" "$before"

etcd_endpoints=""
if [[ "$etcd" == yes ]]; then
	(cd "$etcdload_src" && go build -o "$tmp/etcdload" .)
	initial="" eclients=() epeers=()
	for i in 1 2 3; do
		free_port && eclients+=("$port")
		free_port && epeers+=("$port")
		initial+="${initial:+,}e$i=http://127.0.0.1:${epeers[i - 1]}"
	done
	for i in 1 2 3; do
		etcd --name "e$i" --data-dir "$tmp/etcd$i" \
			--listen-client-urls "http://127.0.0.1:${eclients[i - 1]}" --advertise-client-urls "http://127.0.0.1:${eclients[i - 1]}" \
			--listen-peer-urls "http://127.0.0.1:${epeers[i - 1]}" --initial-advertise-peer-urls "http://127.0.0.1:${epeers[i - 1]}" \
			--initial-cluster "$initial" --initial-cluster-state new --initial-cluster-token bench \
			--listen-metrics-urls "" >"$tmp/etcd$i.log" 2>&1 &
		started+=($!)
		etcd_endpoints+="${etcd_endpoints:+,}127.0.0.1:${eclients[i - 1]}"
	done
	for p in "${eclients[@]}"; do wait_port "$p"; done
fi

# tps runs memcaslap against $1 and prints its TPS.
tps() {
	memcaslap -s "127.0.0.1:$1" -T "$threads" -c "$concurrency" -X "$value_size" -t "$time_s" 2>&1 |
		awk '/^Run time:/ { for (i = 1; i <= NF; i++) if ($i == "TPS:") print $(i + 1) }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# served PORT: cmd_get + cmd_set in the stats of the server at PORT.
served() {
	exec 3<>"/dev/tcp/127.0.0.1/$1"
	printf 'stats\r\n' >&3
	local n=0 word name value
	while read -r -t 5 word name value <&3; do
		[[ "$word" == END* ]] && break
		[[ "$name" == cmd_get || "$name" == cmd_set ]] && n=$((n + ${value%$'\r'}))
	done
	exec 3>&-
	echo "$n"
}

# perf_window PIDS SECONDS OUT: perf stat of the processes PIDS (commas) for
# SECONDS, as "task_clock_ms syscalls context_switches" into OUT.
perf_window() {
	if [[ -z "$1" ]]; then
		echo "0 0 0" >"$3"
		return
	fi
	perf stat -x, -e task-clock,raw_syscalls:sys_enter,context-switches -p "$1" -- sleep "$2" 2>&1 |
		awk -F, '$3 == "task-clock" { t = $1 } $3 == "raw_syscalls:sys_enter" { s = $1 } $3 == "context-switches" { c = $1 }
			END { print t + 0, s + 0, c + 0 }' >"$3"
}

# measure I ROUND: memcaslap against target I, with perf windows over its
# middle when --perreq yes; appends to the target's result files.
secs="${time_s%s}"
window=$((secs > 4 ? secs - 2 : secs / 2))
measure() {
	local i="$1" pid v n0 n1
	if [[ "$perreq" != yes ]]; then
		v="$(tps "${ports[i]}")"
		echo "${v:-0}" >>"$tmp/tps$i"
		return
	fi
	tps "${ports[i]}" >"$tmp/tps.out" &
	pid=$!
	sleep 1
	n0="$(served "${counted[i]}")"
	perf_window "${fronts[i]}" "$window" "$tmp/front.out" &
	local fp=$!
	perf_window "${backs[i]}" "$window" "$tmp/back.out"
	wait "$fp"
	n1="$(served "${counted[i]}")"
	wait "$pid"
	v="$(cat "$tmp/tps.out")"
	echo "${v:-0}" >>"$tmp/tps$i"
	read -r ft fs fc <"$tmp/front.out"
	read -r bt bs bc <"$tmp/back.out"
	awk -v n=$((n1 - n0)) -v ft="$ft" -v fs="$fs" -v fc="$fc" -v bt="$bt" -v bs="$bs" -v bc="$bc" 'BEGIN {
		if (n <= 0) n = 1
		printf "%.2f %.3f %.3f %.2f %.3f %.3f\n", ft * 1000 / n, fs / n, fc / n, bt * 1000 / n, bs / n, bc / n }' >>"$tmp/per$i"
}

# The pipelined sets, written once: one connection sends them all before
# reading, as a bulk loader does.
value="$(head -c "$value_size" /dev/zero | tr '\0' x)"
# pipe_replies is how many reply lines the pipeline gets.
case "$pipeline_cmd" in
set)
	for ((n = 0; n < pipeline; n++)); do printf 'set pipe:%d 0 0 %d\r\n%s\r\n' "$n" "$value_size" "$value"; done >"$tmp/pipeline.txt"
	pipe_replies=$pipeline pipe_what=sets
	;;
ms)
	{
		for ((n = 0; n < pipeline; n++)); do printf 'ms pipe:%d %d q\r\n%s\r\n' "$n" "$value_size" "$value"; done
		printf 'mn\r\n'
	} >"$tmp/pipeline.txt"
	pipe_replies=1 pipe_what="quiet ms + mn"
	;;
*) echo "bench.sh: --pipeline-cmd is set or ms, not $pipeline_cmd" >&2; exit 1 ;;
esac

# pipe_secs PORT: seconds for one connection to send the pipelined sets and
# read every reply (a writer in the background keeps the socket full).
pipe_secs() {
	local start end n=0 line
	exec 3<>"/dev/tcp/127.0.0.1/$1"
	start=$(date +%s%N)
	cat "$tmp/pipeline.txt" >&3 &
	local writer=$!
	while ((n < pipe_replies)) && read -r -t 60 line <&3; do n=$((n + 1)); done
	end=$(date +%s%N)
	wait "$writer" 2>/dev/null || true
	exec 3>&-
	if ((n < pipe_replies)); then echo 999; return; fi
	[[ "$pipeline_cmd" == set || "${line%$'\r'}" == MN ]] || { echo 999; return; }
	awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'
}

# etcd_run PREFILL: one etcdload run; prints ops/s, then its whole line to
# $tmp/etcd-last.txt.
etcd_run() {
	"$tmp/etcdload" --endpoints "$etcd_endpoints" --workers "$concurrency" --duration "$time_s" \
		--value-size "$value_size" --get-ratio 0.9 --prefill="$1" >"$tmp/etcd-last.txt" 2>&1 || true
	sed -n 's/^ops\/s=\([0-9.]*\).*/\1/p' "$tmp/etcd-last.txt"
}

for i in "${!labels[@]}"; do : >"$tmp/tps$i" && : >"$tmp/per$i" && : >"$tmp/pipe$i"; done
: >"$tmp/etcd" && : >"$tmp/etcd-lines"
for r in $(seq "$rounds"); do
	line="round $r:"
	for i in "${!labels[@]}"; do
		measure "$i"
		line+=" ${labels[i]} $(tail -n 1 "$tmp/tps$i");"
	done
	if [[ "$etcd" == yes ]]; then
		v="$(etcd_run "$([[ $r == 1 ]] && echo true || echo false)")"
		[[ -n "$v" ]] || { cat "$tmp/etcd-last.txt" >&2; v=0; }
		echo "$v" >>"$tmp/etcd"
		cat "$tmp/etcd-last.txt" >>"$tmp/etcd-lines"
		line+=" etcd $v;"
	fi
	echo "$line"
	if ((pipeline > 0)); then
		line="round $r, $pipeline pipelined $pipe_what, seconds:"
		for i in "${!labels[@]}"; do
			v=n/a
			[[ "$pipeline_cmd" == ms && "${labels[i]}" == twemproxy* ]] || v="$(pipe_secs "${ports[i]}")"
			echo "$v" >>"$tmp/pipe$i"
			line+=" ${labels[i]} $v;"
		done
		echo "$line"
	fi
done
for pid in "${peer_pids[@]}"; do
	kill -0 "$pid" 2>/dev/null || { echo "bench.sh: a peer exited:" >&2; cat "$tmp"/*.log >&2; exit 1; }
done

plain="$(median <"$tmp/tps0")"
ratio() { awk -v a="$1" -v b="$plain" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "memcaslap -T $threads -c $concurrency -X $value_size -t $time_s, median of $rounds rounds"
printf '%-44s %10s %7s\n' target ops/s ratio
for i in "${!labels[@]}"; do
	v="$(median <"$tmp/tps$i")"
	printf '%-44s %10s %7s\n' "${labels[i]}" "$v" "$(ratio "$v")"
done
if [[ "$etcd" == yes ]]; then
	e="$(median <"$tmp/etcd")"
	echo
	echo "etcd $(etcd --version | awk 'NR == 1 { print $3 }'), 3 members: etcdload --workers $concurrency --get-ratio 0.9 --value-size $value_size --duration $time_s, median of $rounds rounds"
	printf '%-44s %10s %9s\n' target ops/s "x etcd"
	printf '%-44s %10s %9s\n' etcd "$e" 1.00
	for i in "${!labels[@]}"; do
		[[ "${labels[i]}" == "memcons "* ]] || continue
		v="$(median <"$tmp/tps$i")"
		printf '%-44s %10s %9s\n' "${labels[i]}" "$v" "$(awk -v a="$v" -v b="$e" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
	done
	echo "etcdload lines:"
	cat "$tmp/etcd-lines"
fi
if ((pipeline > 0)); then
	echo
	echo "one connection, $pipeline pipelined $pipe_what of $value_size bytes: seconds, median of $rounds rounds"
	for i in "${!labels[@]}"; do
		printf '%-44s %10s\n' "${labels[i]}" "$(median <"$tmp/pipe$i")"
	done
fi

if [[ "$perreq" == yes ]]; then
	echo
	echo "per request served, median of $rounds rounds (perf stat over ${window}s of each run)"
	echo "front = memcached itself / nutcracker / every memcons peer; back = their memcacheds"
	printf '%-44s %9s %9s %9s %9s %9s %9s\n' target front_us f_sysc f_csw back_us b_sysc b_csw
	for i in "${!labels[@]}"; do
		line="$(printf '%-44s' "${labels[i]}")"
		for col in 1 2 3 4 5 6; do
			line+="$(printf ' %9s' "$(awk -v c=$col '{ print $c }' "$tmp/per$i" | median)")"
		done
		echo "$line"
	done
fi

if [[ "$latency" == yes ]]; then
	echo
	echo "memcons bench --conns $concurrency --value-size $value_size --duration $time_s (9:1 get/set)"
	printf '%-44s %10s %10s %10s %10s %10s\n' target ops/s read_p50 read_p99 write_p50 write_p99
	for i in "${!labels[@]}"; do
		"$bin" bench --addr "127.0.0.1:${ports[i]}" --conns "$concurrency" --value-size "$value_size" \
			--duration "$time_s" --quiet >"$tmp/lat$i.txt" 2>&1 || { cat "$tmp/lat$i.txt" >&2; continue; }
		awk -v label="${labels[i]}" '
			/^ran / { for (f = 1; f <= NF; f++) if ($f == "ops/s,") ops = $(f - 1) }
			$1 == "reads" && NF >= 8 { rp50 = $3; rp99 = $4 }
			$1 == "writes" && NF >= 8 { wp50 = $3; wp99 = $4 }
			END { printf "%-44s %10s %10s %10s %10s %10s\n", label, ops, rp50, rp99, wp50, wp99 }' "$tmp/lat$i.txt"
	done
fi
