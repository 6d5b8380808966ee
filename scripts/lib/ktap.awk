# The KTAP results of one suite (Documentation/dev-tools/ktap.rst), read
# strictly: a green suite must be one whose every planned result arrived.
#
# Input: a suite's KTAP log. With -v markers=1 only the lines between
# "# ISTEST-BEGIN" and "# ISTEST-END" are read (the guest's framing).
# Output, one line each, fields separated by tabs:
#   pass    NAME
#   fail    NAME
#   skip    NAME    REASON
#   skipall REASON           a whole program skipped ("1..0 # SKIP")
#   error   MESSAGE          the results do not add up (see below)
#
# A document is a plan line and its results at one indentation; a deeper
# document holds the subtests of the next result above it. Errors: a missing
# plan (a subtest may go without one, as KTAP allows, if it has results),
# more or fewer results than planned, a result number out of order or
# repeated, a test name twice in one document, a second plan, a plan after
# results, "Bail out!", and no KTAP at all. A parent result counts only
# where its subtests do not: a parent "not ok" with no failed subtest is a
# failure of its own (a program that exited non-zero), a parent skip whose
# document ran nothing is the skip of that whole subtest. A "not ok" is a
# failure whatever its directive: "# TODO" does not excuse one here.

function indent_of(s) {
	match(s, /^[ \t]*/)
	return RLENGTH
}

# Where a document is, for messages: "" at the top, " (in NAME)" below.
function where(d) {
	return (d > 1 && doc_name[d] != "") ? " (in " doc_name[d] ")" : (d > 1 ? " (in a subtest)" : "")
}

function error(msg) {
	print "error\t" msg
	errors++
}

function open_doc(lvl) {
	depth++
	doc_indent[depth] = lvl
	doc_plan[depth] = -1
	doc_count[depth] = 0
	doc_skipall[depth] = ""
	doc_name[depth] = pending_name
	doc_failed[depth] = 0
	pending_name = ""
	for (k in doc_seen) {
		if (index(k, depth SUBSEP) == 1) delete doc_seen[k]
	}
}

# Check the innermost document and drop it; remember what the parent result
# that follows needs to know.
function close_doc(   d) {
	d = depth
	# KTAP lets a subtest whose count is not known in advance (KUnit's
	# parameterized tests) go without a plan; a program's own may not.
	if (doc_plan[d] < 0) {
		if (d == 1 && doc_count[d] > 0) error("results without a plan line")
		else if (doc_count[d] == 0) error("no plan line and no results" where(d))
	} else if (doc_count[d] < doc_plan[d]) {
		error("missing results: plan 1.." doc_plan[d] ", got " doc_count[d] where(d))
	}
	closed_ran = doc_count[d]
	closed_skipall = doc_skipall[d]
	closed_failed = doc_failed[d]
	depth--
	if (depth > 0 && closed_failed) doc_failed[depth] = 1
}

# Close the documents deeper than @lvl; returns whether one was closed.
function close_deeper(lvl,   closed) {
	closed = 0
	while (depth > 0 && doc_indent[depth] > lvl) {
		close_doc()
		closed = 1
	}
	return closed
}

# The document at @lvl, opened when none is (a plan without a header).
function doc_at(lvl) {
	if (depth == 0 || doc_indent[depth] < lvl) open_doc(lvl)
	return depth
}

function result(lvl, line,   d, ok, rest, num, name, directive, reason, parent) {
	parent = close_deeper(lvl)
	d = doc_at(lvl)
	ok = (line ~ /^ok/)
	rest = line
	sub(/^(not ok|ok)[ \t]*/, "", rest)
	num = ""
	if (match(rest, /^[0-9]+/)) {
		num = substr(rest, 1, RLENGTH) + 0
		rest = substr(rest, RLENGTH + 1)
	}
	sub(/^[ \t]*(-[ \t]*)?/, "", rest)
	name = rest
	sub(/[ \t]*#.*$/, "", name)
	directive = ""
	reason = ""
	if (match(rest, /#[ \t]*[A-Za-z]+/)) {
		directive = toupper(substr(rest, RSTART + 1, RLENGTH - 1))
		gsub(/[ \t]/, "", directive)
		reason = substr(rest, RSTART + RLENGTH)
		sub(/^[ \t]*/, "", reason)
	}

	doc_count[d]++
	if (num == "") {
		error("result without a number: " line where(d))
	} else if (num != doc_count[d]) {
		error("result " num " (" name ") out of order or repeated: expected " doc_count[d] where(d))
	}
	if (doc_plan[d] >= 0 && doc_count[d] > doc_plan[d]) {
		error("more results than planned: " name " is result " doc_count[d] " of a plan 1.." doc_plan[d] where(d))
	}
	if ((d SUBSEP name) in doc_seen) {
		error("result " name " twice" where(d))
	}
	doc_seen[d, name] = 1

	if (parent) {
		if (directive == "SKIP") {
			if (closed_ran == 0) {
				print "skip\t" name "\t" (closed_skipall != "" ? closed_skipall : reason)
				skipped++
			}
		} else if (!ok && !closed_failed) {
			print "fail\t" name
			doc_failed[d] = 1
		}
		return
	}
	if (directive == "SKIP") {
		print "skip\t" name "\t" reason
	} else if (ok) {
		print "pass\t" name
	} else {
		print "fail\t" name
		doc_failed[d] = 1
	}
}

function plan(lvl, line,   d, reason) {
	close_deeper(lvl)
	d = doc_at(lvl)
	if (doc_plan[d] >= 0) {
		error("a second plan line: " line where(d))
		return
	}
	if (doc_count[d] > 0) {
		error("a plan line after " doc_count[d] " results: " line where(d))
	}
	doc_plan[d] = substr(line, 4) + 0
	if (doc_plan[d] == 0 && match(line, /#[ \t]*[Ss][Kk][Ii][Pp]/)) {
		reason = substr(line, RSTART + RLENGTH)
		sub(/^[ \t]*/, "", reason)
		doc_skipall[d] = reason == "" ? "no reason given" : reason
		if (d == 1) print "skipall\t" doc_skipall[d]
	}
}

function header(lvl) {
	close_deeper(lvl)
	if (depth > 0 && doc_indent[depth] == lvl) {
		if (depth == 1) {
			error("a second KTAP document at the top level")
			return
		}
		close_doc()
	}
	open_doc(lvl)
	documents++
}

BEGIN { inside = !markers }
markers && /^# ISTEST-BEGIN / { inside = 1; next }
markers && /^# ISTEST-END / { inside = 0; next }
!inside { next }
{
	sub(/\r$/, "")
	lvl = indent_of($0)
	line = substr($0, lvl + 1)
}
line == "" { next }
line ~ /^(K?TAP) version [0-9]+/ { header(lvl); next }
line ~ /^1\.\.[0-9]+/ { plan(lvl, line); next }
line ~ /^(not ok|ok)([ \t]|$)/ { result(lvl, line); next }
line ~ /^Bail out!/ {
	reason = line
	sub(/^Bail out![ \t]*/, "", reason)
	error("bailed out" (reason == "" ? "" : ": " reason))
	next
}
line ~ /^# Subtest: / {
	# Names the document it follows the header of, or the next one.
	if (depth > 0 && doc_indent[depth] == lvl && doc_count[depth] == 0 && doc_name[depth] == "")
		doc_name[depth] = substr(line, 12)
	else
		pending_name = substr(line, 12)
	next
}
END {
	if (depth == 0 && documents == 0) {
		error("no KTAP output")
		exit
	}
	while (depth > 0) close_doc()
}
