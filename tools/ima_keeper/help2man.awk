# SPDX-License-Identifier: GPL-2.0
#
# ima-keeper.8 from "ima-keeper --help", which is written as a manual
# page: capitalized lines are sections, the rest is kept as laid out.

BEGIN {
	print ".TH IMA-KEEPER 8 \"\" \"ima-keeper\" \"System Administration\""
	print ".nh"
	print ".ad l"
}
/^[A-Z][A-Z ]*$/ {
	print ".SH " $0
	print ".nf"
	next
}
{
	line = $0
	sub(/^       /, "", line)
	gsub(/\\/, "\\e", line)
	if (line ~ /^[.']/)
		line = "\\&" line
	print line
}
