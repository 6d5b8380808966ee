# shellcheck shell=bash
# Kernel configuration and build, out of tree in $CACHE/build/<variant>.

KCONFIG_FRAGMENT="$REPO/Kconfig.fragment"
VARIANT_FRAGMENTS="$SCRIPTS/kconfig"

export CCACHE_DIR="$CACHE/ccache"
# Paths under the cache are hashed relative to the build directory: trees
# laid out alike (gate-bisect's, scripts/lib/gates.sh) share objects.
export CCACHE_BASEDIR="$CACHE"
KMAKE=(make -C "$SRC" ARCH=x86_64 "CC=ccache gcc" "HOSTCC=gcc")

variant_fragment() {
	local f="$VARIANT_FRAGMENTS/$1.fragment"
	[[ -f "$f" ]] || die "unknown kernel variant '$1' (no $f)" \
		"variants: $(variant_names | tr '\n' ' ')"
	printf '%s\n' "$f"
}

variant_names() {
	local f
	for f in "$VARIANT_FRAGMENTS"/*.fragment; do
		if [[ -f "$f" ]]; then
			basename "$f" .fragment
		fi
	done
}

kernel_dir() {
	printf '%s\n' "$CACHE/build/$1"
}

kernel_image() {
	printf '%s\n' "$CACHE/build/$1/arch/x86/boot/bzImage"
}

# check_config CONFIG FRAGMENT...: every option set by the fragments must
# hold, as the last fragment setting it says (a variant overrides the base).
# "# CONFIG_X is not set" also holds for an option Kconfig does not have.
check_config() {
	local config=$1 frag line name got
	shift
	local -A want=()
	local -a order=() bad=()
	for frag in "$@"; do
		while IFS= read -r line; do
			if [[ "$line" =~ ^(CONFIG_[A-Za-z0-9_]+)= ||
				"$line" =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set ]]; then
				name=${BASH_REMATCH[1]}
				[[ -v "want[$name]" ]] || order+=("$name")
				want[$name]=$line
			fi
		done <"$frag"
	done
	for name in "${order[@]}"; do
		line=${want[$name]}
		if [[ "$line" == CONFIG_* ]]; then
			grep -Fxq -- "$line" "$config" && continue
			got=$(grep -E "^(# )?${name}[= ]" "$config" || true)
			bad+=("$line (got: ${got:-option unknown to Kconfig})")
		else
			got=$(grep -E "^$name=" "$config" || true)
			[[ -n "$got" ]] && bad+=("$line (got: $got)")
		fi
	done
	((${#bad[@]} == 0)) && return 0
	die "kernel config: these fragment lines do not hold after olddefconfig" \
		"(a missing dependency or a misspelt option):" "${bad[@]}" \
		"config: $config"
}

# What the configuration depends on: base version, toolchain, fragments
# and the project's Kconfig files.
kernel_config_inputs() {
	local frag=$1 path
	echo "$LINUX_SOURCE_VERSION"
	gcc --version | head -n 1
	ld --version | head -n 1
	# Contents only: the same inputs in another checkout configure nothing.
	sha256sum <"$KCONFIG_FRAGMENT"
	sha256sum <"$frag"
	while read -r path; do
		if [[ "$(basename "$path")" == Kconfig* && -f "$SRC/$path" ]]; then
			printf '%s %s\n' "$(sha256sum <"$SRC/$path")" "$path"
		fi
	done < <(touched_paths)
}

# Generate the config in a side directory when its inputs changed, check
# it, and replace .config only when it differs (keeps builds incremental).
kernel_configure() {
	local variant=$1 log=$2 out cfg frag inputs
	out=$(kernel_dir "$variant")
	cfg="$out.config"
	frag=$(variant_fragment "$variant")
	mkdir -p "$out" "$cfg"
	inputs=$(kernel_config_inputs "$frag")
	if [[ -f "$out/.config" && "$inputs" == "$(cat "$cfg/inputs" 2>/dev/null)" ]]; then
		check_config "$out/.config" "$KCONFIG_FRAGMENT" "$frag"
		return 0
	fi
	say "kernel[$variant]: configuring (log: $log)"
	rm -f "$cfg/inputs"
	run_logged "$log" "${KMAKE[@]}" O="$cfg" tinyconfig
	run_logged "$log" env -C "$SRC" ARCH=x86_64 scripts/kconfig/merge_config.sh \
		-m -O "$cfg" "$cfg/.config" "$KCONFIG_FRAGMENT" "$frag"
	run_logged "$log" "${KMAKE[@]}" O="$cfg" olddefconfig
	check_config "$cfg/.config" "$KCONFIG_FRAGMENT" "$frag"
	printf '%s\n' "$inputs" >"$cfg/inputs"
	if [[ -f "$out/.config" ]] && cmp -s "$cfg/.config" "$out/.config"; then
		return 0
	fi
	say "kernel[$variant]: configuration changed"
	cp "$cfg/.config" "$out/.config"
}

# What a built image depends on beyond its configuration's inputs: the
# configuration itself and every file the project puts into the tree but
# under tools/, which the image is not built from (the rest of the tree is
# the pristine base, whose version is among the configuration's inputs).
kernel_build_inputs() {
	local out=$1 inputs=$2
	printf '%s\n' "$inputs"
	sha256sum <"$out/.config"
	(cd "$SRC" && touched_paths | while read -r path; do
		if [[ -f "$path" && "$path" != tools/* ]]; then
			printf '%s\n' "$path"
		fi
	done | xargs -r -d '\n' sha256sum --)
}

# Builds the image unless the last build that completed had the same inputs:
# make takes ten seconds to find nothing to do in a tree this size.
kernel_build() {
	local variant=$1 log out stamp inputs
	out=$(kernel_dir "$variant")
	stamp="$out.built-inputs"
	log=$(new_log "kernel-$variant")
	kernel_configure "$variant" "$log"
	inputs=$(kernel_build_inputs "$out" "$(cat "$out.config/inputs")")
	if [[ -f "$(kernel_image "$variant")" && "$inputs" == "$(cat "$stamp" 2>/dev/null)" ]]; then
		say "kernel[$variant]: up to date ($(kernel_image "$variant"))"
		return 0
	fi
	rm -f "$stamp"
	say "kernel[$variant]: building (log: $log)"
	mkdir -p "$CCACHE_DIR"
	run_logged "$log" "${KMAKE[@]}" O="$out" -j"$(nproc)" bzImage
	[[ -f "$(kernel_image "$variant")" ]] || die "no bzImage after build (log: $log)"
	printf '%s\n' "$inputs" >"$stamp"
	say "kernel[$variant]: $(kernel_image "$variant")"
}
