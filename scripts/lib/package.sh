# shellcheck shell=bash
# ima-keeper as a Debian package, built with Debian's own tooling
# (dpkg-buildpackage, debhelper) from tools/ima_keeper/debian and checked
# with lintian, which must report no error.

DEPS_PACKAGE=(build-essential dpkg-dev debhelper lintian libfuse3-dev nettle-dev)
PACKAGE_DIR="$CACHE/package"
# Set by package_build: the binary package.
PACKAGE_DEB=

package_version() {
	dpkg-parsechangelog -l "$SRC/$KEEPER_REL/debian/changelog" -S Version
}

# What the package is built from, by content.
package_inputs() {
	(cd "$SRC" && find "$KEEPER_REL" "$IMA_LIB_REL" -type f -print0 | LC_ALL=C sort -z |
		xargs -0 sha256sum)
	dpkg-query -W "${DEPS_PACKAGE[@]}"
}

# Builds the package when its sources changed, and lints it; sets PACKAGE_DEB.
package_build() {
	local version src inputs log lint
	require_pkgs "${DEPS_PACKAGE[@]}"
	version=$(package_version)
	PACKAGE_DEB="$PACKAGE_DIR/ima-keeper_${version}_$(dpkg --print-architecture).deb"
	inputs=$(package_inputs)
	if [[ -f "$PACKAGE_DEB" && "$inputs" == "$(cat "$PACKAGE_DIR/inputs" 2>/dev/null)" ]]; then
		return 0
	fi
	log=$(new_log package)
	say "package: building ima-keeper $version (log: $log)"
	rm -rf "$PACKAGE_DIR"
	src="$PACKAGE_DIR/ima-keeper-$version"
	mkdir -p "$src/lib"
	cp -a "$SRC/$KEEPER_REL" "$src/ima_keeper"
	mv "$src/ima_keeper/debian" "$src/debian"
	# Kept without execute permission: the kernel tree's rule for files
	# that are not scripts.
	chmod +x "$src/debian/rules"
	cp -a "$SRC/$IMA_LIB_REL" "$src/lib/ima"
	run_logged "$log" env -C "$src" dpkg-buildpackage -b --no-sign
	[[ -f "$PACKAGE_DEB" ]] || die "package: no $PACKAGE_DEB after the build (log: $log)"
	lint="$PACKAGE_DIR/lintian.log"
	if ! lintian --fail-on error --info "$PACKAGE_DIR"/ima-keeper_*.changes >"$lint" 2>&1; then
		die "package: lintian reports errors (log: $lint):" "$(grep '^E:' "$lint" | head -n 20)"
	fi
	printf '%s\n' "$inputs" >"$PACKAGE_DIR/inputs"
	say "package: $PACKAGE_DEB ($(grep -c '^[WI]:' "$lint" || true) lintian notes, none an error: $lint)"
}
