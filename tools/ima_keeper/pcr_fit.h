/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What PCR 10 says about the records before the kernel's lists.
 *
 * The invariant of measurement staging: the records moved out of the
 * kernel, followed by the kernel's staged and current lists, replay to PCR
 * 10. So of several candidates for what came before the kernel's lists
 * (nothing: a cold boot; the store with or without its last group: was it
 * deleted?), the one that replays to PCR 10 is what happened, even when
 * records are identical byte for byte (violations are never deduplicated,
 * and ima_flush_htable lets a file's record come again).
 *
 * IMA lists a record and then extends the PCR with it, both under one
 * mutex: when the PCR is read, at most one listed record is not in it yet,
 * and none listed later is. The lists are read before and after the PCR,
 * and only the prefixes that can be what the PCR holds are compared.
 */
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "kernel_files.h"
#include "ima/bytes.h"
#include "ima/hash.h"
#include "ima/replay.h"

namespace keeper {

/*
 * PCR 10 did not settle the question: more than one candidate matches, or
 * the lists changed too fast to tell. Asking again later may settle it.
 */
class PcrUndecided : public KeeperError {
public:
	using KeeperError::KeeperError;
};

/*
 * The PCR bank decisions replay in: sha256 if the TPM has it, else sha1;
 * empty without a TPM (or with neither bank).
 */
std::optional<ima::HashAlgo> decision_bank();

/* Extends @replay, in @bank, with the records of @sha1_list. */
void extend_with_list(ima::PcrReplay &replay, ima::ByteView sha1_list, ima::HashAlgo bank);

/*
 * Which of @candidates (replays of what may precede the kernel's lists, in
 * @bank) followed by the kernel's staged and current lists gives PCR 10:
 * its index, or empty if none does (the invariant does not hold: records
 * were lost, such as a kexec that could not carry them all). Throws
 * PcrUndecided.
 */
std::optional<std::size_t> candidate_matching_pcr(const std::vector<ima::PcrReplay> &candidates,
						  ima::HashAlgo bank);

} // namespace keeper
