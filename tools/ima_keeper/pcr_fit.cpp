// SPDX-License-Identifier: GPL-2.0
#include "pcr_fit.h"

#include <string>
#include <unistd.h>

#include "ima/records.h"
#include "ima/tpm.h"

using ima::Bytes;
using ima::HashAlgo;
using ima::PcrReplay;
using ima::Record;

namespace keeper {

namespace {

constexpr int kAttempts = 20;
constexpr useconds_t kRetryDelay = 50000;

/*
 * Whether @replay followed by @records gives @pcr after a number of records
 * from @fewest to @most.
 */
bool replays_to(PcrReplay replay, const std::vector<Record> &records, const Bytes &pcr,
		std::size_t fewest, std::size_t most)
{
	for (std::size_t done = 0;; done++) {
		if (done >= fewest && replay.value() == pcr)
			return true;
		if (done == most || done == records.size())
			return false;
		replay.extend(records[done]);
	}
}

} // namespace

std::optional<HashAlgo> decision_bank()
{
	if (!ima::tpm_available())
		return std::nullopt;
	if (ima::tpm_has_bank("sha256"))
		return HashAlgo::sha256;
	if (ima::tpm_has_bank("sha1"))
		return HashAlgo::sha1;
	return std::nullopt;
}

void extend_with_list(PcrReplay &replay, ima::ByteView sha1_list, HashAlgo bank)
{
	for (const Record &record : ima::parse_sha1_list(sha1_list))
		replay.extend(bank == HashAlgo::sha1 ? record : ima::with_template_digest(record, bank));
}

std::optional<std::size_t> candidate_matching_pcr(const std::vector<PcrReplay> &candidates,
						  HashAlgo bank)
{
	std::string bank_name(ima::hash_name(bank));
	int unmatched_while_still = 0;

	for (int attempt = 1; attempt <= kAttempts; attempt++) {
		std::uint64_t before = ima::count_sha1_records(read_kernel_lists());
		Bytes pcr = ima::read_tpm_pcr(bank_name, ima::kImaPcr);
		Bytes after = read_kernel_lists();
		std::vector<Record> records = ima::parse_sha1_list(after);
		/* The records the PCR holds: all listed before it was read, but one. */
		std::size_t fewest = before ? before - 1 : 0;
		std::vector<std::size_t> matching;

		if (bank != HashAlgo::sha1)
			for (Record &record : records)
				record = ima::with_template_digest(record, bank);
		for (std::size_t i = 0; i < candidates.size(); i++)
			if (replays_to(candidates[i], records, pcr, fewest, records.size()))
				matching.push_back(i);
		if (matching.size() == 1)
			return matching.front();
		/* Twice nothing while the lists held still: nothing will match. */
		if (matching.empty() && before == records.size() && ++unmatched_while_still == 2)
			return std::nullopt;
		::usleep(kRetryDelay);
	}
	throw PcrUndecided("PCR 10 (" + bank_name + ") did not tell the candidates apart: the "
			   "kernel's lists changed too fast, or more than one replays to it");
}

} // namespace keeper
