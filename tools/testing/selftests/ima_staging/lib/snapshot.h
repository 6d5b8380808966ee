/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Current measurement lists and TPM PCRs read so that they belong together:
 * the lists are read before and after the PCRs, and everything is read again
 * until both reads of the lists agree (no record was added in between).
 */
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ima/bytes.h"
#include "ima/records.h"

namespace ima {

struct Snapshot {
	/* Algorithm ("sha1") -> contents of binary_runtime_measurements_<algo>. */
	std::map<std::string, Bytes, std::less<>> lists;
	/* TPM bank ("sha256") -> PCRs 0 to 23. */
	std::map<std::string, std::vector<Bytes>, std::less<>> pcrs;

	/* The parsed list of @algo. */
	std::vector<Record> records(std::string_view algo) const;
	const Bytes &pcr(std::string_view bank, unsigned int index) const;
};

/* Throws std::runtime_error if the lists keep changing. */
Snapshot take_snapshot(const std::vector<std::string> &list_algos,
		       const std::vector<std::string> &banks);

} // namespace ima
