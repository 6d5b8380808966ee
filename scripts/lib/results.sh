# shellcheck shell=bash
# Test suites (scripts/suites) and KTAP results.

SUITES_FILE="$SCRIPTS/suites"
TOTAL_PASS=0
TOTAL_FAIL=0
TOTAL_SKIP=0

# Lines "name variant program [kernel args...]" without comments.
suite_lines() {
	[[ -f "$SUITES_FILE" ]] || die "no suite table $SUITES_FILE"
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$SUITES_FILE"
}

# Parse the KTAP between the BEGIN/END markers of a ktap log: lines
# "pass|fail<TAB>name", "skip<TAB>name<TAB>reason", "skipall<TAB>reason" and
# "error<TAB>message" (scripts/lib/ktap.awk; its tests: scripts/tests/ktap).
ktap_parse() {
	awk -v markers=1 -f "$SCRIPTS/lib/ktap.awk" "$1"
}

# suite_report NAME [SKIP...]: summarize one suite, add to the totals. SKIP
# are the tests scripts/suites declares skipped in this suite (skip=NAME);
# any other skip, and a skipped whole program, is a failure: the guest is
# fixed, so a missing TPM, option, policy, image or tool is an error.
# Returns non-zero when the suite failed.
suite_report() {
	local name=$1 log="$RUN_DIR/$1.ktap.log" status kind tname reason
	shift
	local pass=0 fail=0 skip=0 t
	local -a failed_names=() notes=() ran=()
	local -A declared=()
	for t in "$@"; do
		declared[$t]=1
	done
	status=$(guest_exit_status "$name")
	while IFS=$'\t' read -r kind tname reason; do
		case "$kind" in
		pass)
			pass=$((pass + 1))
			ran+=("$tname")
			;;
		fail)
			fail=$((fail + 1))
			failed_names+=("$tname")
			ran+=("$tname")
			;;
		skip)
			if [[ -v "declared[$tname]" ]]; then
				skip=$((skip + 1))
				notes+=("skipped as declared: $tname${reason:+ ($reason)}")
			else
				fail=$((fail + 1))
				notes+=("skipped, and scripts/suites declares no skip=$tname: ${reason:-no reason given}")
			fi
			;;
		skipall)
			fail=$((fail + 1))
			notes+=("the whole program skipped: $tname")
			;;
		error)
			fail=$((fail + 1))
			notes+=("KTAP: $tname")
			;;
		esac
	done < <(ktap_parse "$log")
	for t in "${ran[@]}"; do
		if [[ -v "declared[$t]" ]]; then
			fail=$((fail + 1))
			notes+=("scripts/suites declares skip=$t, but it ran")
		fi
	done
	if ! grep -q '^# ISTEST-BEGIN' "$log"; then
		notes+=("the program never started")
		fail=$((fail + 1))
	elif [[ -z "$status" ]]; then
		notes+=("the program did not complete (crash, hang or kernel panic)")
		fail=$((fail + 1))
	elif ((status != 0 && fail == 0)) && ! ((status == 4 && skip > 0 && pass == 0)); then
		notes+=("exit status $status without a failed result")
		fail=$((fail + 1))
	fi
	TOTAL_PASS=$((TOTAL_PASS + pass))
	TOTAL_FAIL=$((TOTAL_FAIL + fail))
	TOTAL_SKIP=$((TOTAL_SKIP + skip))
	say "$name: $pass passed, $fail failed, $skip skipped (ktap: $log)"
	for t in "${failed_names[@]}"; do
		printf '        not ok: %s\n' "$t"
	done
	for t in "${notes[@]}"; do
		printf '        %s\n' "$t"
	done
	if ((fail > 0)); then
		printf '        stderr and kernel log: %s\n' "$(console_logs "$name" | paste -sd ' ')"
	fi
	((fail == 0))
}

# A suite that failed before or outside its KTAP (hang, splat, not built).
suite_broken() {
	TOTAL_FAIL=$((TOTAL_FAIL + 1))
	say "$1: FAILED: $2"
}

print_totals() {
	printf '%d passed, %d failed, %d skipped\n' "$TOTAL_PASS" "$TOTAL_FAIL" "$TOTAL_SKIP"
}

# kunit_collect NAME [BOOT]: turn the KUnit results in the console log of a
# boot with kunit.enable=1 (the suite BOOT's, else NAME's own) into NAME's
# KTAP log, with the kernel's own tools/testing/kunit/kunit.py; its
# readable summary goes to NAME.kunit.log. The boot of another suite ran
# its program after KUnit: its completing is what counts here, not how
# the program did (that suite reports it).
kunit_collect() {
	local name=$1 boot=${2:-$1}
	local console="$RUN_DIR/$boot.console.log" out="$RUN_DIR/$name.ktap.log"
	local kunit_py="$SRC/tools/testing/kunit/kunit.py" status ktap
	status=$(guest_exit_status "$boot")
	if [[ "$boot" != "$name" ]]; then
		[[ -z "$status" ]] || status=0
		ln -sfn "$boot.console.log" "$RUN_DIR/$name.console.log"
	fi
	ktap=$(python3 "$kunit_py" parse --raw_output=kunit "$console")
	python3 "$kunit_py" parse "$console" >"$RUN_DIR/$name.kunit.log" 2>&1 || true
	{
		echo "# ISTEST-BEGIN $name"
		[[ -n "$ktap" ]] && printf '%s\n' "$ktap"
		[[ -n "$status" ]] && echo "# ISTEST-END $name exit=$status"
		echo "# ISTEST-DONE"
	} >"$out"
}
