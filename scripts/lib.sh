# shellcheck shell=bash disable=SC2034  # run and pids are used by the scripts that source this
# Shared by startup.sh and stop.sh; source it from the repository root.

# run is where startup.sh keeps the binary, pid files and logs;
# MEMCONS_RUN_DIR moves it (tests use that).
run="${MEMCONS_RUN_DIR:-$PWD/run}"
pids="$run/pids"

# is_ours succeeds when pid $1 is alive and is a memcons or memcached
# process (a pid file can outlive its process and the pid be reused).
is_ours() {
	local comm
	kill -0 "$1" 2>/dev/null || return 1
	if [[ -r "/proc/$1/comm" ]]; then
		comm="$(<"/proc/$1/comm")"
		[[ "$comm" == memcons || "$comm" == memcached ]]
	fi
}
