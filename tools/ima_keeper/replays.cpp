// SPDX-License-Identifier: GPL-2.0
#include "replays.h"

#include <algorithm>

namespace keeper {

namespace {

constexpr char kMagic[] = "IMAR";
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kSha256Size = 32;
constexpr std::size_t kValueSize = 32;
constexpr std::size_t kChecksumAt = 72;
constexpr std::size_t kChecksumSize = 8;

ima::Bytes checksum(ima::ByteView header, ima::ByteView slot)
{
	ima::Bytes digest = ima::Hasher(ima::HashAlgo::sha256)
				    .update(header)
				    .update(slot.first(kChecksumAt))
				    .finish();

	digest.resize(kChecksumSize);
	return digest;
}

} // namespace

ima::Bytes encode_replays_header(ima::HashAlgo bank)
{
	ima::Bytes header(kMagic, kMagic + 4);
	std::string_view name = ima::hash_name(bank);

	ima::append_le32(header, kVersion);
	header.insert(header.end(), name.begin(), name.end());
	header.resize(kReplaysHeaderSize, 0);
	return header;
}

ima::Bytes encode_replay_slot(ima::ByteView header, const Group &group, ima::ByteView value)
{
	ima::Bytes slot;

	ima::append_le64(slot, group.number);
	ima::append(slot, group.sha256);
	ima::append(slot, value);
	slot.resize(kChecksumAt, 0);
	ima::append(slot, checksum(header, slot));
	return slot;
}

std::optional<ima::Bytes> decode_replay_slot(ima::ByteView header, ima::ByteView slot,
					     const Group &group, ima::HashAlgo bank)
{
	if (header.size() != kReplaysHeaderSize || slot.size() != kReplaySlotSize ||
	    !std::ranges::equal(header, encode_replays_header(bank)) ||
	    !std::ranges::equal(slot.subspan(kChecksumAt), checksum(header, slot)) ||
	    ima::load_le64(slot, 0) != group.number ||
	    !std::ranges::equal(slot.subspan(8, kSha256Size), group.sha256))
		return std::nullopt;

	ima::ByteView value = slot.subspan(8 + kSha256Size, ima::digest_size(bank));
	ima::ByteView padding = slot.subspan(8 + kSha256Size + value.size(),
					     kValueSize - value.size());
	if (std::ranges::any_of(padding, [](std::uint8_t byte) { return byte != 0; }))
		return std::nullopt;
	return ima::Bytes(value.begin(), value.end());
}

} // namespace keeper
