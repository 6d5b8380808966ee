/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Readers partway through every list file, for the tests of what a reader
 * sees across a request: ESTALE if its list changed, the rest of its list
 * if not. Their checks report through ktap (EXPECT_*, ASSERT_*).
 */
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "ima/bytes.h"
#include "ima/ima_fs.h"
#include "ima/sys.h"

namespace ima {

/* How far into its list a PartwayReader read before a request. */
inline constexpr std::size_t kPartway = 10;

/* A reader kPartway bytes into one list file, and the list it began. */
struct PartwayReader {
	std::string path;
	ListFormat format;
	std::string algo;
	Bytes list;
	UniqueFd fd;
};

/*
 * Readers of the list files of every algorithm (list_algos()), binary and
 * ascii, the _staged ones if @staged, else the originals. Throws if a list
 * holds kPartway bytes or fewer.
 */
std::vector<PartwayReader> open_partway_readers(bool staged);

/*
 * Every reader's list changed: it gets at most the rest of the record it
 * began, then ESTALE, then ESTALE again without a byte, and after a seek
 * to 0 the list as it is now.
 */
void expect_every_reader_stale(std::vector<PartwayReader> &readers);

/* No reader's list changed: each reads on to the end of the list it began. */
void expect_every_reader_reads_on(std::vector<PartwayReader> &readers);

} // namespace ima
