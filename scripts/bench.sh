#!/usr/bin/env bash
# bench.sh: memcaslap against plain memcached and against memcons in front of
# identical memcacheds, all in the same run, alternating targets round by
# round; prints the median ops/s of each target and its ratio to memcached.
#
# Targets: plain memcached; twemproxy (nutcracker) in front of one memcached,
# when installed; one memcons peer in front of one memcached and on the
# embedded store; and, for each mode in --modes, a three-peer memcons cluster
# over three memcacheds, memcaslap against its first peer.
#
#   scripts/bench.sh [--time 10s] [--concurrency 32] [--value-size 100] [--rounds 3]
#                    [--modes "eventual sequential linearizable"] [--single yes|no]
#                    [--latency yes|no]
#
# --latency yes also runs `memcons bench` (Go client, same concurrency, 9:1
# get/set) once per target and prints p50/p99 of reads and writes.
set -euo pipefail

time_s=10s concurrency=32 value_size=100 rounds=3 modes="eventual sequential linearizable"
single=yes latency=no
while (($# > 0)); do
	case "$1" in
	--time) time_s="$2" ;;
	--concurrency) concurrency="$2" ;;
	--value-size) value_size="$2" ;;
	--rounds) rounds="$2" ;;
	--modes) modes="$2" ;;
	--single) single="$2" ;;
	--latency) latency="$2" ;;
	*) echo "bench.sh: unknown argument $1" >&2 && exit 2 ;;
	esac
	shift 2
done
for tool in memcached memcaslap go; do
	command -v "$tool" >/dev/null || { echo "bench.sh: $tool not installed (apt-get install memcached libmemcached-tools)" >&2; exit 1; }
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
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

# free_port sets port to a loopback port nobody listens on, from 20000 up.
# It sets a variable rather than printing: in a $(...) subshell next_port
# would not advance, and ports not yet listened on would be handed out twice.
next_port=20000 port=0
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
start_memcached() {
	memcached -l 127.0.0.1 -p "$1" -U 0 -m 256 -I 2m -t 2 "${user[@]}" &
	started+=($!)
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
# start_cluster NAME MODE STORE N: an N-peer cluster, each peer over its own
# fresh memcached (or the embedded store); sets port to peer1's client port.
start_cluster() {
	local name="$1" mode="$2" store="$3" n="$4" i first=""
	local -a clients=() peerps=() replicas=()
	for ((i = 1; i <= n; i++)); do
		free_port && clients+=("$port")
		free_port && peerps+=("$port")
		free_port && replicas+=("$port")
		[[ "$store" == memcached ]] && start_memcached "$port"
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
		"$bin" serve --config "$tmp/$name.ini" --name "peer$i" >"$tmp/$name-peer$i.log" 2>&1 &
		started+=($!)
		peer_pids+=($!)
	done
	wait_memcons "${clients[0]}"
	port=${clients[0]}
}

labels=() ports=()
add_target() { labels+=("$1") && ports+=("$2"); }

free_port && start_memcached "$port" && add_target "memcached" "$port"
if command -v nutcracker >/dev/null; then
	free_port && replica=$port && start_memcached "$replica"
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
	add_target "twemproxy -> memcached" "$proxy"
fi
if [[ "$single" == yes ]]; then
	start_cluster single eventual memcached 1 && add_target "memcons, 1 peer -> memcached" "$port"
	start_cluster embedded eventual memory 1 && add_target "memcons, 1 peer, embedded" "$port"
fi
for mode in $modes; do
	start_cluster "$mode" "$mode" memcached 3 && add_target "memcons $mode, 3 peers" "$port"
done

# tps runs memcaslap against $1 and prints its TPS.
tps() {
	memcaslap -s "127.0.0.1:$1" -T 2 -c "$concurrency" -X "$value_size" -t "$time_s" 2>&1 |
		awk '/^Run time:/ { for (i = 1; i <= NF; i++) if ($i == "TPS:") print $(i + 1) }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for i in "${!labels[@]}"; do : >"$tmp/tps$i"; done
for r in $(seq "$rounds"); do
	line="round $r:"
	for i in "${!labels[@]}"; do
		v="$(tps "${ports[i]}")"
		[[ -n "$v" ]] || v=0
		echo "$v" >>"$tmp/tps$i"
		line+=" ${labels[i]} $v;"
	done
	echo "$line"
done
for pid in "${peer_pids[@]}"; do
	kill -0 "$pid" 2>/dev/null || { echo "bench.sh: a peer exited:" >&2; cat "$tmp"/*.log >&2; exit 1; }
done

plain="$(median <"$tmp/tps0")"
ratio() { awk -v a="$1" -v b="$plain" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "memcaslap -T 2 -c $concurrency -X $value_size -t $time_s, median of $rounds rounds"
printf '%-34s %10s %7s\n' target ops/s ratio
for i in "${!labels[@]}"; do
	v="$(median <"$tmp/tps$i")"
	printf '%-34s %10s %7s\n' "${labels[i]}" "$v" "$(ratio "$v")"
done

if [[ "$latency" == yes ]]; then
	echo
	echo "memcons bench --conns $concurrency --value-size $value_size --duration $time_s (9:1 get/set)"
	printf '%-34s %10s %10s %10s %10s %10s\n' target ops/s read_p50 read_p99 write_p50 write_p99
	for i in "${!labels[@]}"; do
		"$bin" bench --addr "127.0.0.1:${ports[i]}" --conns "$concurrency" --value-size "$value_size" \
			--duration "$time_s" --quiet >"$tmp/lat$i.txt" 2>&1 || { cat "$tmp/lat$i.txt" >&2; continue; }
		awk -v label="${labels[i]}" '
			/^ran / { for (f = 1; f <= NF; f++) if ($f == "ops/s,") ops = $(f - 1) }
			$1 == "reads" && NF >= 8 { rp50 = $3; rp99 = $4 }
			$1 == "writes" && NF >= 8 { wp50 = $3; wp99 = $4 }
			END { printf "%-34s %10s %10s %10s %10s %10s\n", label, ops, rp50, rp99, wp50, wp99 }' "$tmp/lat$i.txt"
	done
fi
