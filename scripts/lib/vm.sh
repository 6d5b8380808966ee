# shellcheck shell=bash
# Boot the guest in QEMU with a fresh software TPM, with a timeout, and check
# the console for kernel splats. A suite that boots several times keeps one
# disk and one TPM state for all its boots (vm_keep_disk).

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
# A suite's disk image and TPM state, kept across its boots (vm_keep_disk).
VM_KEEP=
# 1 when that disk is the root file system (vm_keep_sysroot): no initramfs.
VM_ROOT_DISK=0
# A kernel image to boot instead of the variant's (gate-bisect's own).
VM_KERNEL=

# Stop the current boot's processes and remove its files.
vm_stop() {
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

vm_cleanup() {
	vm_stop
	[[ -n "$VM_KEEP" ]] && rm -rf "$VM_KEEP"
	VM_KEEP=
	VM_ROOT_DISK=0
	return 0
}

# vm_keep_disk MIB: until vm_cleanup, every boot gets the same raw disk of
# MIB MiB (formatted ext4 here) as virtio-blk, /dev/vda in the guest, and a
# swtpm restarted on the same state: the boots follow each other like cold
# boots of one machine (PCRs reset, NV kept).
vm_keep_disk() {
	local mib=$1 mke2fs out
	mke2fs=$(PATH="$PATH:/usr/sbin:/sbin" command -v mke2fs) ||
		die "mke2fs not found: a suite with disk= needs it (Debian package e2fsprogs)"
	VM_KEEP=$(mktemp -d "${TMPDIR:-/tmp}/ima-staging-disk.XXXXXX")
	mkdir "$VM_KEEP/tpm"
	truncate -s "${mib}M" "$VM_KEEP/disk.img"
	out=$("$mke2fs" -t ext4 -q -F "$VM_KEEP/disk.img" 2>&1) ||
		die "mke2fs failed on $VM_KEEP/disk.img" "$out"
}

# Per-invocation log directory: $CACHE/logs/<date>-<command>.
run_dir_init() {
	RUN_DIR="$CACHE/logs/$(date +%Y%m%d-%H%M%S)-$1"
	mkdir -p "$RUN_DIR"
	ln -sfn "$(basename "$RUN_DIR")" "$CACHE/logs/latest"
}

# swtpm_start STATE-DIR SOCKET LOG
swtpm_start() {
	local dir=$1 sock=$2 log=$3 i
	swtpm socket --tpm2 --tpmstate dir="$dir" \
		--ctrl type=unixio,path="$sock" \
		--log file="$log",level=1 --terminate &
	SWTPM_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ -S "$sock" ]] && return 0
		kill -0 "$SWTPM_PID" 2>/dev/null || break
		sleep 0.1
	done
	die "swtpm did not start (log: $log)" "$(tail -n 5 "$log" 2>/dev/null)"
}

# qemu_args VARIANT INITRD ACCEL SOCKET APPEND CONSOLE-ARGS...
qemu_args() {
	local variant=$1 initrd=$2 accel=$3 sock=$4 append=$5
	shift 5
	local -a cpu=() tpm=() drive=() boot=(-initrd "$initrd")
	[[ "$accel" == kvm ]] && cpu=(-cpu host)
	if ((VM_ROOT_DISK)); then
		boot=()
		append="root=/dev/vda rw${append:+ $append}"
	fi
	if ((VM_TPM)); then
		tpm=(-chardev "socket,id=chrtpm,path=$sock"
			-tpmdev "emulator,id=tpm0,chardev=chrtpm" -device "tpm-tis,tpmdev=tpm0")
	fi
	if [[ -n "$VM_KEEP" ]]; then
		drive=(-drive "file=$VM_KEEP/disk.img,format=raw,if=virtio")
	fi
	QEMU_ARGS=(
		qemu-system-x86_64 -M q35 -accel "$accel" "${cpu[@]}"
		-m "$VM_MEMORY" -smp 2 -nodefaults -no-user-config -display none -no-reboot
		-kernel "${VM_KERNEL:-$(kernel_image "$variant")}" "${boot[@]}"
		-append "$KERNEL_CMDLINE${append:+ $append}"
		"${tpm[@]}" "${drive[@]}" "$@"
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
	local qlog="$RUN_DIR/$name.qemu.log" rc=0 tpm_state
	VM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ima-staging.XXXXXX")
	((VM_ROOT_DISK)) || boot_initrd "$variant" "$VM_TMP/initrd" "$mode" "$name" "$@"
	if ((VM_TPM)); then
		tpm_state=$VM_TMP
		[[ -n "$VM_KEEP" ]] && tpm_state=$VM_KEEP/tpm
		swtpm_start "$tpm_state" "$VM_TMP/swtpm.sock" "$RUN_DIR/$name.swtpm.log"
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
	vm_stop
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

# vm_check NAME TIMEOUT [LAST]: report a hang, a splat or an unfinished
# guest; with LAST=0 (another boot of the suite follows) the program may
# have powered the guest off before the end. Returns non-zero when the boot
# failed.
vm_check() {
	local name=$1 timeout=$2 last=${3:-1}
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
	if ((!VM_TIMED_OUT && last)) && ! grep -q '^# ISTEST-DONE' "$out"; then
		printf '[%s] FAIL %s: the guest stopped before finishing (console: %s)\n' \
			"$(elapsed)" "$name" "$console" >&2
		[[ -z "$splats" ]] && show_tail "$console" 15
		failed=1
	fi
	return "$failed"
}

# The console logs of a suite's boots: NAME.console.log, or those of
# NAME.boot1, NAME.boot2, ... in order.
console_logs() {
	local k=1
	if [[ ! -f "$RUN_DIR/$1.boot1.console.log" ]]; then
		printf '%s\n' "$RUN_DIR/$1.console.log"
	fi
	while [[ -f "$RUN_DIR/$1.boot$k.console.log" ]]; do
		printf '%s\n' "$RUN_DIR/$1.boot$k.console.log"
		k=$((k + 1))
	done
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
