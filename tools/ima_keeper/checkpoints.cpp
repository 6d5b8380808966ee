// SPDX-License-Identifier: GPL-2.0
#include "checkpoints.h"

#include <algorithm>

#include "ima/records.h"

using ima::Bytes;
using ima::ByteView;

namespace keeper {

namespace {

constexpr char kMagic[4] = {'I', 'M', 'A', 'C'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kSlotChecksumOffset = 56;

/* Where each of the @records records begins, then the end; empty if they do not parse. */
std::vector<std::size_t> record_bounds_or_none(ByteView bytes, std::uint64_t records)
{
	std::vector<std::size_t> bounds;

	try {
		bounds = ima::sha1_record_bounds(bytes);
	} catch (const ima::ParseError &) {
		return {};
	}
	if (bounds.size() != records + 1)
		return {};
	return bounds;
}

Bytes slot_checksum(ByteView slot)
{
	Bytes digest = ima::hash(ima::HashAlgo::sha256, slot.first(kSlotChecksumOffset));

	digest.resize(kCheckpointSlotSize - kSlotChecksumOffset);
	return digest;
}

} // namespace

std::uint64_t checkpoint_slots(std::uint64_t length)
{
	return length ? (length - 1) / kCheckpointInterval : 0;
}

GroupDigest digest_group(ByteView bytes, std::uint64_t records)
{
	/* A slot's u32 names no record past UINT32_MAX - 1 (never reached). */
	std::vector<std::size_t> bounds =
		records < UINT32_MAX ? record_bounds_or_none(bytes, records) : std::vector<std::size_t>();
	std::uint64_t slots = checkpoint_slots(bytes.size());
	ima::ResumableSha256 sha;
	GroupDigest digest;
	std::uint64_t record = 0;

	for (std::uint64_t k = 1; k <= slots; k++) {
		Checkpoint checkpoint{std::min<std::uint64_t>(records, UINT32_MAX), bytes.size(), {}};

		if (!bounds.empty()) {
			while (record < records && bounds[record] < k * kCheckpointInterval)
				record++;
			checkpoint.record = record;
			checkpoint.offset = bounds[record];
		}
		std::uint64_t block_start = checkpoint.offset / ima::kSha256BlockSize *
					    ima::kSha256BlockSize;
		sha.update(bytes.subspan(sha.length(), block_start - sha.length()));
		checkpoint.midstate = sha.midstate();
		digest.checkpoints.push_back(checkpoint);
	}
	sha.update(bytes.subspan(sha.length()));
	digest.sha256 = sha.finish();
	return digest;
}

Bytes encode_checkpoints_header()
{
	Bytes header(kMagic, kMagic + sizeof(kMagic));

	ima::append_le32(header, kVersion);
	ima::append_le32(header, static_cast<std::uint32_t>(kCheckpointInterval));
	ima::append_le32(header, static_cast<std::uint32_t>(kCheckpointSlotSize));
	return header;
}

bool is_checkpoints_header(ByteView bytes)
{
	return bytes.size() >= kCheckpointsHeaderSize &&
	       std::ranges::equal(bytes.first(kCheckpointsHeaderSize), encode_checkpoints_header());
}

Bytes encode_checkpoints(std::uint64_t number, const std::vector<Checkpoint> &checkpoints)
{
	Bytes slots;

	for (std::size_t i = 0; i < checkpoints.size(); i++) {
		const Checkpoint &checkpoint = checkpoints[i];
		Bytes slot;

		ima::append_le64(slot, number);
		ima::append_le32(slot, static_cast<std::uint32_t>(i + 1));
		ima::append_le32(slot, static_cast<std::uint32_t>(checkpoint.record));
		ima::append_le64(slot, checkpoint.offset);
		for (std::uint32_t word : checkpoint.midstate.state)
			ima::append_le32(slot, word);
		ima::append(slot, slot_checksum(slot));
		ima::append(slots, slot);
	}
	return slots;
}

std::optional<Checkpoint> checkpoint_before(ByteView slots, std::uint64_t number,
					    std::uint64_t record)
{
	std::optional<Checkpoint> found;

	for (std::size_t k = 1; k * kCheckpointSlotSize <= slots.size(); k++) {
		ByteView slot = slots.subspan((k - 1) * kCheckpointSlotSize, kCheckpointSlotSize);
		Checkpoint checkpoint;

		if (!std::ranges::equal(slot.subspan(kSlotChecksumOffset), slot_checksum(slot)) ||
		    ima::load_le64(slot, 0) != number || ima::load_le32(slot, 8) != k)
			continue;
		checkpoint.record = ima::load_le32(slot, 12);
		checkpoint.offset = ima::load_le64(slot, 16);
		if (checkpoint.record > record)
			break;
		for (std::size_t i = 0; i < checkpoint.midstate.state.size(); i++)
			checkpoint.midstate.state[i] = ima::load_le32(slot, 24 + 4 * i);
		checkpoint.midstate.blocks = checkpoint.offset / ima::kSha256BlockSize;
		found = checkpoint;
	}
	return found;
}

} // namespace keeper
