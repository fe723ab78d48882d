#!/usr/bin/env bash
# stop.sh: stop what startup.sh started, using its pid files under run/pids:
# the memcons peers first (SIGTERM, then SIGKILL after 10s), then the
# memcached replicas the same way.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
	echo "Usage: ./stop.sh   (stops the cluster started by ./startup.sh)"
	exit 0
fi

stopped=0

# stop_one stops the process named by pid file $1 and removes the file.
stop_one() {
	local f="$1" name pid
	name="$(basename "$f" .pid)"
	pid="$(cat "$f" 2>/dev/null || true)"
	if [[ ! "$pid" =~ ^[0-9]+$ ]] || ! is_ours "$pid"; then
		echo "$name: not running (stale pid file removed)"
		rm -f "$f"
		return
	fi
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + 10))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		echo "$name: still running 10s after SIGTERM; sent SIGKILL (pid $pid)"
	else
		echo "$name: stopped (pid $pid)"
	fi
	rm -f "$f"
	stopped=$((stopped + 1))
}

shopt -s nullglob
peer_files=()
replica_files=()
for f in "$pids"/*.pid; do
	case "$(basename "$f")" in
	memcached-*) replica_files+=("$f") ;;
	*) peer_files+=("$f") ;;
	esac
done

if ((${#peer_files[@]} + ${#replica_files[@]} == 0)); then
	echo "nothing running"
	exit 0
fi

# Peers first, so none of them sees its replica vanish while serving.
for f in "${peer_files[@]}" "${replica_files[@]}"; do
	stop_one "$f"
done
if ((stopped == 0)); then
	echo "nothing running"
fi
