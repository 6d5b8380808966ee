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

# Parse the KTAP between the BEGIN/END markers of a ktap log.
# Prints "fail<TAB>name", "skip<TAB>name<TAB>reason" lines and a last line
# "counts<TAB>pass<TAB>fail<TAB>skip<TAB>planned<TAB>top-level results".
ktap_parse() {
	tr -d '\r' <"$1" | awk '
		BEGIN { top = -1 }
		/^# ISTEST-BEGIN / { inside = 1; next }
		/^# ISTEST-END / { inside = 0; next }
		!inside { next }
		{ match($0, /^[ \t]*/); lvl = RLENGTH; line = substr($0, lvl + 1) }
		line ~ /^1\.\.[0-9]+/ {
			if (top < 0 || lvl < top) { top = lvl; planned = substr(line, 4) + 0; results = 0 }
			next
		}
		line !~ /^(not ok|ok)( |$)/ { next }
		{
			ok = (line ~ /^ok/)
			rest = line; sub(/^(not ok|ok)[ \t]*[0-9]*[ \t]*(-[ \t]*)?/, "", rest)
			name = rest; sub(/[ \t]*#.*$/, "", name)
			directive = ""; reason = ""
			if (match(rest, /#[ \t]*[A-Za-z]+/)) {
				directive = toupper(substr(rest, RSTART + 1, RLENGTH - 1))
				gsub(/[ \t]/, "", directive)
				reason = substr(rest, RSTART + RLENGTH); sub(/^[ \t]*/, "", reason)
			}
			if (top < 0 || lvl == top) results++
			# Subtests come before their parent: a result is a parent when
			# deeper results came since the last result at its level.
			parent = (deeper[lvl] > 0); child_fail = deeper_fail[lvl]
			for (l = lvl; l <= lvl + 64; l++) { deeper[l] = 0; deeper_fail[l] = 0 }
			for (l = 0; l < lvl; l++) deeper[l]++
			if (parent && (ok || child_fail || directive == "SKIP")) next
			if (directive == "SKIP") { skip++; print "skip\t" name "\t" reason }
			else if (ok || directive == "TODO") pass++
			else {
				fail++; print "fail\t" name
				for (l = 0; l < lvl; l++) deeper_fail[l] = 1
			}
		}
		END { printf "counts\t%d\t%d\t%d\t%d\t%d\n", pass, fail, skip, planned, results }
	'
}

# suite_report NAME: summarize one suite, add to the totals.
# Returns non-zero when the suite failed.
suite_report() {
	local name=$1 log="$RUN_DIR/$1.ktap.log" status kind tname reason
	local pass=0 fail=0 skip=0 planned=0 results=0 missing=0 bad=0
	local -a failed_names=() notes=()
	status=$(guest_exit_status "$name")
	while IFS=$'\t' read -r kind tname reason; do
		case "$kind" in
		fail) failed_names+=("$tname") ;;
		skip) notes+=("skipped: $tname${reason:+ ($reason)}") ;;
		counts) IFS=$'\t' read -r pass fail skip planned results <<<"$tname	$reason" ;;
		esac
	done < <(ktap_parse "$log")
	if ! grep -q '^# ISTEST-BEGIN' "$log"; then
		notes+=("the program never started")
		bad=1
	elif [[ -z "$status" ]]; then
		notes+=("the program did not complete (crash, hang or kernel panic)")
		bad=1
	elif ((planned == 0 && results == 0 && status != 4)); then
		notes+=("no KTAP plan or results (exit status $status)")
		bad=1
	elif ((status == 4 && pass + fail + skip == 0)); then
		skip=1
		notes+=("skipped: the whole suite (exit status 4)")
	elif ((status != 0 && status != 4 && fail == 0)); then
		notes+=("exit status $status without a failed result")
		bad=1
	fi
	if ((planned > results)); then
		missing=$((planned - results))
		notes+=("missing results: plan 1..$planned, got $results")
	fi
	fail=$((fail + missing + bad))
	TOTAL_PASS=$((TOTAL_PASS + pass))
	TOTAL_FAIL=$((TOTAL_FAIL + fail))
	TOTAL_SKIP=$((TOTAL_SKIP + skip))
	say "$name: $pass passed, $fail failed, $skip skipped (ktap: $log)"
	local t
	for t in "${failed_names[@]}"; do
		printf '        not ok: %s\n' "$t"
	done
	for t in "${notes[@]}"; do
		printf '        %s\n' "$t"
	done
	if ((fail > 0)); then
		printf '        stderr and kernel log: %s\n' "$RUN_DIR/$name.console.log"
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

# kunit_collect NAME: turn the KUnit results in the console log of a boot
# with kunit.enable=1 into the suite's KTAP log, with the kernel's own
# tools/testing/kunit/kunit.py; its readable summary goes to NAME.kunit.log.
kunit_collect() {
	local name=$1 console="$RUN_DIR/$1.console.log" out="$RUN_DIR/$1.ktap.log"
	local kunit_py="$SRC/tools/testing/kunit/kunit.py" status ktap
	status=$(guest_exit_status "$name")
	ktap=$(python3 "$kunit_py" parse --raw_output=kunit "$console")
	python3 "$kunit_py" parse "$console" >"$RUN_DIR/$name.kunit.log" 2>&1 || true
	{
		echo "# ISTEST-BEGIN $name"
		[[ -n "$ktap" ]] && printf '%s\n' "$ktap"
		[[ -n "$status" ]] && echo "# ISTEST-END $name exit=$status"
		echo "# ISTEST-DONE"
	} >"$out"
}
