# shellcheck shell=bash
# The base kernel tree: a pristine copy of the Debian source and a build
# source tree = pristine + the project's files (the overlay).

LINUX_TARBALL=/usr/src/linux-source-6.12.tar.xz
PRISTINE="$CACHE/pristine/linux-source-6.12"
SRC="$CACHE/src/linux"
OVERLAY_LIST="$CACHE/src/overlay.list"
STAGE="$CACHE/stage"
BASE_MANIFEST=${IMA_STAGING_BASE_MANIFEST:-$SCRIPTS/base-files.sha256}

# Directories of the repository that are copied into the kernel tree as is.
OVERLAY_DIRS=(security Documentation)
# Directories the project adds as a whole: recorded once, not file by file.
SELFTESTS_REL=tools/testing/selftests/ima_staging
KEEPER_REL=tools/ima_keeper
# The record, replay and securityfs library both share.
IMA_LIB_REL=tools/lib/ima
WHOLE_DIRS=("$SELFTESTS_REL" "$KEEPER_REL" "$IMA_LIB_REL")

# --- pristine tree -------------------------------------------------------

pristine_check_version() {
	local mk="$1/Makefile" v p
	v=$(sed -n 's/^VERSION = //p' "$mk" 2>/dev/null | head -n 1)
	p=$(sed -n 's/^PATCHLEVEL = //p' "$mk" 2>/dev/null | head -n 1)
	[[ "$v.$p" == 6.12 ]] ||
		die "$mk is not a 6.12 kernel (VERSION='$v' PATCHLEVEL='$p')"
}

# Unpack the tarball once; redo it when the pinned package version changes.
pristine_prepare() {
	local stamp="$CACHE/pristine/.version" log tmp
	if [[ -d "$PRISTINE" && "$(cat "$stamp" 2>/dev/null)" == "$LINUX_SOURCE_VERSION" ]]; then
		pristine_check_version "$PRISTINE"
		return 0
	fi
	[[ -f "$LINUX_TARBALL" ]] || die "$LINUX_TARBALL not found (package $LINUX_SOURCE_PKG)"
	log=$(new_log pristine)
	say "base: unpacking $LINUX_TARBALL (log: $log)"
	# Every build of the old base goes: the new tree's files keep their
	# release dates, older than the objects, so make would keep those.
	rm -rf "$CACHE/pristine" "$CACHE/src" "$CACHE/build" "$CACHE/gates"
	tmp="$CACHE/pristine.tmp"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	run_logged "$log" tar -C "$tmp" -xJf "$LINUX_TARBALL"
	pristine_check_version "$tmp/linux-source-6.12"
	mkdir -p "$CACHE/pristine"
	mv "$tmp/linux-source-6.12" "$PRISTINE"
	rmdir "$tmp"
	printf '%s\n' "$LINUX_SOURCE_VERSION" >"$stamp"
}

# --- the project's files ------------------------------------------------

# Files of the repository copied into the kernel tree, relative paths.
overlay_files() {
	local d
	for d in "${OVERLAY_DIRS[@]}" "${WHOLE_DIRS[@]}"; do
		[[ -d "$REPO/$d" ]] || continue
		(cd "$REPO" && find "$d" -type f \
			! -name '*~' ! -name '*.orig' ! -name '*.rej' ! -name '.*.swp')
	done | LC_ALL=C sort
}

patch_files() {
	local p
	for p in "$REPO"/*.patch; do
		if [[ -f "$p" ]]; then
			printf '%s\n' "$p"
		fi
	done
}

# Kernel paths a unified diff touches (first path component stripped).
patch_paths() {
	awk '
		/^--- / { old = $0; sub(/^--- /, "", old); sub(/\t.*/, "", old); next_is_new = 1; next }
		/^\+\+\+ / && next_is_new {
			new = $0; sub(/^\+\+\+ /, "", new); sub(/\t.*/, "", new)
			p = (new == "/dev/null") ? old : new
			sub(/^[^\/]*\//, "", p)
			print p
		}
		{ next_is_new = 0 }
	' "$1" | LC_ALL=C sort -u
}

# Every kernel path the project replaces, adds or patches.
touched_paths() {
	local p
	{
		overlay_files
		while read -r p; do
			patch_paths "$p"
		done < <(patch_files)
	} | LC_ALL=C sort -u
}

# The directory added as a whole that PATH is in, or nothing.
whole_dir_of() {
	local d
	for d in "${WHOLE_DIRS[@]}"; do
		if [[ "$1" == "$d"/* ]]; then
			printf '%s\n' "$d"
		fi
	done
}

# Paths checked against the manifest: a directory added as a whole counts once.
base_paths() {
	local -A seen=()
	local p d
	while read -r p; do
		d=$(whole_dir_of "$p")
		if [[ -n "$d" ]]; then
			[[ -n "${seen[$d]:-}" ]] && continue
			seen[$d]=1
			printf '%s/\n' "$d"
		else
			printf '%s\n' "$p"
		fi
	done < <(touched_paths)
}

# sha256 of the pristine version of a path, or "absent" / "present" (dirs).
base_sha() {
	local p=$1
	if [[ "$p" == */ ]]; then
		if [[ -e "$PRISTINE/$p" ]]; then echo present; else echo absent; fi
	elif [[ -f "$PRISTINE/$p" ]]; then
		sha256sum "$PRISTINE/$p" | cut -d' ' -f1
	else
		echo absent
	fi
}

base_current_manifest() {
	local p
	while read -r p; do
		printf '%s  %s\n' "$(base_sha "$p")" "$p"
	done < <(base_paths)
}

# Refuse to go on when a base file differs from the recorded one.
# base_recorded ARRAY: the recorded manifest into the associative ARRAY,
# path -> sha256 (or "absent", "present"); empty without a manifest.
base_recorded() {
	local -n into=$1
	local sha path
	[[ -f "$BASE_MANIFEST" ]] || return 0
	while read -r sha path; do
		[[ -z "$sha" || "$sha" == \#* ]] && continue
		# shellcheck disable=SC2034 # a nameref: the caller's array
		into["$path"]=$sha
	done <"$BASE_MANIFEST"
}

base_verify() {
	local -A recorded=()
	local path want have
	local -a bad=()
	base_recorded recorded
	while read -r have path; do
		want=${recorded[$path]:-}
		if [[ -z "$want" ]]; then
			bad+=("$path: not recorded (base: $have)")
		elif [[ "$want" != "$have" ]]; then
			bad+=("$path: recorded $want, base has $have")
		fi
	done < <(base_current_manifest)
	((${#bad[@]} == 0)) && return 0
	die "the base kernel files differ from the ones the project was written against:" \
		"${bad[@]}" \
		"" \
		"manifest: $BASE_MANIFEST" \
		"base:     $PRISTINE (package $LINUX_SOURCE_PKG $LINUX_SOURCE_VERSION)" \
		"Review each file: diff -u $PRISTINE/PATH $REPO/PATH" \
		"(for a patch: check it still applies and means the same), port the" \
		"project's change if needed, then re-record with:" \
		"  scripts/ima-staging base --record"
}

base_record() {
	local tmp
	tmp=$(mktemp)
	{
		echo "# sha256 of the pristine base files the project replaces or patches"
		echo "# (base: $LINUX_SOURCE_PKG $LINUX_SOURCE_VERSION). 'absent': the project adds it."
		echo "# Regenerate after review with: scripts/ima-staging base --record"
		base_current_manifest
	} >"$tmp"
	if [[ -f "$BASE_MANIFEST" ]] && cmp -s "$tmp" "$BASE_MANIFEST"; then
		rm -f "$tmp"
		say "base: $BASE_MANIFEST is up to date"
		return 0
	fi
	if [[ -f "$BASE_MANIFEST" ]]; then
		diff -u "$BASE_MANIFEST" "$tmp" | grep -E '^[-+][^-+#]' | sed 's/^/        /' || true
	fi
	mv -f "$tmp" "$BASE_MANIFEST"
	chmod 644 "$BASE_MANIFEST"
	say "base: recorded $(grep -vc '^#' "$BASE_MANIFEST") entries in $BASE_MANIFEST"
}

# --- staging and the build source tree ----------------------------------

# Build the staged files: project files, then patches on pristine copies.
stage_overlay() {
	local log p path
	rm -rf "$STAGE"
	mkdir -p "$STAGE"
	# One copy for all of them (modes kept): a process per file took seconds.
	overlay_files | (cd "$REPO" && xargs -r -d '\n' cp --parents --preserve=mode -t "$STAGE" --)
	while read -r p; do
		while read -r path; do
			[[ -e "$STAGE/$path" || ! -f "$PRISTINE/$path" ]] && continue
			install -D -m 644 "$PRISTINE/$path" "$STAGE/$path"
		done < <(patch_paths "$p")
		log=$(new_log "patch-$(basename "$p" .patch)")
		if ! patch -p1 -d "$STAGE" --fuzz=0 --batch --no-backup-if-mismatch \
			-i "$p" >"$log" 2>&1; then
			die "$(basename "$p") does not apply cleanly to the base (log: $log)" \
				"$(tail -n 5 "$log")"
		fi
	done < <(patch_files)
}

# Copy FROM to TO when content or mode differ; new mtime only then.
install_if_changed() {
	local from=$1 to=$2
	if [[ -f "$to" ]] && cmp -s "$from" "$to" &&
		[[ "$(stat -c %a "$from")" == "$(stat -c %a "$to")" ]]; then
		return 1
	fi
	mkdir -p "$(dirname "$to")"
	cp "$from" "$to.tmp.$$"
	chmod "$(stat -c %a "$from")" "$to.tmp.$$"
	mv -f "$to.tmp.$$" "$to"
}

src_prepare_tree() {
	local stamp="$CACHE/src/.version" log
	if [[ -d "$SRC" && "$(cat "$stamp" 2>/dev/null)" == "$LINUX_SOURCE_VERSION" ]]; then
		return 0
	fi
	log=$(new_log src)
	say "base: creating the build source tree $SRC"
	rm -rf "$CACHE/src" "$CACHE/build" "$CACHE/gates" "$CACHE/bisect"
	mkdir -p "$CACHE/src"
	run_logged "$log" cp -a "$PRISTINE" "$SRC"
	: >"$OVERLAY_LIST"
	printf '%s\n' "$LINUX_SOURCE_VERSION" >"$stamp"
}

# file_states DIR: "PATH SHA256 MODE" for each path read (relative to DIR)
# that is a file there, in two processes whatever the number of paths.
file_states() {
	local dir=$1 path
	local -a paths=()
	local -A sha=()
	while read -r path; do
		if [[ -f "$dir/$path" ]]; then
			paths+=("$path")
		fi
	done
	((${#paths[@]})) || return 0
	while read -r path; do
		sha[${path#* }]=${path%% *}
	done < <(cd "$dir" && sha256sum -- "${paths[@]}" | sed 's/  / /')
	(cd "$dir" && stat -c '%n %a' -- "${paths[@]}") | while read -r path mode; do
		printf '%s %s %s\n' "$path" "${sha[$path]}" "$mode"
	done
}

# Install staged files, restore files no longer overlaid from pristine.
src_apply_overlay() {
	local path changed=0 restored=0 state
	local -A now=() staged=() built=()
	while read -r path state; do
		staged[$path]=$state
	done < <(touched_paths | file_states "$STAGE")
	while read -r path state; do
		built[$path]=$state
	done < <(touched_paths | file_states "$SRC")
	while read -r path; do
		now[$path]=1
		if [[ -e "$STAGE/$path" ]]; then
			# Only what differs in content or mode is copied (a new mtime).
			if [[ "${staged[$path]:-}" != "${built[$path]:-}" ]]; then
				install_if_changed "$STAGE/$path" "$SRC/$path" && changed=$((changed + 1))
			fi
		elif [[ -e "$SRC/$path" ]]; then
			rm -f "$SRC/$path" # deleted by a patch
			changed=$((changed + 1))
		fi
	done < <(touched_paths)
	while read -r path; do
		[[ -z "$path" || -n "${now[$path]:-}" ]] && continue
		if [[ -f "$PRISTINE/$path" ]]; then
			install_if_changed "$PRISTINE/$path" "$SRC/$path" || true
		else
			rm -f "$SRC/$path"
		fi
		restored=$((restored + 1))
	done <"$OVERLAY_LIST"
	touched_paths >"$OVERLAY_LIST"
	say "base: ${#now[@]} project files, $changed updated, $restored restored from pristine"
}

# deps must be in place. Leaves $SRC ready to build.
base_prepare() {
	pristine_prepare
	base_verify
	src_prepare_tree
	stage_overlay
	src_apply_overlay
}

# --- a newer base ------------------------------------------------------

# What of a base tree the project's files depend on: every path it
# replaces or patches, and IMA's directory for the review.
NEWER_BASE_PARTS=(Makefile MAINTAINERS Documentation security tools/testing/selftests)
NEWER_CHANGED=()
NEWER_FAILED=()
NEWER_IMA=()

# newer_base_tree VERSION: the tree of linux-source-6.12 VERSION, only
# NEWER_BASE_PARTS, downloaded (not installed: that would replace the
# pinned base) and unpacked into the cache once per version.
newer_base_tree() {
	local version=$1 dir="$CACHE/newer-base" tree log deb p
	local -a parts=()
	tree="$dir/$version/linux-source-6.12"
	if [[ ! -f "$tree/Makefile" ]]; then
		log=$(new_log newer-base)
		rm -rf "$dir"
		mkdir -p "$dir/$version"
		apt_download "$LINUX_SOURCE_PKG" "$version" "$dir" "$log" ||
			die "base: downloading $LINUX_SOURCE_PKG $version failed (log: $log)"
		deb=$(ls "$dir"/"${LINUX_SOURCE_PKG}"_*.deb)
		for p in "${NEWER_BASE_PARTS[@]}"; do
			parts+=("linux-source-6.12/$p")
		done
		dpkg-deb --fsys-tarfile "$deb" |
			tar -xO ./usr/src/linux-source-6.12.tar.xz |
			tar -xJ -C "$dir/$version" "${parts[@]}" >>"$log" 2>&1 ||
			die "base: unpacking $deb failed (log: $log)"
		rm -f "$deb"
		pristine_check_version "$tree"
	fi
	printf '%s\n' "$tree"
}

# newer_base_review TREE: how the project's base files differ in TREE.
# Sets NEWER_CHANGED (base files that changed), NEWER_IMA (files under
# security/integrity/ that changed) and NEWER_FAILED (changed files the
# project's change does not apply to, with fuzz 0).
newer_base_review() {
	local tree=$1 path have
	local -A recorded=()
	NEWER_CHANGED=()
	NEWER_FAILED=()
	base_recorded recorded
	mapfile -t NEWER_IMA < <(diff -rq "$PRISTINE/security/integrity" \
		"$tree/security/integrity" 2>&1 | sed "s|$PRISTINE/||; s|$tree/||g")
	while read -r have path; do
		[[ "${recorded[$path]:-}" == "$have" ]] && continue
		NEWER_CHANGED+=("$path")
		[[ "$path" == */ || ! -f "$tree/$path" ]] && continue
		# The project's change to the tested base, applied to the newer one.
		# (diff exits 1 when the files differ: only patch's status counts.)
		if ! { diff -u "$PRISTINE/$path" "$STAGE/$path" || true; } |
			patch --dry-run --fuzz=0 --batch --silent "$tree/$path" >/dev/null 2>&1; then
			NEWER_FAILED+=("$path")
		fi
	done < <(PRISTINE=$tree base_current_manifest)
}

# newer_base_version: apt's version of the base package when it is not the
# pinned one, else nothing.
newer_base_version() {
	local version
	apt_update_once
	version=$(apt_candidate "$LINUX_SOURCE_PKG")
	[[ -n "$version" ]] || die "base: apt knows no package $LINUX_SOURCE_PKG"
	if [[ "$version" != "$LINUX_SOURCE_VERSION" ]]; then
		printf '%s\n' "$version"
	fi
}

# base_update [VERSION]: move the pinned base to VERSION (default: apt's
# newest) when the project's changes apply to it, and re-record the
# manifest.  The caller reviews what it prints and commits.
base_update() {
	local version=${1:-} tree old=$LINUX_SOURCE_VERSION deps="$LIB/deps.sh"
	[[ -n "$version" ]] || version=$(newer_base_version)
	if [[ -z "$version" || "$version" == "$old" ]]; then
		say "base: $LINUX_SOURCE_PKG $old is apt's newest; nothing to do"
		return 0
	fi
	base_prepare
	tree=$(newer_base_tree "$version")
	newer_base_review "$tree"
	((${#NEWER_FAILED[@]} == 0)) ||
		die "base: the project's changes do not apply to $version:" \
			"${NEWER_FAILED[@]}" \
			"Port them (compare with $tree), then run base --update again."
	say "base: $old -> $version"
	say "base: base files that changed: ${NEWER_CHANGED[*]:-none}"
	say "base: changes under security/integrity/: ${#NEWER_IMA[@]}"
	if ((${#NEWER_IMA[@]})); then
		printf '        %s\n' "${NEWER_IMA[@]}"
	fi
	sed -i "s/^LINUX_SOURCE_VERSION=.*/LINUX_SOURCE_VERSION=$version/" "$deps"
	LINUX_SOURCE_VERSION=$version
	require_pkgs "$LINUX_SOURCE_PKG"
	pristine_prepare
	base_record
	base_prepare
	say "base: moved to $version; every kernel rebuilds on the next build."
	say "base: review the changes above, run the full tier, and commit" \
		"scripts/lib/deps.sh and scripts/base-files.sha256."
}
