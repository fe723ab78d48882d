# shellcheck shell=bash disable=SC2034  # run and pids are used by the scripts that source this
# Shared by startup.sh and stop.sh; source it from the repository root.

# run is where startup.sh keeps the binary, pid files, logs and (with a
# relative data_dir) the peers' data; MEMCONS_RUN_DIR moves it.
run="${MEMCONS_RUN_DIR:-$PWD/run}"
pids="$run/pids"

# alive succeeds when pid $1 runs: a process that exited but was not yet
# reaped by its parent (a zombie) does not count.
alive() {
	local stat
	kill -0 "$1" 2>/dev/null || return 1
	if [[ -r "/proc/$1/stat" ]]; then
		stat="$(<"/proc/$1/stat")"
		# The state follows the parenthesised command name.
		stat="${stat##*) }"
		[[ "${stat:0:1}" != Z ]]
	fi
}

# is_ours succeeds when pid $1 is alive and is a memcons or memcached
# process (a pid file can outlive its process and the pid be reused).
is_ours() {
	local comm
	alive "$1" || return 1
	if [[ -r "/proc/$1/comm" ]]; then
		comm="$(<"/proc/$1/comm")"
		[[ "$comm" == memcons || "$comm" == memcached ]]
	fi
}
