/* SPDX-License-Identifier: GPL-2.0 */
/*
 * PCR 10 after each group of a log (store.h), so that the decisions a
 * keeper or a reader makes by PCR 10 (logs.h: did a kexec continue the
 * log, did the kernel delete a pending group, does the log followed by the
 * kernel's lists replay to PCR 10) read the one or two slots they need
 * instead of every group of the log: an old group damaged after its slot
 * was written stops none of them. (A damaged group whose slot was never
 * written, in a log older than the file, cannot be replayed past: the
 * decisions that need it fail as before.)
 *
 * The file pcr10_replays next to the journal (integers little-endian):
 *
 *	 0  "IMAR"
 *	 4  u32 version: 1
 *	 8  the bank replayed in ("sha256" or "sha1"), zero-padded to 8 bytes
 *
 * then, for each committed group in the order of the journal, one slot:
 *
 *	 0  u64 group number
 *	 8  the group's sha256, as the journal has it
 *	40  PCR 10 in the bank after the group: the replay of the log's
 *	    records up to and including the group's, zero-padded to 32 bytes
 *	72  the first 8 bytes of the sha256 of the header and bytes 0 to 71
 *
 * The file is derived from the data, like the checkpoints, and never a
 * reason to refuse anything. A slot that does not check out (checksum,
 * group number, sha256, bank) is passed over for the last one before it
 * that does, and the groups after that one are replayed. A keeper opening
 * the log to write writes the slots that are missing or do not check out
 * (replaying only their groups) and cuts slots past the committed groups,
 * and writes the next one with each group it saves.
 */
#pragma once

#include <cstdint>
#include <optional>

#include "journal.h"
#include "ima/bytes.h"
#include "ima/hash.h"

namespace keeper {

inline constexpr const char *kReplaysFileName = "pcr10_replays";
inline constexpr std::uint64_t kReplaysHeaderSize = 16;
inline constexpr std::uint64_t kReplaySlotSize = 80;

ima::Bytes encode_replays_header(ima::HashAlgo bank);
/* The slot saying that PCR 10 is @value after @group, in the file of @header. */
ima::Bytes encode_replay_slot(ima::ByteView header, const Group &group, ima::ByteView value);
/*
 * The value of @slot (kReplaySlotSize bytes) if it checks out for @group in
 * the file of @header, whose bank must be @bank; else empty.
 */
std::optional<ima::Bytes> decode_replay_slot(ima::ByteView header, ima::ByteView slot,
					     const Group &group, ima::HashAlgo bank);

} // namespace keeper
