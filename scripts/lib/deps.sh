# shellcheck shell=bash
# Debian package dependencies: check with dpkg-query, install what is missing.

# The kernel base. Changing it means reviewing scripts/base-files.sha256.
LINUX_SOURCE_PKG=linux-source-6.12
LINUX_SOURCE_VERSION=6.12.118-1~deb12u1

DEPS_KERNEL=(
	"$LINUX_SOURCE_PKG" build-essential flex bison bc libelf-dev libssl-dev
	cpio python3 ccache xz-utils patch
)
# openssl: the key the keeper tests sign files with (guest_populate).
DEPS_GUEST=(
	busybox-static tpm2-tools libtss2-tcti-device0 ima-evm-utils
	kexec-tools cpio gzip libfuse3-dev nettle-dev openssl
)
# e2fsprogs: mke2fs, for the disk of a suite with disk= (scripts/suites).
DEPS_VM=(qemu-system-x86 swtpm swtpm-tools e2fsprogs)
DEPS_DEV=(sparse shellcheck python3-docutils python3-ply python3-git git systemd groff-base man-db)
DEPS_BENCH=(gnuplot-nox)

# Installed version of a package, empty when not installed.
pkg_version() {
	local out
	out=$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}' "$1" 2>/dev/null) || return 0
	[[ "$out" == ii* ]] && printf '%s\n' "${out#*|}"
	return 0
}

# Print the apt-get argument for every package in "$@" that is missing.
missing_pkgs() {
	local pkg have
	for pkg in "$@"; do
		have=$(pkg_version "$pkg")
		if [[ "$pkg" == "$LINUX_SOURCE_PKG" ]]; then
			[[ "$have" == "$LINUX_SOURCE_VERSION" ]] ||
				printf '%s=%s\n' "$pkg" "$LINUX_SOURCE_VERSION"
		elif [[ -z "$have" ]]; then
			printf '%s\n' "$pkg"
		fi
	done
}

APT_UPDATED=${APT_UPDATED:-}

# The version of package PKG that apt would install, empty if none.
apt_candidate() {
	apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v -x '(none)' || true
}

# apt_download PKG VERSION DIR LOG: fetch PKG's .deb of VERSION into DIR,
# downloaded, not installed (as $DIR/PKG_*.deb); apt's output goes to LOG.
apt_download() {
	# apt's sandbox user cannot write to the cache: fetch as root.
	(cd "$3" && apt-get -o APT::Sandbox::User=root download "$1=$2") >"$4" 2>&1
}

# apt-get update, once per run (log: LOG, else the apt log).
apt_update_once() {
	local log=${1:-$CACHE/logs/apt.log}
	[[ -z "$APT_UPDATED" ]] || return 0
	mkdir -p "$(dirname "$log")"
	run_logged "$log" apt-get update
	APT_UPDATED=1
}

apt_install() {
	local log
	log="$CACHE/logs/apt.log"
	mkdir -p "$(dirname "$log")"
	: >"$log"
	say "deps: installing $* (log: $log)"
	export DEBIAN_FRONTEND=noninteractive
	apt_update_once "$log"
	run_logged "$log" apt-get install -y --no-install-recommends \
		--allow-downgrades "$@"
}

# require_pkgs PKG...: make sure every package is installed.
# IMA_STAGING_EXTRA_DEPS adds packages to every check.
require_pkgs() {
	local -a want missing
	read -r -a want <<<"${IMA_STAGING_EXTRA_DEPS:-}"
	want+=("$@")
	mapfile -t missing < <(missing_pkgs "${want[@]}" | sort -u)
	((${#missing[@]} == 0)) && return 0
	if ((EUID != 0)); then
		die "missing Debian packages: ${missing[*]}" \
			"install them as root with:" \
			"apt-get update && apt-get install -y --no-install-recommends --allow-downgrades ${missing[*]}"
	fi
	apt_install "${missing[@]}"
	mapfile -t missing < <(missing_pkgs "${want[@]}")
	((${#missing[@]} == 0)) || die "still missing after install: ${missing[*]}"
}

deps_for() {
	case "$1" in
	build | test) require_pkgs "${DEPS_KERNEL[@]}" "${DEPS_GUEST[@]}" "${DEPS_VM[@]}" "${DEPS_DEV[@]}" ;;
	base) require_pkgs "$LINUX_SOURCE_PKG" xz-utils patch ;;
	export) require_pkgs "${DEPS_KERNEL[@]}" git ;;
	bench) require_pkgs "${DEPS_KERNEL[@]}" "${DEPS_GUEST[@]}" "${DEPS_VM[@]}" "${DEPS_BENCH[@]}" ;;
	*) require_pkgs "${DEPS_KERNEL[@]}" "${DEPS_GUEST[@]}" "${DEPS_VM[@]}" ;;
	esac
}
