#!/bin/sh
# Guest side of "scripts/ima-staging demo": shows what IMA measures, the TPM
# PCR 10 it extends, and that the measurement list replays to that PCR.
# Output goes to the host's terminal, kernel messages stay in the log.

IMA=/sys/kernel/security/ima
TPM=/sys/class/tpm/tpm0
WORK=/tmp/demo
# On the root file system: a kexec soft reboot carries it to the next boot.
STATE=/var/lib/ima-demo
STORE=$STATE/store
STATUS=0

step() {
	echo
	echo "== $*"
}

note() {
	echo "   $*"
}

# Records of an ascii list, hashes shortened to fit a terminal line.
show_records() {
	awk '{
		printf "   %3s %-10s %-7s %-17s %s\n", $1, substr($2, 1, 8) "..", $3,
			substr($4, 1, index($4, ":") + 8) "..", $5
	}'
}

count() {
	cat "$IMA/runtime_measurements_count"
}

intro() {
	step "Kernel $(uname -r), IMA policy"
	note "$(cat "$IMA/policy" 2>/dev/null || echo 'measure func=FILE_CHECK mask=MAY_READ fsmagic=0x858458f6')"
	note "Files read from /measure (a ramfs) are measured; nothing else is."
	if [ -e "$IMA/ascii_runtime_measurements_staged" ]; then
		note "This kernel has measurement staging (CONFIG_IMA_STAGING=y)."
	else
		note "This kernel has no measurement staging files."
	fi
}

measure_files() {
	step "The measurement list"
	note "Records now: $(count) (the first one is the boot aggregate)."
	echo "hello from the guest" >/measure/hello.txt
	uname -a >/measure/uname.txt
	note "Reading /measure/hello.txt and /measure/uname.txt ..."
	cat /measure/hello.txt /measure/uname.txt >/dev/null
	note "Records now: $(count)."
	printf '   %3s %-10s %-7s %-17s %s\n' PCR template format "file hash" file
	head -n 5 "$IMA/ascii_runtime_measurements_sha256" | show_records
}

read_pcr() {
	step "TPM PCR 10 (every record's digest is extended into it)"
	if tpm2_pcrread sha1:10+sha256:10 >"$WORK/pcrread.out" 2>&1; then
		sed 's/^/   /' "$WORK/pcrread.out"
	else
		sed 's/^/   /' "$WORK/pcrread.out"
		note "=> tpm2_pcrread FAILED"
		STATUS=1
	fi
}

# replay LIST: evmctl recomputes PCR 10 from LIST and compares with the TPM.
replay() {
	list=$1
	# The TPM's PCRs in evmctl's --pcrs format.
	ima_tool pcrs-file "$WORK/pcrs-sha1" sha1 >/dev/null
	ima_tool pcrs-file "$WORK/pcrs-sha256" sha256 >/dev/null
	if evmctl ima_measurement --pcrs "sha1,$WORK/pcrs-sha1" \
		--pcrs "sha256,$WORK/pcrs-sha256" "$list" >"$WORK/evmctl.out" 2>&1; then
		sed 's/^/   evmctl: /' "$WORK/evmctl.out"
		note "=> the list replays to the TPM's PCR 10."
	else
		sed 's/^/   evmctl: /' "$WORK/evmctl.out"
		note "=> REPLAY FAILED"
		STATUS=1
	fi
}

replay_current() {
	step "Replaying the list with evmctl ima_measurement"
	note "$(evmctl --version)"
	note "PCR values come from $TPM/pcr-sha1 and pcr-sha256."
	cat "$IMA/binary_runtime_measurements" >"$WORK/list.bin"
	replay "$WORK/list.bin"
}

slab_kb() {
	awk '/^Slab:/ { print $2 }' /proc/meminfo
}

# Replays the saved records followed by the kernel's current list.
replay_saved_and_current() {
	cat "$STORE/saved.sha1" "$IMA/binary_runtime_measurements" >"$WORK/all.bin"
	note "Replaying the $(ima_tool replay "$STORE/saved.sha1" | sed -n 's/^records: //p') saved records followed by the kernel's $(count):"
	replay "$WORK/all.bin"
}

# Staging with prompt: A, read the _staged files, D, on one held writer.
stage_and_delete() {
	[ -e "$IMA/binary_runtime_measurements_staged" ] || return 0
	step "Staging with prompt: A, read the _staged files, D"
	ima_tool measure 2000 >/dev/null
	before=$(count)
	slab_before=$(slab_kb)
	note "The kernel holds $before records; Slab: $slab_before kB."
	# This shell is the writer while fd 4 is open: other processes get
	# EBUSY. Its children read through the descriptors it opened.
	exec 4<>"$IMA/binary_runtime_measurements_sha256_staged"
	exec 5<"$IMA/binary_runtime_measurements_staged"
	if ! printf 'A\n' >&4; then
		note "=> staging (A) FAILED"
		STATUS=1
		exec 4>&- 5<&-
		return 0
	fi
	note "echo A: staged $before records; the current list holds $(count)."
	cat <&4 >>"$STORE/saved.sha256"
	cat <&5 >>"$STORE/saved.sha1"
	note "Saved the staged records: $(wc -c <"$STORE/saved.sha1") bytes (sha1 list)."
	if ! printf 'D\n' >&4; then
		note "=> deleting (D) FAILED"
		STATUS=1
	fi
	exec 4>&- 5<&-
	slab_after=$(slab_kb)
	note "echo D: deleted them. Slab: $slab_after kB ($((slab_before - slab_after)) kB returned)."
	if grep -qw ima_flush_htable /proc/cmdline; then
		note "Booted with ima_flush_htable: their digests left the hash table too."
	else
		note "Their digests stay in the hash table (only the template data is freed);"
		note "'scripts/ima-staging demo --append ima_flush_htable' frees them too."
	fi
	echo "measured after the deletion" >/measure/after.txt
	cat /measure/after.txt >/dev/null
	note "Read /measure/after.txt: the kernel now holds $(count)."
	replay_saved_and_current
}

# Staging and deleting N: an agent deletes exactly what a TPM quote covers.
agent_delete_n() {
	[ -e "$IMA/binary_runtime_measurements_staged" ] || return 0
	step "Staging and deleting N: an attestation agent"
	ima_tool measure 20 >/dev/null
	note "The kernel holds $(count) records. The agent quotes PCR 10 with an attestation"
	note "key, replays the records up to the quoted value and writes their number N:"
	if ima_tool agent-round "$STORE" >"$WORK/agent.out" 2>&1; then
		sed 's/^/   agent: /' "$WORK/agent.out"
	else
		sed 's/^/   agent: /' "$WORK/agent.out"
		note "=> the agent round FAILED"
		STATUS=1
	fi
	note "The kernel now holds $(count) records."
	replay_saved_and_current
}

# kexec: stage without deleting, then soft reboot into the same kernel.
kexec_act() {
	[ -e "$IMA/binary_runtime_measurements_staged" ] || return 0
	[ -r /boot/bzImage ] || return 0
	step "kexec: a soft reboot between A and D"
	ima_tool measure 10 >/dev/null
	exec 4<>"$IMA/binary_runtime_measurements_staged"
	if ! printf 'A\n' >&4; then
		note "=> staging (A) FAILED"
		STATUS=1
		exec 4>&-
		return 0
	fi
	exec 4>&-
	staged=$(wc -l <"$IMA/ascii_runtime_measurements_staged")
	head -n 1 "$IMA/ascii_runtime_measurements_staged" >"$STATE/first-staged"
	ima_tool measure 3 >/dev/null
	note "echo A: staged $staged records, not deleted; 3 more measured: the current"
	note "list holds $(count). Rebooting with kexec: IMA stops measuring, then hands"
	note "the staged records, followed by the current ones, to the next kernel."
	echo "$staged $(count) $STATUS" >"$STATE/kexec"
	ima_tool kexec
	note "=> the kexec FAILED"
	STATUS=1
}

after_kexec() {
	read -r staged current STATUS <"$STATE/kexec"
	step "After the soft reboot (the TPM kept its PCRs)"
	now=$(count)
	note "Before it: $staged staged + $current current records. This kernel holds $now:"
	note "those $((staged + current)) and $((now - staged - current)) it added since it booted (its boot_aggregate"
	note "first); $(wc -l <"$IMA/ascii_runtime_measurements_staged") staged. Its first records:"
	head -n 2 "$IMA/ascii_runtime_measurements" | show_records
	if head -n 1 "$IMA/ascii_runtime_measurements" | cmp -s - "$STATE/first-staged"; then
		note "The first one is the first staged record: staged records came first."
	else
		note "=> the list does NOT start with the staged records"
		STATUS=1
	fi
	replay_saved_and_current
}

# Closing act: ima-keeper saves every record while files keep being
# measured, serves the full log and verifies it against PCR 10.
KEEPER_STORE=$WORK/keeper

keeper() {
	ima-keeper --store "$KEEPER_STORE" "$@"
}

keeper_act() {
	[ -e "$IMA/binary_runtime_measurements_staged" ] || return 0
	command -v ima-keeper >/dev/null || return 0
	step "ima-keeper: every record kept, the kernel's list kept small"
	note "The keeper $(keeper adopt "$STORE/saved.sha1" 2>"$WORK/keeper.log") deleted above: its"
	note "store starts with them. It runs, and saves whenever the kernel holds 500"
	note "records (A, append to the store, fsync, D)."
	# Not through the function: kill must reach ima-keeper itself.
	ima-keeper --store "$KEEPER_STORE" run --max-records 500 --interval-ms 200 \
		2>>"$WORK/keeper.log" &
	keeper_pid=$!
	for round in 1 2 3; do
		ima_tool measure 1000 >/dev/null
		note "Round $round: 1000 files measured; the kernel holds $(count), the full log $(keeper count)."
	done
	kill "$keeper_pid"
	wait "$keeper_pid"
	note "The keeper saved $(grep -c 'saved group' "$WORK/keeper.log") groups. The last records of the full log:"
	keeper log --from "$(($(keeper count) - 2))" --format ascii | show_records
	mkdir -p /run/ima
	ima-keeper --store "$KEEPER_STORE" mount /run/ima 2>>"$WORK/keeper.log" &
	view_pid=$!
	tries=0
	while [ ! -e /run/ima/binary_runtime_measurements ] && [ "$tries" -lt 100 ]; do
		sleep 0.2
		tries=$((tries + 1))
	done
	note "Served with FUSE under /run/ima: $(cd /run/ima && echo *)"
	note "evmctl reads /run/ima/binary_runtime_measurements as it reads securityfs:"
	replay /run/ima/binary_runtime_measurements
	kill "$view_pid"
	wait "$view_pid"
	if keeper verify >"$WORK/verify.out" 2>&1; then
		sed 's/^/   ima-keeper verify: /' "$WORK/verify.out"
	else
		sed 's/^/   ima-keeper verify: /' "$WORK/verify.out"
		note "=> VERIFY FAILED"
		STATUS=1
	fi
}

mkdir -p "$WORK" "$STORE"
if [ -f "$STATE/kexec" ]; then
	after_kexec
	keeper_act
else
	intro
	measure_files
	read_pcr
	replay_current
	stage_and_delete
	agent_delete_n
	kexec_act
	keeper_act
fi
echo
exit "$STATUS"
