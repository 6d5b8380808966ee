# shellcheck shell=bash
# Quality gates: the kernel's own tools (and ours) on the change, run on
# the host by "test" as suites of the variant "host" (scripts/suites).
# Each gate passes or fails as one result and prints the offending lines.

GATES="$CACHE/gates"
GATE_CHECKPATCH_EXCEPTIONS="$SERIES_DIR/checkpatch-exceptions"

# kmake SRCDIR OUT ARGS...: make in a kernel tree, out of tree, with ccache.
kmake() {
	local src=$1 out=$2
	shift 2
	make -C "$src" O="$out" ARCH=x86_64 "CC=ccache gcc" HOSTCC=gcc "$@"
}

# gate_config SRCDIR OUT OPTION=y|n...: the test kernel's configuration
# with some options changed; dies when an option does not hold.
gate_config() {
	local src=$1 out=$2
	shift 2
	gate_config_from "$(kernel_dir test)/.config" "$src" "$out" "$@"
}

# gate_config_from BASE SRCDIR OUT OPTION=y|n...: the configuration BASE
# with some options changed, made with olddefconfig only when BASE or the
# options changed; dies when an option does not hold.
gate_config_from() {
	local base=$1 src=$2 out=$3 opt name want line
	shift 3
	mkdir -p "$out"
	cp "$base" "$out/.config.input.new"
	for opt in "$@"; do
		name=${opt%=*}
		if [[ "${opt#*=}" == y ]]; then
			"$src/scripts/config" --file "$out/.config.input.new" --enable "$name"
		else
			"$src/scripts/config" --file "$out/.config.input.new" --disable "$name"
		fi
	done
	# The same input as last time: keep .config (and its time stamp).
	if [[ -f "$out/.config" ]] && cmp -s "$out/.config.input.new" "$out/.config.input"; then
		rm -f "$out/.config.input.new"
	else
		mv -f "$out/.config.input.new" "$out/.config.input"
		cp "$out/.config.input" "$out/.config"
		kmake "$src" "$out" olddefconfig >/dev/null
	fi
	for opt in "$@"; do
		name=${opt%=*}
		want="CONFIG_$name=y"
		[[ "${opt#*=}" == y ]] || want="# CONFIG_$name is not set"
		line=$(grep -E "^(# )?CONFIG_${name}[= ]" "$out/.config" || true)
		[[ "$line" == "$want" ]] ||
			die "gate: $opt does not hold in $out/.config (got: ${line:-nothing})"
	done
}

# Warnings of a build log as "path: message", without line numbers, so
# that the same warning on a moved line compares equal.
normalized_warnings() {
	sed -n -E 's#^(/[^ :]*/)?((security|include|arch)/[^:]+):[0-9]+(:[0-9]+)?: warning: #\2: warning: #p' "$1" |
		LC_ALL=C sort
}

# new_warnings BASE NOW: warnings of NOW beyond those of BASE (as a
# multiset); prints them.
new_warnings() {
	LC_ALL=C comm -13 <(normalized_warnings "$1") <(normalized_warnings "$2")
}

# Original lines of LOG for the normalized warnings on standard input.
warning_lines() {
	local log=$1 w file msg
	while IFS= read -r w; do
		file=${w%%: warning: *}
		msg=${w#*: warning: }
		grep -F -- "$file:" "$log" | grep -F -- "warning: $msg" | head -n 3
	done
}

# gate_fail NAME LINE...: report a failed gate with its offending lines.
gate_fail() {
	local name=$1
	shift
	TOTAL_FAIL=$((TOTAL_FAIL + 1))
	say "$name: FAILED"
	# sed reads all of it (no SIGPIPE) and shows the first 80 lines.
	printf '%s\n' "$@" | sed -n '1,80s/^/        | /p'
}

gate_pass() {
	TOTAL_PASS=$((TOTAL_PASS + 1))
	say "$1: passed${2:+ ($2)}"
}

# --- the gates -----------------------------------------------------------

gate_shellcheck() {
	local name=$1 out
	local -a files=("$REPO/scripts/ima-staging" "$REPO"/scripts/lib/*.sh
		"$REPO"/scripts/guest/* "$REPO/scripts/sysroot/istest-run" "$REPO/scripts/tools/times-table"
		"$REPO/.ci/run")
	if out=$(cd "$REPO" && shellcheck -x "${files[@]#"$REPO"/}" 2>&1); then
		gate_pass "$name" "${#files[@]} scripts"
	else
		gate_fail "$name" "$out"
	fi
}

# The KTAP parser that decides every suite's result, fed hand-written KTAP:
# each scripts/tests/ktap/NAME.ktap must parse to NAME.expected.
gate_ktap() {
	local name=$1 ktap markers got
	local -a cases=() bad=()
	for ktap in "$REPO"/scripts/tests/ktap/*.ktap; do
		cases+=("$ktap")
		markers=0
		grep -q '^# ISTEST-BEGIN ' "$ktap" && markers=1
		if ! got=$(awk -v markers="$markers" -f "$SCRIPTS/lib/ktap.awk" "$ktap" |
			diff -u "${ktap%.ktap}.expected" - 2>&1); then
			bad+=("${ktap#"$REPO"/}:" "$got")
		fi
	done
	if ((${#cases[@]} == 0)); then
		gate_fail "$name" "no test cases in scripts/tests/ktap"
	elif ((${#bad[@]} > 0)); then
		gate_fail "$name" "${bad[@]}"
	else
		gate_pass "$name" "${#cases[@]} KTAP documents parsed as expected"
	fi
}

# The C++ suite builds with -Wall -Wextra -Werror from a kernel tree,
# through kselftest's lib.mk, and so does tools/ima_keeper.
gate_cxx() {
	local name=$1 log out="$GATES/kselftest"
	log=$(new_log gate-cxx)
	# ccache: the guest's build of the same sources has compiled them.
	if make -C "$SRC/tools/testing/selftests" TARGETS=ima_staging O="$out" \
		CXX="ccache g++" -j"$(nproc)" >"$log" 2>&1 &&
		make -C "$SRC/tools/ima_keeper" OUTPUT="$GATES/ima_keeper" \
			CXX="ccache g++" -j"$(nproc)" >>"$log" 2>&1; then
		# The installed build must not be able to crash itself on request.
		if grep -q IMA_KEEPER_FAULT "$GATES/ima_keeper/ima-keeper"; then
			gate_fail "$name" "the installed ima-keeper build contains fault injection" \
				"(IMA_KEEPER_FAULT in $GATES/ima_keeper/ima-keeper)"
			return
		fi
		gate_pass "$name" "kselftest and ima_keeper builds (no fault injection in ima-keeper), log: $log"
	else
		gate_fail "$name" "$(grep -E 'error|warning' "$log" | head -n 30)" "log: $log"
	fi
}

# ima-keeper installs as a service: its units pass systemd-analyze verify
# against the installed program and manual page (next to the host's own
# units, which they refer to), and the page formats without a warning.
# The most exposure systemd-analyze security may rate a unit, times ten.
GATE_SERVICE_MAX_EXPOSURE=50

gate_service() {
	local name=$1 log out exposure root="$GATES/service-root"
	local -a units=(usr/lib/systemd/system/ima-keeper.service usr/lib/systemd/system/ima-keeper-view.service)
	log=$(new_log gate-service)
	rm -rf "$root" "$root-local"
	if ! make -C "$SRC/tools/ima_keeper" OUTPUT="$GATES/ima_keeper-install" CXX="ccache g++" \
		install DESTDIR="$root" >"$log" 2>&1; then
		gate_fail "$name" "make install failed" "log: $log"
		return
	fi
	cp -an /usr/lib/systemd/system/. "$root/usr/lib/systemd/system/"
	if ! out=$(groff -man -ww -z "$root/usr/share/man/man8/ima-keeper.8" 2>&1) || [[ -n "$out" ]]; then
		gate_fail "$name" "ima-keeper.8 does not format cleanly:" "$out"
		return
	fi
	if ! (cd "$root" && MANPATH="$root/usr/share/man" \
		systemd-analyze verify --root="$root" "${units[@]}") >>"$log" 2>&1; then
		gate_fail "$name" "systemd-analyze verify refuses the units:" "$(tail -n 20 "$log")" "log: $log"
		return
	fi
	# The sandbox: systemd's own rating of each unit, offline.
	if ! out=$(cd "$root" && systemd-analyze security --offline=true \
		--threshold="$GATE_SERVICE_MAX_EXPOSURE" "${units[@]}" 2>&1); then
		gate_fail "$name" "a unit is exposed above $((GATE_SERVICE_MAX_EXPOSURE / 10)).$((GATE_SERVICE_MAX_EXPOSURE % 10)):" \
			"$(grep 'Overall exposure' <<<"$out")" "$(grep '✗' <<<"$out" | head -n 30)"
		return
	fi
	exposure=$(sed -n 's/.*Overall exposure level for \([^:]*\): \([0-9.]*\).*/\1 \2/p' <<<"$out" | paste -sd ',' | sed 's/,/, /g')
	# The units run the program where make install put it.
	if ! make -C "$SRC/tools/ima_keeper" OUTPUT="$GATES/ima_keeper-install" CXX="ccache g++" \
		install DESTDIR="$root-local" prefix=/usr/local >>"$log" 2>&1 ||
		[[ $(grep -l '^ExecStart=/usr/local/sbin/ima-keeper ' \
			"$root-local/usr/local/lib/systemd/system/"*.service | wc -l) != "${#units[@]}" ]]; then
		gate_fail "$name" "with prefix=/usr/local the units do not run /usr/local/sbin/ima-keeper" "log: $log"
		return
	fi
	gate_pass "$name" "make install, systemd-analyze verify of ${#units[@]} units, exposure $exposure, ima-keeper.8, the units follow sbindir, log: $log"
}

# reStructuredText through docutils (scripts/tools/rstcheck); kernel-doc comments of the changed
# C files, no new kernel-doc warnings against the pristine files.
gate_docs() {
	local name=$1 path out
	local -a bad=()
	while read -r path; do
		[[ "$path" == *.rst ]] || continue
		if ! out=$(cd "$STAGE" && /usr/bin/python3 "$SCRIPTS/tools/rstcheck" "$path" 2>&1); then
			bad+=("docutils: $out")
		fi
	done < <(touched_paths)
	while read -r path; do
		[[ "$path" == *.[ch] && "$path" != tools/* ]] || continue
		out=$("$SRC/scripts/kernel-doc" -none -Wall "$STAGE/$path" 2>&1 | sed "s#$STAGE/##g" | LC_ALL=C sort)
		if [[ -f "$PRISTINE/$path" ]]; then
			out=$(LC_ALL=C comm -13 <("$SRC/scripts/kernel-doc" -none -Wall "$PRISTINE/$path" 2>&1 |
				sed -E "s#$PRISTINE/##g" | sed -E 's/:[0-9]+:/:/' | LC_ALL=C sort) \
				<(printf '%s\n' "$out" | sed -E 's/:[0-9]+:/:/' | LC_ALL=C sort))
		fi
		[[ -z "$out" ]] || bad+=("$path: kernel-doc: $out")
	done < <(touched_paths)
	out=$(readme_times_difference) || bad+=("README.md: the times table is not what scripts/tools/times-table writes:" "$out")
	if ((${#bad[@]} == 0)); then
		gate_pass "$name" "docutils, kernel-doc -Wall, the README's times table"
	else
		gate_fail "$name" "${bad[@]}"
	fi
}

# The README's times table is scripts/tools/times-table's output for the
# summaries its opening marker names; prints the difference, if any.
readme_times_difference() {
	local readme="$REPO/README.md" marker
	local -a summaries
	marker=$(grep -m1 '^<!-- times-table: .* -->$' "$readme") || {
		echo "no '<!-- times-table: SUMMARY... -->' marker"
		return 1
	}
	marker=${marker#'<!-- times-table: '}
	read -r -a summaries <<<"${marker%' -->'}"
	diff <(cd "$REPO" && scripts/tools/times-table "${summaries[@]}" 2>&1) \
		<(sed -n '/^<!-- times-table: /,/^<!-- end of times-table -->$/p' "$readme" | sed '1d;$d')
}

# The series applies with git am to the pristine base and ends at the
# project's files.
gate_series() {
	local name=$1 n
	local -a diffs signoffs
	mapfile -t signoffs < <(series_signoffs)
	if ((${#signoffs[@]} > 0)); then
		gate_fail "$name" "series/ signs patches off (the sender's export adds the sign-off):" "${signoffs[@]}"
		return 0
	fi
	if ! series_apply; then
		gate_fail "$name" "${SERIES_ERROR[@]}"
		return 0
	fi
	mapfile -t diffs < <(series_differences)
	n=$(series_commits | wc -l)
	if ((${#diffs[@]} == 0)); then
		gate_pass "$name" "$n patches applied with git am, tree equals the project's files"
	else
		gate_fail "$name" "after the $n patches:" "${diffs[@]}"
	fi
}

# Patch numbers and checkpatch types the README justifies, as
# --ignore options for patch $1.
checkpatch_ignores() {
	local num=$1 n type
	[[ -f "$GATE_CHECKPATCH_EXCEPTIONS" ]] || return 0
	while read -r n type _; do
		[[ -z "$n" || "$n" == \#* ]] && continue
		if [[ "$n" == "$num" ]]; then
			printf -- '--ignore=%s\n' "$type"
		fi
	done <"$GATE_CHECKPATCH_EXCEPTIONS"
}

gate_checkpatch() {
	local name=$1 dir="$GATES/export" patch out num
	local -a bad=() ignores=()
	# What gate-series checks; here only whether there is a series to read.
	if ! series_apply; then
		gate_fail "$name" "${SERIES_ERROR[@]}"
		return 0
	fi
	series_format "$dir"
	# As an export signs them off: with a stand-in for the sender.
	series_sign "$dir" "Patch Sender <sender@example.org>"
	for patch in "$dir"/[0-9][0-9][0-9][0-9]-*.patch; do
		num=$(basename "$patch" | cut -c1-4)
		[[ "$num" == 0000 ]] && continue
		mapfile -t ignores < <(checkpatch_ignores "$num")
		# Debian's python3 (spdxcheck.py needs python3-ply and python3-git).
		if ! out=$(cd "$SERIES_GIT" && PATH="/usr/bin:$PATH" perl scripts/checkpatch.pl --strict \
			--quiet --show-types "${ignores[@]}" "$patch" 2>&1); then
			bad+=("$(basename "$patch"):" "$out")
		elif [[ -n "$out" ]]; then
			bad+=("$(basename "$patch"):" "$out")
		fi
	done
	if ((${#bad[@]} == 0)); then
		gate_pass "$name" "$(find "$dir" -name '[0-9]*.patch' ! -name '0000-*' | wc -l) patches, --strict"
	else
		gate_fail "$name" "${bad[@]}"
	fi
}

# gate-bisect builds in a source tree and build directory of its own, so
# that guests go on booting the test kernel meanwhile. Both sit at the same
# relative place as the test kernel's ($CACHE/src/linux, $CACHE/build/test):
# with CCACHE_BASEDIR=$CACHE the compiler sees the same relative paths, and
# a first build of it takes its objects from the test kernel's.
BISECT="$CACHE/bisect"
BISECT_SRC="$BISECT/src/linux"
BISECT_OUT="$BISECT/build/test"

# bisect_tree: $BISECT_SRC, a copy of $SRC made with hard links (every
# write to either tree replaces a file, never changes one in place). A new
# base tree removes it with $SRC (src_prepare_tree).
bisect_tree() {
	[[ -d "$BISECT_SRC" ]] && return 0
	rm -rf "$BISECT_SRC.tmp" "$BISECT/build"
	mkdir -p "$BISECT/src"
	cp -al "$SRC" "$BISECT_SRC.tmp"
	mv "$BISECT_SRC.tmp" "$BISECT_SRC"
}

# bisect_states DIR: apply the series and write each patch's state of the
# kernel files it touches (not tools/) to DIR/1, DIR/2, ... (a file a
# patch's tree does not have is absent), its subject to DIR/N.subject, the
# paths to DIR/paths and the number of patches to DIR/count; or, when the
# series does not apply, why to DIR/error.
bisect_states() {
	local dir=$1 c i=0
	local -a paths present
	rm -rf "$dir"
	mkdir -p "$dir"
	if ! series_apply; then
		printf '%s\n' "${SERIES_ERROR[@]}" >"$dir/error"
		return 0
	fi
	series_git diff --name-only base HEAD | grep -v '^tools/' >"$dir/paths"
	mapfile -t paths <"$dir/paths"
	while read -r c; do
		i=$((i + 1))
		mkdir -p "$dir/$i"
		mapfile -t present < <(series_git ls-tree -r --name-only "$c" -- "${paths[@]}")
		series_git archive "$c" -- "${present[@]}" | tar -x -C "$dir/$i"
		series_git log -1 --format=%s "$c" >"$dir/$i.subject"
	done < <(series_commits)
	echo "$i" >"$dir/count"
}

# bisect_tree_to STATE PATH...: PATH... in $BISECT_SRC as STATE has them
# (only changed files are rewritten, so make rebuilds only what they touch).
bisect_tree_to() {
	local state=$1 path
	shift
	for path in "$@"; do
		if [[ -f "$state/$path" ]]; then
			install_if_changed "$state/$path" "$BISECT_SRC/$path" || true
		else
			rm -f "$BISECT_SRC/$path"
		fi
	done
}

# Every patch of the series compiles: the kernel files the series touches
# (not tools/) are set in the gate's own tree to their state after each
# patch in turn, and security/integrity/ima/ is built with W=1 and the test
# kernel's configuration; a compiler warning fails the patch too. At the
# patch that adds the KUnit tests, that kernel is linked and booted, and its
# KUnit results count as a suite of their own. A patch that changes only
# tools/ leaves the tree as the patch before built it, and is not built
# again. The test kernel, which the guests boot, is never touched.
gate_bisect() {
	local name=$1 log lock subject i n failed='' kunit_at='' fails states
	local -a paths errors
	log=$(new_log gate-bisect)
	states="$BISECT/states"
	mkdir -p "$BISECT"
	exec {lock}>"$BISECT/.lock"
	flock "$lock"
	# The series repository is shared with gate-series and gate-checkpatch:
	# it is held only while the patches' states are taken from it.
	series_locked bisect_states "$states"
	if [[ -f "$states/error" ]]; then
		exec {lock}>&-
		mapfile -t errors <"$states/error"
		gate_fail "$name" "${errors[@]}"
		return 0
	fi
	mapfile -t paths <"$states/paths"
	n=$(cat "$states/count")
	bisect_tree
	mkdir -p "$BISECT_OUT"
	for ((i = 1; i <= n; i++)); do
		subject=$(cat "$states/$i.subject")
		if ((i > 1)) && diff -rq "$states/$((i - 1))" "$states/$i" >/dev/null; then
			# Only tools/ changed: the same tree builds the same.
			say "$name: patch $i changes no kernel file, patch $((i - 1))'s build stands: $subject"
			echo "=== patch $i: $subject: no kernel file changed" >>"$log"
			continue
		fi
		say "$name: patch $i: $subject"
		bisect_tree_to "$states/$i" "${paths[@]}"
		cp "$(kernel_dir test)/.config" "$BISECT_OUT/.config"
		rm -f "$BISECT_OUT/security/integrity/ima/"*.o
		echo "=== patch $i: $subject" >>"$log"
		if ! kmake "$BISECT_SRC" "$BISECT_OUT" olddefconfig >>"$log" 2>&1 ||
			! kmake "$BISECT_SRC" "$BISECT_OUT" -j"$(nproc)" W=1 security/integrity/ima/ \
				>"$log.patch" 2>&1; then
			cat "$log.patch" >>"$log"
			failed="patch $i does not build: $subject"
			break
		fi
		cat "$log.patch" >>"$log"
		if grep -q ': warning: ' "$log.patch"; then
			failed="patch $i builds with warnings: $subject"
			break
		fi
		if [[ -z "$kunit_at" && -f "$BISECT_SRC/$KUNIT_TEST_REL" ]]; then
			kunit_at=$i
			say "$name: patch $i adds the KUnit tests: linking its kernel to run them"
			if ! kmake "$BISECT_SRC" "$BISECT_OUT" -j"$(nproc)" bzImage >>"$log" 2>&1; then
				failed="patch $i: the kernel does not link: $subject"
				break
			fi
			fails=$TOTAL_FAIL
			VM_KERNEL="$BISECT_OUT/arch/x86/boot/bzImage" \
				run_kunit_suite "$name-kunit-patch$i" test "$DEFAULT_TIMEOUT" ""
			if ((TOTAL_FAIL > fails)); then
				failed="patch $i: its KUnit tests fail: $subject"
				break
			fi
		fi
	done
	rm -f "$log.patch"
	exec {lock}>&-
	if [[ -n "$failed" ]]; then
		gate_fail "$name" "$failed" \
			"$(grep -E ': (fatal )?error: |: warning: ' "$log" | head -n 10)" "log: $log"
	elif [[ -z "$kunit_at" ]]; then
		gate_fail "$name" "no patch of the series adds $KUNIT_TEST_REL: KUnit never ran" "log: $log"
	else
		gate_pass "$name" "security/integrity/ima/ after each of the $n patches, KUnit at patch $kunit_at, log: $log"
	fi
}

# W=1 and sparse (C=2) on security/integrity/ima/ with the feature on: no
# warning beyond those of the pristine base with the same configuration.
gate_warnings() {
	local name=$1 base_log now_log
	local -a new
	base_log="$GATES/warnings-pristine.log"
	now_log=$(new_log gate-warnings)
	gate_config "$PRISTINE" "$GATES/pristine" IMA_KEXEC=y
	rm -f "$GATES/pristine/security/integrity/ima/"*.o
	kmake "$PRISTINE" "$GATES/pristine" -j"$(nproc)" W=1 C=2 \
		security/integrity/ima/ >"$base_log" 2>&1 ||
		die "gate: the pristine base does not build (log: $base_log)"
	gate_config "$SRC" "$GATES/patched" IMA_STAGING=y IMA_KEXEC=y IMA_STAGING_KUNIT_TEST=y
	rm -f "$GATES/patched/security/integrity/ima/"*.o
	if ! kmake "$SRC" "$GATES/patched" -j"$(nproc)" W=1 C=2 \
		security/integrity/ima/ >"$now_log" 2>&1; then
		gate_fail "$name" "$(grep -E ': (fatal )?error: ' "$now_log" | head -n 10)" "log: $now_log"
		return 0
	fi
	mapfile -t new < <(new_warnings "$base_log" "$now_log")
	if ((${#new[@]} == 0)); then
		gate_pass "$name" "W=1 C=2, $(normalized_warnings "$base_log" | wc -l) warnings of the base, none new"
	else
		gate_fail "$name" "new warnings:" "$(printf '%s\n' "${new[@]}" | warning_lines "$now_log")" "log: $now_log"
	fi
}

# With IMA_STAGING off, IMA is 6.12's: each object of security/integrity/ima/
# calls no function the pristine base's same object does not call (no
# rhashtable_*, no new slab cache, no new allocation), and there is no
# object the base does not have. The exceptions, "object symbol":
GATE_STOCK_ALLOWED=(
	# The kexec fixes for every kernel (patches 1 and 2): a record's
	# size as the dump writes it, the template's name compared.
	"ima_kexec.o ima_binary_record_size"
	"ima_queue.o strcmp"
)

gate_stock() {
	local name=$1 log obj rel extra
	local -a bad=()
	log=$(new_log gate-stock)
	gate_config "$PRISTINE" "$GATES/stock-pristine" IMA_KEXEC=y
	gate_config "$SRC" "$GATES/stock" IMA_STAGING=n IMA_KEXEC=y
	# Objects of an earlier tree must not linger (ccache makes this cheap).
	rm -f "$GATES/stock-pristine/security/integrity/ima/"*.o "$GATES/stock/security/integrity/ima/"*.o
	if ! kmake "$PRISTINE" "$GATES/stock-pristine" -j"$(nproc)" security/integrity/ima/ >"$log" 2>&1; then
		die "gate: the pristine base does not build (log: $log)"
	fi
	if ! kmake "$SRC" "$GATES/stock" -j"$(nproc)" security/integrity/ima/ >>"$log" 2>&1; then
		gate_fail "$name" "$(grep -E ': (fatal )?error: ' "$log" | head -n 10)" "log: $log"
		return 0
	fi
	for obj in "$GATES/stock/security/integrity/ima/"*.o; do
		rel=security/integrity/ima/${obj##*/}
		if [[ ! -f "$GATES/stock-pristine/$rel" ]]; then
			bad+=("$rel: not built by 6.12")
			continue
		fi
		extra=$(LC_ALL=C comm -13 <(nm -u "$GATES/stock-pristine/$rel" | awk '{ print $2 }' | LC_ALL=C sort) \
			<(nm -u "$obj" | awk '{ print $2 }' | LC_ALL=C sort) |
			grep -v -x -F -f <(printf '%s\n' "${GATE_STOCK_ALLOWED[@]}" |
				awk -v o="${obj##*/}" '$1 == o { print $2 }') | paste -sd ' ' || true)
		[[ -z "$extra" ]] || bad+=("$rel calls what 6.12's does not: $extra")
	done
	if ((${#bad[@]} == 0)); then
		gate_pass "$name" "IMA_STAGING=n: $(find "$GATES/stock/security/integrity/ima/" -maxdepth 1 -name '*.o' | wc -l) objects, no call 6.12's lack, log: $log"
	else
		gate_fail "$name" "${bad[@]}" "log: $log"
	fi
}

# Debian's amd64 configuration, the kernel users build, with IMA_STAGING on:
# security/integrity/ima/ compiles with W=1 and sparse (C=2) and no warning.
# The configuration comes from the package linux-config-6.12, downloaded and
# unpacked into the cache, not installed: it depends on linux-source-6.12
# of its own version, which would replace the pinned base.
DEBIAN_CONFIG_PKG=linux-config-6.12
DEBIAN_CONFIG_XZ=usr/src/linux-config-6.12/config.amd64_none_amd64.xz

# debian_config_file: prints the path of Debian's amd64 configuration
# (xz), downloading the package once per version apt knows.
debian_config_file() {
	local dir="$CACHE/debian-config" version deb log
	version=$(apt_candidate "$DEBIAN_CONFIG_PKG")
	if [[ -z "$version" ]]; then
		apt_update_once
		version=$(apt_candidate "$DEBIAN_CONFIG_PKG")
	fi
	[[ -n "$version" ]] || die "gate: apt knows no package $DEBIAN_CONFIG_PKG"
	if [[ ! -f "$dir/$version/$DEBIAN_CONFIG_XZ" ]]; then
		log=$(new_log debian-config-download)
		rm -rf "$dir"
		mkdir -p "$dir/$version"
		apt_download "$DEBIAN_CONFIG_PKG" "$version" "$dir" "$log" ||
			die "gate: downloading $DEBIAN_CONFIG_PKG $version failed (log: $log)"
		deb=$(ls "$dir"/"${DEBIAN_CONFIG_PKG}"_*.deb)
		dpkg-deb -x "$deb" "$dir/$version" >>"$log" 2>&1 ||
			die "gate: unpacking $deb failed (log: $log)"
		[[ -f "$dir/$version/$DEBIAN_CONFIG_XZ" ]] ||
			die "gate: $deb has no $DEBIAN_CONFIG_XZ"
	fi
	printf '%s\n' "$dir/$version/$DEBIAN_CONFIG_XZ"
}

gate_debian_config() {
	local name=$1 out="$GATES/debian-config" log objs config
	config=$(debian_config_file)
	log=$(new_log gate-debian-config)
	mkdir -p "$out"
	xz -dc "$config" >"$out/.config.debian"
	gate_config_from "$out/.config.debian" "$SRC" "$out" IMA_STAGING=y
	# Compiled again (from ccache): warnings show every time.
	rm -f "$out/security/integrity/ima/"*.o
	if ! kmake "$SRC" "$out" -j"$(nproc)" W=1 C=2 security/integrity/ima/ >"$log" 2>&1; then
		gate_fail "$name" "$(grep -E ': (fatal )?error: ' "$log" | head -n 10)" "log: $log"
		return 0
	fi
	objs=$(find "$out/security/integrity/ima/" -maxdepth 1 -name '*.o' ! -name '*.mod.o' | wc -l)
	# Warnings of the kernel's code, not of the host tools built first.
	if [[ -n "$(normalized_warnings "$log")" ]]; then
		gate_fail "$name" "$(normalized_warnings "$log" | warning_lines "$log" | head -n 20)" "log: $log"
	else
		gate_pass "$name" "Debian's ${config#"$CACHE"/debian-config/} with IMA_STAGING=y, W=1 C=2, $objs objects, no warning, log: $log"
	fi
}

# security/integrity/ima/ builds without a warning for every combination
# of IMA_STAGING, IMA_KEXEC and IMA_DISABLE_HTABLE.
gate_matrix() {
	local name=$1 out log s k h combo
	local -a bad=()
	log=$(new_log gate-matrix)
	for s in y n; do
		for k in y n; do
			for h in y n; do
				combo="IMA_STAGING=$s IMA_KEXEC=$k IMA_DISABLE_HTABLE=$h"
				# A directory per combination: warm runs redo little.
				out="$GATES/matrix/staging-$s-kexec-$k-htable-$h"
				echo "=== $combo" >>"$log"
				# shellcheck disable=SC2086 # the combination is a word list
				gate_config "$SRC" "$out" $combo
				# Compiled again (from ccache): warnings show every time.
				rm -f "$out/security/integrity/ima/"*.o
				if ! kmake "$SRC" "$out" -j"$(nproc)" security/integrity/ima/ >>"$log" 2>&1; then
					bad+=("$combo: build failed")
				fi
			done
		done
	done
	if grep -q ': warning: ' "$log"; then
		bad+=("warnings:" "$(grep -B1 ': warning: ' "$log" | head -n 20)")
	fi
	if ((${#bad[@]} == 0)); then
		gate_pass "$name" "8 configurations, log: $log"
	else
		gate_fail "$name" "${bad[@]}" "log: $log"
	fi
}

# A newer base is told, not failed: the tested base stays what it was
# until someone moves it (base --update) and runs the full tier on it.
gate_newer_base() {
	local name=$1 version tree
	version=$(newer_base_version)
	if [[ -z "$version" ]]; then
		gate_pass "$name" "$LINUX_SOURCE_PKG $LINUX_SOURCE_VERSION, the tested base, is apt's newest"
		return 0
	fi
	tree=$(newer_base_tree "$version")
	newer_base_review "$tree"
	if ((${#NEWER_FAILED[@]} == 0)); then
		gate_pass "$name" "NOTICE: $LINUX_SOURCE_PKG $version is newer than the tested $LINUX_SOURCE_VERSION; the project's changes apply to it (changed base files: ${NEWER_CHANGED[*]:-none}; ${#NEWER_IMA[@]} changes under security/integrity/); move with: scripts/ima-staging base --update"
	else
		gate_pass "$name" "NOTICE: $LINUX_SOURCE_PKG $version is newer than the tested $LINUX_SOURCE_VERSION and the project's changes do NOT apply to: ${NEWER_FAILED[*]}; port them, then: scripts/ima-staging base --update"
	fi
}

# series_locked CMD...: CMD with the series repository ($SERIES_GIT) to
# itself: the gates that apply the series take turns, also in the lanes.
series_locked() {
	local lock rc
	exec {lock}>"$CACHE/series.lock"
	flock "$lock"
	"$@"
	rc=$?
	exec {lock}>&-
	return "$rc"
}

# run_gate SUITE GATE: run one gate (program name of a "host" suite).
run_gate() {
	local suite=$1 gate=$2
	mkdir -p "$GATES"
	case "$gate" in
	series | checkpatch)
		series_locked "gate_$gate" "$suite"
		;;
	shellcheck | bisect | ktap | cxx | docs | service | warnings | matrix | stock | debian_config | newer_base)
		"gate_$gate" "$suite"
		;;
	*) suite_broken "$suite" "unknown gate '$gate'" ;;
	esac
}
