# shellcheck shell=bash
# Logging, phase timing, failure handling and the paths every library uses.

IMA_STAGING_START=${IMA_STAGING_START:-$SECONDS}
ARCH=x86_64
export ARCH

# Repository root (scripts/lib/common.sh -> ../..).
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck disable=SC2034 # used by the other libraries
SCRIPTS="$REPO/scripts"

# Everything generated lives under the cache dir.
cache_dir() {
	printf '%s\n' "${IMA_STAGING_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ima-staging}"
}
CACHE=$(cache_dir)

elapsed() {
	local s=$((SECONDS - IMA_STAGING_START))
	printf '%2d:%02d' $((s / 60)) $((s % 60))
}

# Announce a phase or step: "[ 0:42] kernel: building (log: ...)".
say() {
	printf '[%s] %s\n' "$(elapsed)" "$*"
}

warn() {
	printf '[%s] WARNING: %s\n' "$(elapsed)" "$*" >&2
}

# Print an error (one argument per line) and exit non-zero.
die() {
	local first=$1
	shift
	printf '[%s] ERROR: %s\n' "$(elapsed)" "$first" >&2
	local line
	for line in "$@"; do
		if [[ -n "$line" ]]; then
			printf '        %s\n' "$line" >&2
		else
			echo >&2
		fi
	done
	exit 1
}

# ERR trap: a command failed that the scripts did not expect to fail.
on_error() {
	trap - ERR
	printf '[%s] ERROR: unexpected failure (status %s) at %s: %s\n' \
		"$(elapsed)" "$1" "$3" "$2" >&2
	exit "$1"
}

# Show the last lines of a log file, indented.
show_tail() {
	local log=$1 lines=${2:-25}
	[[ -s "$log" ]] || return 0
	printf '        --- last %d lines of %s ---\n' "$lines" "$log" >&2
	tail -n "$lines" "$log" | tr -d '\r' | sed 's/^/        | /' >&2
}

# run_logged LOG CMD...: run CMD with all output appended to LOG.
# On failure, name the log, show its tail and exit.
run_logged() {
	local log=$1
	shift
	mkdir -p "$(dirname "$log")"
	if ! "$@" >>"$log" 2>&1; then
		printf '[%s] ERROR: command failed: %s\n' "$(elapsed)" "$*" >&2
		printf '        log: %s\n' "$log" >&2
		if grep -qE ': (fatal )?error: ' "$log"; then
			printf '        --- first errors ---\n' >&2
			grep -m 10 -E ': (fatal )?error: ' "$log" | sed 's/^/        | /' >&2
		fi
		show_tail "$log"
		exit 1
	fi
}

# Start a fresh log file for a phase and print its path.
new_log() {
	local log="$CACHE/logs/build/$1.log"
	mkdir -p "$(dirname "$log")"
	: >"$log"
	printf '%s\n' "$log"
}

need_cmd() {
	command -v "$1" >/dev/null 2>&1 || die "required tool '$1' not found in PATH"
}

# Serialize the steps that write the shared cache (base tree, kernel, guest).
lock_cache() {
	mkdir -p "$CACHE"
	exec {CACHE_LOCK_FD}>"$CACHE/.lock"
	if ! flock -n "$CACHE_LOCK_FD"; then
		say "cache: waiting for another ima-staging run to finish with $CACHE"
		flock "$CACHE_LOCK_FD"
	fi
}

unlock_cache() {
	if [[ -n "${CACHE_LOCK_FD:-}" ]]; then
		exec {CACHE_LOCK_FD}>&-
		CACHE_LOCK_FD=
	fi
}
