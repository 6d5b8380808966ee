/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The full log since boot: the records in the store followed by the
 * kernel's staged and current lists, as if nothing had ever been deleted.
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ima/bytes.h"
#include "ima/records.h"

namespace keeper {

struct FullLog {
	/* The sha1 binary list of every record since boot. */
	ima::Bytes bytes;
	std::uint64_t stored_records = 0;
	std::uint64_t kernel_records = 0;

	std::uint64_t records() const { return stored_records + kernel_records; }
};

/*
 * Reads the store in @store_dir (a missing store counts as empty) and the
 * kernel's lists, holding the store's transaction lock shared so that no
 * keeper moves records meanwhile. A group the kernel still holds (a save
 * that was interrupted before the kernel deleted it) is counted once.
 */
FullLog read_full_log(const std::string &store_dir);

/* Records @from.. of @log, in the binary or ascii format. */
ima::Bytes log_from_binary(const FullLog &log, std::uint64_t from);
std::string log_from_ascii(const FullLog &log, std::uint64_t from);

/* What verify found for one TPM bank. */
struct BankVerdict {
	std::string bank;
	bool matches = false;
	ima::Bytes replayed;
	ima::Bytes pcr;
};

struct Verification {
	FullLog log;
	std::vector<BankVerdict> banks;

	bool matches() const;
};

/*
 * Replays the full log against PCR 10 of every TPM bank the keeper can
 * compute (sha1, sha256). A mismatch is read again a few times: records
 * measured while the log and the PCRs are read make them differ for a moment.
 */
Verification verify_full_log(const std::string &store_dir);

} // namespace keeper
