# shellcheck shell=bash
# The guest initramfs: busybox, /init, tpm2-tools, evmctl, kexec, the test
# programs and ima-keeper (tools/ima_keeper), with the shared libraries they
# load, and the variant's own kernel as /boot/bzImage for kexec soft reboots.

SELFTESTS_OUT="$CACHE/selftests"
GUEST_TEST_DIR=/opt/ima_staging
# Loaded with dlopen by the tpm2-tools TCTI loader, so ldd does not see it.
TCTI_LIB=/usr/lib/x86_64-linux-gnu/libtss2-tcti-device.so.0

guest_dir() {
	printf '%s\n' "$CACHE/guest/$1"
}

guest_image() {
	printf '%s\n' "$CACHE/guest/$1/initramfs.cpio.gz"
}

# Names of the test programs in the guest image of a variant.
guest_programs() {
	local list
	list="$(guest_dir "$1")/programs.list"
	[[ -f "$list" ]] && cat "$list"
	return 0
}

# Build the test programs; prints nothing when there is no Makefile yet.
selftests_build() {
	local dir="$SRC/$SELFTESTS_REL" log
	if [[ ! -f "$dir/Makefile" ]]; then
		warn "guest: $SELFTESTS_REL/Makefile does not exist yet: no test programs"
		return 0
	fi
	log=$(new_log selftests)
	say "guest: building test programs (log: $log)"
	mkdir -p "$SELFTESTS_OUT"
	run_logged "$log" make -C "$dir" OUTPUT="$SELFTESTS_OUT" CXX="ccache g++" -j"$(nproc)"
	# The keeper goes with them: its tests run it from the same directory.
	if [[ -f "$SRC/$KEEPER_REL/Makefile" ]]; then
		# The test build: the keeper suites inject faults (IMA_KEEPER_FAULT).
		run_logged "$log" make -C "$SRC/$KEEPER_REL" OUTPUT="$SELFTESTS_OUT" FAULT_INJECTION=1 \
			CXX="ccache g++" -j"$(nproc)"
	fi
}

selftests_programs() {
	[[ -f "$SRC/$SELFTESTS_REL/Makefile" && -d "$SELFTESTS_OUT" ]] || return 0
	find "$SELFTESTS_OUT" -maxdepth 1 -type f -perm -u+x -printf '%f\n' | LC_ALL=C sort
}

# Host files that go into the guest at the same path.
host_binaries() {
	dpkg -L tpm2-tools | grep -E '^/usr/bin/tpm2(_[a-z0-9_]+)?$'
	echo /usr/bin/evmctl
	dpkg -L kexec-tools | grep -E '^(/usr)?/s?bin/kexec$'
}

# Shared libraries (and the loader) an ELF file needs, resolved paths.
elf_libs() {
	ldd "$1" 2>/dev/null | awk '
		$2 == "=>" && $3 ~ /^\// { print $3 }
		$1 ~ /^\// { print $1 }
	' || true
}

# Every host file copied into the image (regular files, not symlinks).
guest_host_files() {
	local f
	{
		echo /bin/busybox
		while read -r f; do
			[[ -L "$f" ]] && continue
			echo "$f"
			elf_libs "$f"
		done < <(host_binaries)
		echo "$TCTI_LIB"
		elf_libs "$TCTI_LIB"
	} | LC_ALL=C sort -u
}

guest_inputs() {
	local variant=$1 f
	{
		kernel_image "$variant"
		guest_host_files
		while read -r f; do
			echo "$SELFTESTS_OUT/$f"
			elf_libs "$SELFTESTS_OUT/$f"
		done < <(selftests_programs)
	} | LC_ALL=C sort -u | xargs -r sha256sum
	echo "layout: base image and one archive per test program"
	echo "signing key: $GUEST_TEST_DIR/ima-signing-key.pem, RSA 2048"
	# By content: another checkout of the same scripts changes nothing.
	for f in init demo.sh ktap-run; do
		printf '%s guest/%s\n' "$(sha256sum <"$SCRIPTS/guest/$f")" "$f"
	done
	while read -r f; do
		if [[ -L "$f" ]]; then
			printf 'link %s -> %s\n' "$f" "$(readlink "$f")"
		fi
	done < <(host_binaries)
}

guest_populate() {
	local root=$1 variant=$2 f applet
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,measure,root,boot}
	install -m 644 "$(kernel_image "$variant")" "$root/boot/bzImage"
	mkdir -p "$root$GUEST_TEST_DIR"
	cp /bin/busybox "$root/bin/busybox"
	while read -r applet; do
		[[ -e "$root/$applet" || -L "$root/$applet" ]] && continue
		mkdir -p "$root/$(dirname "$applet")"
		ln -s /bin/busybox "$root/$applet"
	done < <("$root/bin/busybox" --list-full)
	while read -r f; do
		mkdir -p "$root$(dirname "$f")"
		cp -L "$f" "$root$f"
	done < <(guest_host_files)
	while read -r f; do
		[[ -L "$f" ]] || continue
		mkdir -p "$root$(dirname "$f")"
		ln -sfn "$(readlink "$f")" "$root$f"
	done < <(host_binaries)
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
	# A throwaway key the keeper tests sign files with (evmctl ima_sign).
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
		-out "$root$GUEST_TEST_DIR/ima-signing-key.pem" 2>/dev/null
	install -m 755 "$SCRIPTS/guest/init" "$root/init"
	install -m 755 "$SCRIPTS/guest/demo.sh" "$root/demo.sh"
	install -m 755 "$SCRIPTS/guest/ktap-run" "$root/bin/ktap-run"
	while read -r f; do
		while read -r lib; do
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done < <(elf_libs "$SELFTESTS_OUT/$f")
	done < <(selftests_programs)
}

# guest_program_pieces DIR: one archive per test program, DIR/NAME.cpio.gz,
# with the program stripped (statically linked: nothing else to carry).
guest_program_pieces() {
	local dir=$1 f piece
	rm -rf "$dir"
	mkdir -p "$dir"
	while read -r f; do
		piece="$dir/$f.root"
		mkdir -p "$piece$GUEST_TEST_DIR"
		install -s -m 755 "$SELFTESTS_OUT/$f" "$piece$GUEST_TEST_DIR/$f"
		make_cpio "$piece" "$dir/$f.cpio.gz"
		rm -rf "$piece"
	done < <(selftests_programs)
}

# make_cpio DIR OUT: a gzip'd newc archive of DIR, files owned by root.
make_cpio() {
	(cd "$1" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc -R 0:0 --reproducible --quiet) | gzip -n -6 >"$2"
}

guest_build() {
	local variant=$1 dir img inputs root
	dir=$(guest_dir "$variant")
	img=$(guest_image "$variant")
	mkdir -p "$dir"
	selftests_build
	inputs=$(guest_inputs "$variant")
	if [[ -f "$img" && "$inputs" == "$(cat "$dir/inputs" 2>/dev/null)" ]]; then
		say "guest[$variant]: up to date ($img)"
		return 0
	fi
	say "guest[$variant]: building $img"
	rm -f "$dir/inputs"
	root="$dir/root"
	rm -rf "$root"
	guest_populate "$root" "$variant"
	make_cpio "$root" "$img.tmp"
	mv -f "$img.tmp" "$img"
	guest_program_pieces "$dir/programs"
	selftests_programs >"$dir/programs.list"
	printf '%s\n' "$inputs" >"$dir/inputs"
	say "guest[$variant]: $(du -h "$img" | cut -f1) image and $(wc -l <"$dir/programs.list")" \
		"test programs of $(du -ch "$dir"/programs/*.cpio.gz 2>/dev/null | tail -n 1 | cut -f1)"
}

# The test programs a boot carries, one name a line: every one, or the
# words of BOOT_PROGRAMS when it is set. A program that runs ima-keeper
# (ima_keeper_*) brings it along. Smaller boots unpack faster, and kexec
# hashes all of its initramfs at every soft reboot.
boot_programs() {
	local p
	if [[ ! -v BOOT_PROGRAMS ]]; then
		guest_programs "$1"
		return 0
	fi
	for p in $BOOT_PROGRAMS; do
		echo "$p"
		if [[ "$p" == ima_keeper_* ]]; then
			echo ima-keeper
		fi
	done | LC_ALL=C sort -u
}

# Quote a word for a POSIX shell.
sh_quote() {
	local q="'\\''"
	printf "'%s'" "${1//\'/$q}"
}

# istest_conf MODE NAME [CMD...]: the guest's /etc/istest.conf.
istest_conf() {
	local mode=$1 name=$2 arg
	shift 2
	echo "# written by scripts/ima-staging for one boot"
	echo "ISTEST_MODE=$mode"
	echo "ISTEST_NAME=$(sh_quote "$name")"
	[[ -n "${BOOT_CONF_EXTRA:-}" ]] && printf '%s\n' "$BOOT_CONF_EXTRA"
	printf 'set --'
	for arg in "$@"; do
		printf ' %s' "$(sh_quote "$arg")"
	done
	printf '\n'
}

# boot_initrd VARIANT OUT MODE NAME [CMD...]: base image, the boot's test
# programs and /etc/istest.conf.
boot_initrd() {
	local variant=$1 out=$2 mode=$3 name=$4 tmp
	shift 4
	tmp=$(mktemp -d)
	mkdir -p "$tmp/root"
	mkdir -p "$tmp/root/etc"
	istest_conf "$mode" "$name" "$@" >"$tmp/root/etc/istest.conf"
	make_cpio "$tmp/root" "$tmp/boot.cpio.gz"
	local -a pieces=()
	mapfile -t pieces < <(boot_programs "$variant" |
		sed "s#.*#$(guest_dir "$variant")/programs/&.cpio.gz#")
	cat "$(guest_image "$variant")" "${pieces[@]}" "$tmp/boot.cpio.gz" >"$out"
	rm -rf "$tmp"
}
