# shellcheck shell=bash
# The systemd guest: a Debian 12 root file system, made with Debian's own
# tools (mmdebstrap) from the package registry and cached, with ima-keeper
# installed from its Debian package (scripts/lib/package.sh), its units,
# a stand-in for Keylime's agent ordered by the keeper's drop-in, and the
# test programs. The kernel boots it from virtio-blk with systemd as PID 1;
# a suite with root=debian gets a copy of the image as its disk, kept
# across its boots (vm_keep_sysroot).

DEPS_SYSROOT=(mmdebstrap e2fsprogs)
SYSROOT_SUITE=bookworm
SYSROOT_MIRROR=http://deb.debian.org/debian
SYSROOT_SECURITY=http://deb.debian.org/debian-security
# What the guest needs besides Debian's required packages: systemd as
# PID 1, udev for its devices, kexec for "systemctl kexec", the TPM tools
# for the suites' PCR cross-checks, and the libraries ima-keeper
# links (its package depends on them).
SYSROOT_PACKAGES=(systemd systemd-sysv udev dbus kexec-tools tpm2-tools libtss2-tcti-device0
	libfuse3-3 libnettle8)
# The variants whose suites boot the Debian root.
SYSROOT_VARIANTS=(systemd)
# Size of the root file system image (sparse).
SYSROOT_MIB=1024

sysroot_dir() {
	printf '%s\n' "$CACHE/sysroot"
}

sysroot_image() {
	printf '%s\n' "$CACHE/sysroot/$1.img"
}

is_sysroot_variant() {
	local v
	for v in "${SYSROOT_VARIANTS[@]}"; do
		[[ "$v" == "$1" ]] && return 0
	done
	return 1
}

sysroot_base_inputs() {
	printf '%s\n' "$SYSROOT_SUITE" "$SYSROOT_MIRROR" "$SYSROOT_SECURITY" "${SYSROOT_PACKAGES[@]}"
}

# The Debian root without the project's files: a tarball made once, and
# again only when the package list changes (remove $CACHE/sysroot to take
# Debian's updates).
sysroot_base() {
	local dir tar tmp log inputs include
	dir=$(sysroot_dir)
	tar="$dir/debian-$SYSROOT_SUITE.tar"
	# mmdebstrap tells the output's format by its name: a .tar name.
	tmp="$dir/debian-$SYSROOT_SUITE.tmp.tar"
	inputs=$(sysroot_base_inputs)
	mkdir -p "$dir"
	if [[ -f "$tar" && "$inputs" == "$(cat "$tar.inputs" 2>/dev/null)" ]]; then
		return 0
	fi
	log=$(new_log sysroot-base)
	include=$(
		IFS=,
		echo "${SYSROOT_PACKAGES[*]}"
	)
	say "sysroot: making a Debian $SYSROOT_SUITE root with mmdebstrap (log: $log)"
	rm -rf "$tar.inputs" "$tar" "$tmp"
	run_logged "$log" mmdebstrap --mode=root --variant=minbase --include="$include" \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' \
		"$SYSROOT_SUITE" "$tmp" \
		"deb $SYSROOT_MIRROR $SYSROOT_SUITE main" \
		"deb $SYSROOT_MIRROR $SYSROOT_SUITE-updates main" \
		"deb $SYSROOT_SECURITY $SYSROOT_SUITE-security main"
	mv -f "$tmp" "$tar"
	printf '%s\n' "$inputs" >"$tar.inputs"
	say "sysroot: $(du -h "$tar" | cut -f1) Debian root ($tar)"
}

# The files the project adds to the root, by content.
sysroot_inputs() {
	local variant=$1 f
	sysroot_base_inputs
	sha256sum "$(sysroot_dir)/debian-$SYSROOT_SUITE.tar" "$(kernel_image "$variant")" \
		"$PACKAGE_DEB"
	while read -r f; do
		sha256sum "$SELFTESTS_OUT/$f"
	done < <(sysroot_programs)
	for f in "$SCRIPTS"/sysroot/*; do
		printf '%s sysroot/%s\n' "$(sha256sum <"$f")" "$(basename "$f")"
	done
	echo "size: $SYSROOT_MIB MiB"
}

# The test programs the root carries: every one but the keeper's test
# build (the units run the packaged /usr/sbin/ima-keeper).
sysroot_programs() {
	selftests_programs | grep -v -x -e ima-keeper || true
}

# sysroot_populate ROOT VARIANT: the project's files in the Debian root.
sysroot_populate() {
	local root=$1 variant=$2 f
	local files="$SCRIPTS/sysroot"
	cp "$PACKAGE_DEB" "$root/tmp/"
	chroot "$root" dpkg -i "/tmp/$(basename "$PACKAGE_DEB")" >/dev/null
	rm -f "$root/tmp/$(basename "$PACKAGE_DEB")"
	install -D -m 644 "$(kernel_image "$variant")" "$root/boot/bzImage"
	mkdir -p "$root$GUEST_TEST_DIR" "$root/measure" "$root/var/lib/istest"
	while read -r f; do
		install -s -m 755 "$SELFTESTS_OUT/$f" "$root$GUEST_TEST_DIR/$f"
	done < <(sysroot_programs)
	install -m 755 "$files/istest-run" "$root/usr/local/sbin/istest-run"
	install -m 644 "$files/istest.service" "$files/keylime_agent.service" \
		"$root/etc/systemd/system/"
	install -D -m 644 "$files/ima-policy" "$root/etc/ima/ima-policy"
	install -m 644 "$files/fstab" "$root/etc/fstab"
	echo ima-staging-guest >"$root/etc/hostname"
	# The agent's drop-ins as an operator installs them (README).
	mkdir -p "$root/etc/systemd/system/keylime_agent.service.d" \
		"$root/etc/systemd/system/ima-keeper-view.service.d"
	ln -sfn /usr/share/ima-keeper/keylime_agent.service.d/ima-keeper.conf \
		"$root/etc/systemd/system/keylime_agent.service.d/ima-keeper.conf"
	ln -sfn /usr/share/ima-keeper/ima-keeper-view.service.d/keylime_agent.conf \
		"$root/etc/systemd/system/ima-keeper-view.service.d/keylime_agent.conf"
	# Enabled as an operator enables them; the package enables nothing.
	mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
	for f in ima-keeper.service ima-keeper-view.service; do
		ln -sfn "/lib/systemd/system/$f" "$root/etc/systemd/system/multi-user.target.wants/$f"
	done
	for f in keylime_agent.service istest.service; do
		ln -sfn "/etc/systemd/system/$f" "$root/etc/systemd/system/multi-user.target.wants/$f"
	done
	# Only the test writes to the consoles.
	for f in serial-getty@ttyS0.service serial-getty@ttyS1.service getty@tty1.service; do
		ln -sfn /dev/null "$root/etc/systemd/system/$f"
	done
}

# sysroot_build VARIANT: the root file system image of the variant's suites.
sysroot_build() {
	local variant=$1 dir img inputs root log out
	require_pkgs "${DEPS_SYSROOT[@]}"
	sysroot_base
	package_build
	dir=$(sysroot_dir)
	img=$(sysroot_image "$variant")
	inputs=$(sysroot_inputs "$variant")
	if [[ -f "$img" && "$inputs" == "$(cat "$img.inputs" 2>/dev/null)" ]]; then
		say "sysroot[$variant]: up to date ($img)"
		return 0
	fi
	log=$(new_log "sysroot-$variant")
	say "sysroot[$variant]: building $img (log: $log)"
	rm -f "$img.inputs"
	root="$dir/$variant.root"
	rm -rf "$root"
	mkdir -p "$root"
	# The root's own users and groups, by number, not the host's by name.
	tar -C "$root" --numeric-owner -xf "$dir/debian-$SYSROOT_SUITE.tar"
	sysroot_populate "$root" "$variant" >>"$log" 2>&1 ||
		die "sysroot[$variant]: installing the project's files failed (log: $log)"
	rm -f "$img.tmp"
	truncate -s "${SYSROOT_MIB}M" "$img.tmp"
	out=$(PATH="$PATH:/usr/sbin:/sbin" mke2fs -t ext4 -q -F -d "$root" "$img.tmp" 2>&1) ||
		die "sysroot[$variant]: mke2fs failed" "$out"
	rm -rf "$root"
	mv -f "$img.tmp" "$img"
	printf '%s\n' "$inputs" >"$img.inputs"
	say "sysroot[$variant]: $(du -h "$img" | cut -f1) image"
}

# vm_keep_sysroot VARIANT CONF: like vm_keep_disk, the suite's disk, but a
# copy of the variant's root image with CONF as its /etc/istest.conf; the
# boots start the kernel on it (root=/dev/vda) without an initramfs.
vm_keep_sysroot() {
	local variant=$1 conf=$2 out
	VM_KEEP=$(mktemp -d "${TMPDIR:-/tmp}/ima-staging-disk.XXXXXX")
	mkdir "$VM_KEEP/tpm"
	cp --sparse=always "$(sysroot_image "$variant")" "$VM_KEEP/disk.img"
	out=$(PATH="$PATH:/usr/sbin:/sbin" debugfs -w -R "write $conf /etc/istest.conf" \
		"$VM_KEEP/disk.img" 2>&1) || die "debugfs failed on $VM_KEEP/disk.img" "$out"
	# debugfs reports a failed write and exits 0: read the file back.
	cmp -s "$conf" <(PATH="$PATH:/usr/sbin:/sbin" debugfs -R "cat /etc/istest.conf" \
		"$VM_KEEP/disk.img" 2>/dev/null) ||
		die "could not write /etc/istest.conf into $VM_KEEP/disk.img:" "$out"
	# shellcheck disable=SC2034 # read by qemu_args and vm_boot (vm.sh)
	VM_ROOT_DISK=1
}
