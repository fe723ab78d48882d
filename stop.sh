#!/usr/bin/env bash
# stop.sh: stop what startup.sh started, using its pid files under run/pids
# (or $MEMCONS_RUN_DIR/pids): every memcons peer at once (SIGTERM, then
# SIGKILL for any still running after 10s), then the memcached replicas the
# same way.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
	echo "Usage: ./stop.sh   (stops the cluster started by ./startup.sh; MEMCONS_RUN_DIR names its run directory)"
	exit 0
fi

stopped=0

# stop_group signals every process named by the pid files given, then
# waits for all of them together.
stop_group() {
	local f name pid
	local -a names=() live=()
	for f in "$@"; do
		name="$(basename "$f" .pid)"
		pid="$(cat "$f" 2>/dev/null || true)"
		if [[ ! "$pid" =~ ^[0-9]+$ ]] || ! is_ours "$pid"; then
			echo "$name: not running (stale pid file removed)"
			rm -f "$f"
			continue
		fi
		kill -TERM "$pid" 2>/dev/null || true
		names+=("$name") && live+=("$pid")
	done
	local deadline=$((SECONDS + 10)) i waiting
	while :; do
		waiting=0
		for i in "${!live[@]}"; do
			alive "${live[$i]}" && waiting=1
		done
		((waiting == 0 || SECONDS >= deadline)) && break
		sleep 0.05
	done
	for i in "${!live[@]}"; do
		pid="${live[$i]}" name="${names[$i]}"
		if alive "$pid"; then
			kill -KILL "$pid" 2>/dev/null || true
			echo "$name: still running 10s after SIGTERM; sent SIGKILL (pid $pid)"
		else
			echo "$name: stopped (pid $pid)"
		fi
		rm -f "$pids/$name.pid"
		stopped=$((stopped + 1))
	done
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
	echo "nothing running: no pid files in $pids"
	exit 0
fi

# Peers first, so none of them sees its replica vanish while serving.
((${#peer_files[@]} == 0)) || stop_group "${peer_files[@]}"
((${#replica_files[@]} == 0)) || stop_group "${replica_files[@]}"
if ((stopped == 0)); then
	echo "nothing running: the pid files in $pids named no live process"
fi
