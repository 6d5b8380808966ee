# shellcheck shell=bash
# Boot the guest in QEMU with a fresh software TPM, with a timeout, and check
# the console for kernel splats.

# shellcheck disable=SC2034 # used by scripts/ima-staging
DEFAULT_TIMEOUT=300
KERNEL_CMDLINE="console=ttyS0 panic=-1"
# The guest's RAM, and whether it gets a TPM (the benchmark boots without).
VM_MEMORY=1G
VM_TPM=1

# Kernel splats that fail a run. Matched (grep -E) against kernel lines of
# the console log only, i.e. lines with a printk time stamp.
SPLAT_PATTERNS=(
	'WARNING:'
	'BUG:'
	'Oops'
	'KASAN'
	'UBSAN'
	'kernel BUG'
	'general protection fault'
	'Call Trace:'
	'possible recursive locking'
	'possible circular locking'
	'inconsistent lock state'
	'suspicious RCU usage'
	'rcu_.*detected stall'
	'INFO: task .* blocked'
	'list_add corruption'
	'list_del corruption'
	'kmemleak: .*suspected memory leak'
	'Kernel panic'
)

# State of the current boot, for cleanup on exit or Ctrl-C.
VM_PID=
SWTPM_PID=
STREAM_PID=
VM_TMP=

vm_cleanup() {
	local pid
	for pid in "$VM_PID" "$SWTPM_PID" "$STREAM_PID"; do
		if [[ -n "$pid" ]]; then
			kill "$pid" 2>/dev/null || true
		fi
	done
	for pid in "$VM_PID" "$SWTPM_PID" "$STREAM_PID"; do
		if [[ -n "$pid" ]]; then
			wait "$pid" 2>/dev/null || true
		fi
	done
	VM_PID='' SWTPM_PID='' STREAM_PID=''

	[[ -n "$VM_TMP" ]] && rm -rf "$VM_TMP"
	VM_TMP=
	return 0
}

# Per-invocation log directory: $CACHE/logs/<date>-<command>.
run_dir_init() {
	RUN_DIR="$CACHE/logs/$(date +%Y%m%d-%H%M%S)-$1"
	mkdir -p "$RUN_DIR"
	ln -sfn "$(basename "$RUN_DIR")" "$CACHE/logs/latest"
}

swtpm_start() {
	local dir=$1 log=$2 i
	swtpm socket --tpm2 --tpmstate dir="$dir" \
		--ctrl type=unixio,path="$dir/swtpm.sock" \
		--log file="$log",level=1 --terminate &
	SWTPM_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ -S "$dir/swtpm.sock" ]] && return 0
		kill -0 "$SWTPM_PID" 2>/dev/null || break
		sleep 0.1
	done
	die "swtpm did not start (log: $log)" "$(tail -n 5 "$log" 2>/dev/null)"
}

# qemu_args VARIANT INITRD ACCEL SOCKET APPEND CONSOLE-ARGS...
qemu_args() {
	local variant=$1 initrd=$2 accel=$3 sock=$4 append=$5
	shift 5
	local -a cpu=() tpm=()
	[[ "$accel" == kvm ]] && cpu=(-cpu host)
	if ((VM_TPM)); then
		tpm=(-chardev "socket,id=chrtpm,path=$sock"
			-tpmdev "emulator,id=tpm0,chardev=chrtpm" -device "tpm-tis,tpmdev=tpm0")
	fi
	QEMU_ARGS=(
		qemu-system-x86_64 -M q35 -accel "$accel" "${cpu[@]}"
		-m "$VM_MEMORY" -smp 2 -nodefaults -no-user-config -display none -no-reboot
		-kernel "$(kernel_image "$variant")" -initrd "$initrd"
		-append "$KERNEL_CMDLINE${append:+ $append}"
		"${tpm[@]}" "$@"
	)
}

# Show the guest's output channel live, without the marker lines.
stream_output() {
	local file=$1 pid=$2
	(tail -n +1 -F --pid="$pid" "$file" 2>/dev/null |
		sed -u -e 's/\r$//' -e '/^# ISTEST-/d') &
	STREAM_PID=$!
}

# vm_boot NAME VARIANT ACCEL TIMEOUT APPEND STREAM MODE [CMD...]
# Logs: $RUN_DIR/NAME.{console,ktap,qemu,swtpm}.log. Sets VM_TIMED_OUT.
vm_boot() {
	local name=$1 variant=$2 accel=$3 timeout=$4 append=$5 stream=$6 mode=$7
	shift 7
	local console="$RUN_DIR/$name.console.log" out="$RUN_DIR/$name.ktap.log"
	local qlog="$RUN_DIR/$name.qemu.log" rc=0
	VM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ima-staging.XXXXXX")
	boot_initrd "$variant" "$VM_TMP/initrd" "$mode" "$name" "$@"
	if ((VM_TPM)); then
		swtpm_start "$VM_TMP" "$RUN_DIR/$name.swtpm.log"
	fi
	: >"$out"
	VM_TIMED_OUT=0
	if [[ "$mode" == shell ]]; then
		qemu_args "$variant" "$VM_TMP/initrd" "$accel" "$VM_TMP/swtpm.sock" "$append" \
			-chardev "stdio,id=con,mux=on,signal=off,logfile=$console" \
			-serial chardev:con -mon chardev=con,mode=readline -serial "file:$out"
		"${QEMU_ARGS[@]}" 2>"$qlog" || rc=$?
	else
		qemu_args "$variant" "$VM_TMP/initrd" "$accel" "$VM_TMP/swtpm.sock" "$append" \
			-serial "file:$console" -serial "file:$out" -monitor none
		timeout -k 10 "$timeout" "${QEMU_ARGS[@]}" </dev/null >"$qlog" 2>&1 &
		VM_PID=$!
		[[ "$stream" == 1 ]] && stream_output "$out" "$VM_PID"
		wait "$VM_PID" 2>/dev/null || rc=$?
		VM_PID=
		if [[ -n "$STREAM_PID" ]]; then
			wait "$STREAM_PID" || true
			STREAM_PID=
		fi
	fi
	((rc == 124 || rc == 137)) && VM_TIMED_OUT=1
	VM_QEMU_RC=$rc
	vm_cleanup
}

# Kernel lines of a console log that look like a splat, "line:text".
splat_lines() {
	local -a args=()
	local p
	for p in "${SPLAT_PATTERNS[@]}"; do
		args+=(-e "^\[ *[0-9]+\.[0-9]+\] .*($p)")
	done
	tr -d '\r' <"$1" | grep -nE "${args[@]}" || true
}

# vm_check NAME TIMEOUT: report a hang, a splat or an unfinished guest.
# Returns non-zero when the boot failed.
vm_check() {
	local name=$1 timeout=$2
	local console="$RUN_DIR/$name.console.log" out="$RUN_DIR/$name.ktap.log"
	local splats failed=0
	if ((VM_TIMED_OUT)); then
		printf '[%s] FAIL %s: guest hung, killed after %s s (console: %s)\n' \
			"$(elapsed)" "$name" "$timeout" "$console" >&2
		show_tail "$console" 15
		failed=1
	elif ((VM_QEMU_RC != 0)); then
		printf '[%s] FAIL %s: qemu exited with status %s (log: %s)\n' \
			"$(elapsed)" "$name" "$VM_QEMU_RC" "$RUN_DIR/$name.qemu.log" >&2
		show_tail "$RUN_DIR/$name.qemu.log" 10
		failed=1
	fi
	splats=$(splat_lines "$console")
	if [[ -n "$splats" ]]; then
		printf '[%s] FAIL %s: kernel splat in the console log (%s):\n' \
			"$(elapsed)" "$name" "$console" >&2
		head -n 40 <<<"$splats" | sed 's/^/        | /' >&2
		failed=1
	fi
	if grep -q '^# ISTEST-ERROR' "$out"; then
		printf '[%s] FAIL %s: guest setup failed:\n' "$(elapsed)" "$name" >&2
		tr -d '\r' <"$out" | sed -n 's/^# ISTEST-ERROR /        | /p' >&2
		failed=1
	fi
	if ((!VM_TIMED_OUT)) && ! grep -q '^# ISTEST-DONE' "$out"; then
		printf '[%s] FAIL %s: the guest stopped before finishing (console: %s)\n' \
			"$(elapsed)" "$name" "$console" >&2
		[[ -z "$splats" ]] && show_tail "$console" 15
		failed=1
	fi
	return "$failed"
}

# Exit status of the guest program, from the END marker; empty if missing.
guest_exit_status() {
	tr -d '\r' <"$RUN_DIR/$1.ktap.log" | sed -n 's/^# ISTEST-END .* exit=\([0-9]*\)$/\1/p' | tail -n 1
}

# --- accelerator ----------------------------------------------------------

# Sets VM_ACCEL: TCG unless KVM is usable and a probe boot under KVM
# worked. The probe result is cached per QEMU version and host kernel.
vm_select_accel() {
	local variant=$1 key file
	VM_ACCEL=${IMA_STAGING_ACCEL:-}
	[[ -n "$VM_ACCEL" ]] && return 0
	VM_ACCEL=tcg
	[[ -r /dev/kvm && -w /dev/kvm ]] || return 0
	key=$(printf '%s %s %s' "$(qemu-system-x86_64 --version | head -n 1)" \
		"$(uname -r)" "$(uname -v)" | sha256sum | cut -c1-16)
	file="$CACHE/kvm-probe/$key"
	if [[ ! -f "$file" ]]; then
		mkdir -p "$(dirname "$file")"
		kvm_probe "$variant"
		printf '%s\n' "$KVM_PROBE_RESULT" >"$file"
	fi
	VM_ACCEL=$(cat "$file")
}

# Boot the kernel with a trivial command under KVM; sets KVM_PROBE_RESULT.
kvm_probe() {
	local variant=$1 saved_run_dir=${RUN_DIR:-}
	RUN_DIR="$CACHE/kvm-probe/logs"
	mkdir -p "$RUN_DIR"
	say "vm: probing KVM (logs: $RUN_DIR, result cached)"
	vm_boot probe "$variant" kvm 60 "" 0 cmd true
	if ((VM_QEMU_RC == 0)) && grep -q '^# ISTEST-DONE' "$RUN_DIR/probe.ktap.log" &&
		[[ -z "$(splat_lines "$RUN_DIR/probe.console.log")" ]]; then
		say "vm: KVM works, using it"
		KVM_PROBE_RESULT=kvm
	else
		say "vm: KVM probe failed, using TCG"
		KVM_PROBE_RESULT=tcg
	fi
	RUN_DIR=$saved_run_dir
}
