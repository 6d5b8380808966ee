/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Checkpoints of the sha256 of each group of a log (store.h): where a reader
 * that wants the records of a group from its middle on resumes the sha256
 * the journal holds, so that it checks the bytes it serves and not the
 * megabyte before them.
 *
 * The file sha256_checkpoints next to the journal (integers little-endian):
 *
 *	 0  "IMAC"
 *	 4  u32 version: 1
 *	 8  u32 interval: 65536 (kCheckpointInterval)
 *	12  u32 slot size: 64
 *
 * then, for each committed group in the order of the journal, (length - 1)
 * / interval slots (none for an empty group), slot k (1, 2, ...) for the
 * first record that begins k * interval bytes or more into the group:
 *
 *	 0  u64 group number
 *	 8  u32 k
 *	12  u32 the record's number within the group (the group's number of
 *	        records, at most UINT32_MAX, if no record begins there)
 *	16  u64 the record's offset within the group (the group's length if
 *	        none)
 *	24  the sha256 state after the group's first offset / 64 blocks, eight
 *	    u32
 *	56  the first 8 bytes of the sha256 of bytes 0 to 55
 *
 * The file holds nothing the journal and the data do not: it is derived
 * from them. A reader passes over a slot that does not check out (its
 * checksum, group number or k) for the one before it, checks what it
 * resumes against the group's sha256 in the journal, and reads the whole
 * group if that fails or the bytes do not hold the records the slot says;
 * a keeper opening the log to write makes the file match the data again
 * (a crash, a keeper that did not write it).
 */
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "ima/bytes.h"
#include "ima/hash.h"

namespace keeper {

inline constexpr const char *kCheckpointsFileName = "sha256_checkpoints";
inline constexpr std::uint64_t kCheckpointInterval = 65536;
inline constexpr std::uint64_t kCheckpointsHeaderSize = 16;
inline constexpr std::uint64_t kCheckpointSlotSize = 64;

struct Checkpoint {
	/* A record of the group, and where it begins in the group. */
	std::uint64_t record = 0;
	std::uint64_t offset = 0;
	/* The sha256 of the group's first offset / 64 blocks, unfinished. */
	ima::Sha256Midstate midstate;
};

struct GroupDigest {
	ima::Bytes sha256;
	std::vector<Checkpoint> checkpoints;
};

/* How many slots a group of @length bytes has. */
std::uint64_t checkpoint_slots(std::uint64_t length);

/*
 * The sha256 of a group (@records records of a sha1 list) and its
 * checkpoints, in one pass. Bytes that do not parse as @records records get
 * slots that name no record.
 */
GroupDigest digest_group(ima::ByteView bytes, std::uint64_t records);

ima::Bytes encode_checkpoints_header();
bool is_checkpoints_header(ima::ByteView bytes);
/* The slots of the group numbered @number. */
ima::Bytes encode_checkpoints(std::uint64_t number, const std::vector<Checkpoint> &checkpoints);

/*
 * The last checkpoint of group @number, in @slots (its slots as read from
 * the file), at or before its record @record; none if no slot before it
 * checks out.
 */
std::optional<Checkpoint> checkpoint_before(ima::ByteView slots, std::uint64_t number,
					    std::uint64_t record);

} // namespace keeper
