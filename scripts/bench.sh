#!/usr/bin/env bash
# bench.sh: memcaslap against plain memcached and against one memcons peer in
# front of an identical memcached, in the same run, alternating rounds; prints
# the median ops/s of each and the ratio.
#
#   scripts/bench.sh [--time 10s] [--concurrency 32] [--value-size 100] [--rounds 3] [--mode eventual]
set -euo pipefail

time_s=10s concurrency=32 value_size=100 rounds=3 mode=eventual
while (($# > 0)); do
	case "$1" in
	--time) time_s="$2" ;;
	--concurrency) concurrency="$2" ;;
	--value-size) value_size="$2" ;;
	--rounds) rounds="$2" ;;
	--mode) mode="$2" ;;
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
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "bench.sh: nothing listens on port $1" >&2
	exit 1
}
user=()
[[ "$(id -u)" == 0 ]] && user=(-u root)
start_memcached() {
	memcached -l 127.0.0.1 -p "$1" -U 0 -m 256 -I 2m -t 2 "${user[@]}" &
	started+=($!)
	wait_port "$1"
}

free_port && plain_port=$port
start_memcached "$plain_port"

# start_peer NAME STORE REPLICA_PORT: one single-peer cluster; sets port to
# its client port.
start_peer() {
	local name="$1" store="$2" replica="$3" client peerp
	free_port && client=$port
	free_port && peerp=$port
	cat >"$tmp/$name.ini" <<INI
[cluster]
name = bench
mode = $mode
secret = bench
peers = peer1
data_dir = $tmp/data-$name
store = $store
memory_limit = 256m
[peer1]
client_addr = 127.0.0.1:$client
peer_addr = 127.0.0.1:$peerp
replica_addr = 127.0.0.1:$replica
INI
	"$bin" serve --config "$tmp/$name.ini" --name peer1 >"$tmp/$name.log" 2>&1 &
	started+=($!)
	peer_pids+=($!)
	wait_port "$client"
	# Guard against measuring something else that answers on the port.
	exec 3<>"/dev/tcp/127.0.0.1/$client"
	printf 'version\r\n' >&3
	read -r reply <&3
	exec 3>&-
	[[ "$reply" == *memcons* ]] || { echo "bench.sh: port $client is not a memcons peer: $reply" >&2; exit 1; }
	port=$client
}
peer_pids=()

free_port && replica_port=$port
start_memcached "$replica_port"
start_peer proxy memcached "$replica_port" && client_port=$port
free_port && start_peer embedded memory "$port" && embedded_port=$port

# tps runs memcaslap against $1 and prints its TPS.
tps() {
	memcaslap -s "127.0.0.1:$1" -T 2 -c "$concurrency" -X "$value_size" -t "$time_s" 2>&1 |
		awk '/^Run time:/ { for (i = 1; i <= NF; i++) if ($i == "TPS:") print $(i + 1) }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

: >"$tmp/plain" && : >"$tmp/peer" && : >"$tmp/embedded"
for r in $(seq "$rounds"); do
	p="$(tps "$plain_port")" && echo "$p" >>"$tmp/plain"
	m="$(tps "$client_port")" && echo "$m" >>"$tmp/peer"
	e="$(tps "$embedded_port")" && echo "$e" >>"$tmp/embedded"
	echo "round $r: memcached $p ops/s, memcons -> memcached $m ops/s, memcons embedded $e ops/s"
done
for pid in "${peer_pids[@]}"; do
	kill -0 "$pid" 2>/dev/null || { echo "bench.sh: a peer exited:" >&2; cat "$tmp"/*.log >&2; exit 1; }
done
plain="$(median <"$tmp/plain")" peer="$(median <"$tmp/peer")" embedded="$(median <"$tmp/embedded")"
echo
echo "memcaslap -T 2 -c $concurrency -X $value_size -t $time_s, median of $rounds rounds"
printf '%-34s %10s %7s\n' target ops/s ratio
printf '%-34s %10s %7s\n' "memcached" "$plain" "1.00"
ratio() { awk -v a="$1" -v b="$plain" 'BEGIN { printf "%.2f", a / b }'; }
printf '%-34s %10s %7s\n' "memcons $mode, 1 peer -> memcached" "$peer" "$(ratio "$peer")"
printf '%-34s %10s %7s\n' "memcons $mode, 1 peer, embedded" "$embedded" "$(ratio "$embedded")"
