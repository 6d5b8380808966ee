# shellcheck shell=bash
# The patch series sent upstream, kept in series/:
#   NNNN-*.patch   a patch in git format-patch form, applied with git am;
#   NNNN-*.msg     a commit message whose patch is generated: its "Final:"
#                  header lists paths (a trailing / for a directory) that
#                  the patch brings to the project's state;
#   cover-letter   subject and text of the cover letter.
# The series is applied, in file name order, to a git repository of the
# pristine base; after the last patch the tree must hold exactly the
# project's files (the staged overlay).

SERIES_DIR="$REPO/series"
SERIES_GIT="$CACHE/series/linux"
SERIES_IDENT=(-c "user.name=IMA staging" -c "user.email=ima-staging@localhost")
SERIES_PREFIX="PATCH 6.12"

series_git() {
	git -C "$SERIES_GIT" "${SERIES_IDENT[@]}" "$@"
}

series_entries() {
	local f
	for f in "$SERIES_DIR"/[0-9][0-9][0-9][0-9]-*; do
		case "$f" in
		*.patch | *.msg) printf '%s\n' "$f" ;;
		esac
	done
}

base_kernel_version() {
	make -s -C "$PRISTINE" kernelversion 2>/dev/null
}

# A git repository of the pristine base with the tag "base", made once
# per base version.
series_base_repo() {
	local stamp="$CACHE/series/.version" log version
	if [[ -d "$SERIES_GIT/.git" && "$(cat "$stamp" 2>/dev/null)" == "$LINUX_SOURCE_VERSION" ]]; then
		return 0
	fi
	log=$(new_log series-base)
	say "series: making a git repository of the pristine base, once (log: $log)"
	rm -rf "$CACHE/series"
	mkdir -p "$CACHE/series"
	run_logged "$log" cp -a "$PRISTINE" "$SERIES_GIT"
	version=$(base_kernel_version)
	run_logged "$log" git -C "$SERIES_GIT" init -q
	run_logged "$log" series_git add -A -f  # Debian's .gitignore ignores the top level
	run_logged "$log" series_git commit -q \
		-m "Linux $version (Debian $LINUX_SOURCE_PKG $LINUX_SOURCE_VERSION)"
	run_logged "$log" series_git tag base
	printf '%s\n' "$LINUX_SOURCE_VERSION" >"$stamp"
}

# A header of a .msg file ("From", "Subject", "Final").
msg_header() {
	sed -n "/^\$/q; s/^$2: //p" "$1"
}

msg_body() {
	sed '1,/^$/d' "$1"
}

# series_commit_final MSG LOG: commit the project's state of the paths the
# message lists, with that message.
series_commit_final() {
	local msg=$1 log=$2 from subject path
	local -a paths
	from=$(msg_header "$msg" From)
	subject=$(msg_header "$msg" Subject)
	read -r -a paths <<<"$(msg_header "$msg" Final)"
	[[ -n "$from" && -n "$subject" && ${#paths[@]} -gt 0 ]] ||
		die "series: $(basename "$msg") needs From:, Subject: and Final: headers"
	for path in "${paths[@]}"; do
		path=${path%/}
		rm -rf "${SERIES_GIT:?}/$path"
		if [[ -e "$STAGE/$path" ]]; then
			mkdir -p "$(dirname "$SERIES_GIT/$path")"
			cp -a "$STAGE/$path" "$SERIES_GIT/$path"
		elif series_git cat-file -e "base:$path" 2>/dev/null; then
			run_logged "$log" series_git checkout base -- "$path"
		fi
		run_logged "$log" series_git add -A -f -- "$path"
	done
	run_logged "$log" series_git commit -q --author="$from" \
		-m "$subject" -m "$(msg_body "$msg")"
}

# Reset the repository to the base and apply the series, a commit each.
# Needs base_prepare (the staged overlay).  When a patch does not apply,
# returns 1 with the reason in SERIES_ERROR (lines).
SERIES_ERROR=()
series_apply() {
	local entry log
	[[ -d "$SERIES_DIR" ]] || die "no patch series: $SERIES_DIR does not exist"
	series_base_repo
	log=$(new_log series-apply)
	series_git am --abort >/dev/null 2>&1 || true
	run_logged "$log" series_git checkout -q -f --detach base
	run_logged "$log" series_git clean -fdq
	while read -r entry; do
		case "$entry" in
		*.patch)
			if ! series_git am -q "$entry" >>"$log" 2>&1; then
				series_git am --abort >/dev/null 2>&1 || true
				SERIES_ERROR=("series: $(basename "$entry") does not apply with git am"
					"on top of the patches before it (log: $log)"
					"$(grep -E '^(error|Patch failed)' "$log" | head -n 5)")
				return 1
			fi
			;;
		*.msg) series_commit_final "$entry" "$log" ;;
		esac
	done < <(series_entries)
}

# Print what differs between the tree after the series and the project's
# files; nothing when they agree.
series_differences() {
	local path
	local -A touched=()
	while read -r path; do
		touched[$path]=1
		if [[ -e "$STAGE/$path" ]]; then
			if [[ ! -e "$SERIES_GIT/$path" ]]; then
				printf '%s: the project has it, the series does not add it\n' "$path"
			elif ! cmp -s "$STAGE/$path" "$SERIES_GIT/$path"; then
				printf '%s: differs (diff -u %s %s)\n' "$path" "$SERIES_GIT/$path" "$REPO/$path"
			fi
		elif [[ -e "$SERIES_GIT/$path" ]]; then
			printf '%s: the project deletes it, the series does not\n' "$path"
		fi
	done < <(touched_paths)
	while read -r path; do
		[[ -n "${touched[$path]:-}" ]] ||
			printf '%s: changed by the series, not by the project\n' "$path"
	done < <(series_git diff --name-only base HEAD)
}

series_commits() {
	series_git rev-list --reverse base..HEAD
}

# series_export DIR: apply the series, check that it ends at the
# project's files and write it as numbered patches with a cover letter.
series_export() {
	local -a diffs
	series_apply || die "${SERIES_ERROR[@]}"
	mapfile -t diffs < <(series_differences)
	((${#diffs[@]} == 0)) || die "series: the patches do not end at the project's files:" \
		"${diffs[@]}" "" "Fold the change into the patch of series/ it belongs to."
	series_format "$1"
}

# sender_identity: sets SENDER to "Name <email>" of the user's git
# configuration, for the From: and Signed-off-by: lines of an export; dies
# when there is none or when it is the placeholder the series is kept under.
SENDER=
sender_identity() {
	local name email placeholder
	name=$(git -C "$REPO" config user.name || true)
	email=$(git -C "$REPO" config user.email || true)
	placeholder="${SERIES_IDENT[1]#user.name=} <${SERIES_IDENT[3]#user.email=}>"
	[[ -n "$name" && -n "$email" ]] ||
		die "export: no git identity: the patches need your From: and Signed-off-by:" \
			"set it with: git config user.name 'Your Name'; git config user.email you@example.org"
	[[ "$name <$email>" != "$placeholder" ]] ||
		die "export: git identity is the series' placeholder $placeholder" \
			"set your own with: git config user.name / user.email"
	# shellcheck disable=SC2034 # used in scripts/ima-staging
	SENDER="$name <$email>"
}

# series_sign DIR IDENTITY: the exported patches come from IDENTITY and end
# their trailers with IDENTITY's sign-off, which series/ never carries: a
# Signed-off-by is the certificate of the person who sends the patch.
series_sign() {
	local dir=$1 identity=$2 placeholder patch
	placeholder="${SERIES_IDENT[1]#user.name=} <${SERIES_IDENT[3]#user.email=}>"
	for patch in "$dir"/[0-9][0-9][0-9][0-9]-*.patch; do
		[[ "$patch" == */0000-cover-letter.patch ]] && continue
		IDENTITY=$identity PLACEHOLDER=$placeholder awk '
			$0 == "From: " ENVIRON["PLACEHOLDER"] { $0 = "From: " ENVIRON["IDENTITY"] }
			!signed && $0 == "---" {
				# A trailer block before it (Fixes:, Cc:) takes the
				# sign-off as its last line; else a block of its own.
				if (last !~ /^[A-Za-z-]+: /)
					print ""
				print "Signed-off-by: " ENVIRON["IDENTITY"]
				signed = 1
			}
			{ print; last = $0 }
		' "$patch" >"$patch.tmp"
		mv -f "$patch.tmp" "$patch"
	done
}

# Lines of series/ that sign a patch off: none belongs there.
series_signoffs() {
	grep -n '^Signed-off-by:' "$SERIES_DIR"/[0-9][0-9][0-9][0-9]-*.patch \
		"$SERIES_DIR"/[0-9][0-9][0-9][0-9]-*.msg 2>/dev/null | sed "s#^$SERIES_DIR/##" || true
}

# series_format DIR: the applied series as numbered patches with a cover
# letter.
series_format() {
	local dir=$1 cover subject
	mkdir -p "$dir"
	rm -f "$dir"/[0-9][0-9][0-9][0-9]-*.patch
	series_git format-patch -q --cover-letter --thread=shallow \
		--subject-prefix="$SERIES_PREFIX" -o "$dir" base..HEAD
	cover=$(ls "$dir"/0000-cover-letter.patch)
	subject=$(msg_header "$SERIES_DIR/cover-letter" Subject)
	awk -v subject="$subject" -v blurb="$SERIES_DIR/cover-letter" '
		/\*\*\* SUBJECT HERE \*\*\*/ { sub(/\*\*\* SUBJECT HERE \*\*\*/, subject) }
		/^\*\*\* BLURB HERE \*\*\*$/ {
			skip = 1
			while ((getline line < blurb) > 0) {
				if (skip) { if (line == "") skip = 0; continue }
				print line
			}
			next
		}
		{ print }
	' "$cover" >"$cover.tmp"
	mv -f "$cover.tmp" "$cover"
}
