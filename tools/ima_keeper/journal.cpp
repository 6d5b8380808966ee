// SPDX-License-Identifier: GPL-2.0
#include "journal.h"

#include <algorithm>
#include <stdexcept>

#include "ima/hash.h"

using ima::Bytes;
using ima::ByteView;

namespace keeper {

namespace {

constexpr std::size_t kBootIdSize = 16;
constexpr std::size_t kSha256Offset = 48;
constexpr std::size_t kSha256Size = 32;
constexpr std::size_t kEntryChecksumOffset = 80;
constexpr std::size_t kEntryChecksumSize = 16;
constexpr char kEntryMagic[4] = {'I', 'M', 'A', 'K'};
/* The unit a disk writes whole or not at all, at the least. */
constexpr std::uint64_t kSectorSize = 512;

Bytes entry_checksum(ByteView entry)
{
	Bytes digest = ima::hash(ima::HashAlgo::sha256, entry.first(kEntryChecksumOffset));

	digest.resize(kEntryChecksumSize);
	return digest;
}

/* Bytes 48 to 79 hold a group's sha256, or a boot's id and zeros. */
Bytes encode_entry(std::uint32_t kind, const Group &group, ByteView digest_field)
{
	Bytes entry(kEntryMagic, kEntryMagic + 4);

	ima::append_le32(entry, kind);
	ima::append_le64(entry, group.number);
	ima::append_le64(entry, group.offset);
	ima::append_le64(entry, group.length);
	ima::append_le64(entry, group.records);
	ima::append_le32(entry, static_cast<std::uint32_t>(group.flavor));
	ima::append_le32(entry, group.ascii_size);
	ima::append(entry, digest_field);
	ima::append(entry, entry_checksum(entry));
	return entry;
}

} // namespace

Bytes encode_group_entry(EntryKind kind, const Group &group)
{
	return encode_entry(static_cast<std::uint32_t>(kind), group, group.sha256);
}

Bytes encode_boot_entry(std::uint64_t number, std::uint64_t offset, const std::string &boot_id)
{
	Group at;
	Bytes id = boot_id_bytes(boot_id);

	at.number = number;
	at.offset = offset;
	id.resize(kSha256Size);
	return encode_entry(static_cast<std::uint32_t>(EntryKind::boot), at, id);
}

bool entry_checks_out(ByteView entry)
{
	return std::equal(entry.begin(), entry.begin() + 4, kEntryMagic) &&
	       std::equal(entry.begin() + kEntryChecksumOffset, entry.end(),
			  entry_checksum(entry).begin());
}

JournalEntry decode_entry(ByteView entry)
{
	JournalEntry decoded;
	Group &group = decoded.group;
	ByteView digest_field = entry.subspan(kSha256Offset, kSha256Size);

	decoded.kind = ima::load_le32(entry, 4);
	group.number = ima::load_le64(entry, 8);
	group.offset = ima::load_le64(entry, 16);
	group.length = ima::load_le64(entry, 24);
	group.records = ima::load_le64(entry, 32);
	group.flavor = static_cast<Flavor>(ima::load_le32(entry, 40));
	group.ascii_size = ima::load_le32(entry, 44);
	if (decoded.kind != static_cast<std::uint32_t>(EntryKind::boot)) {
		group.sha256.assign(digest_field.begin(), digest_field.end());
		return decoded;
	}
	decoded.boot_id = boot_id_text(digest_field.first(kBootIdSize));
	decoded.boot_fields_clear = !group.length && !group.records && !group.ascii_size &&
				    ima::is_all_zero(digest_field.subspan(kBootIdSize));
	return decoded;
}

bool torn_at_a_sector_boundary(ByteView entry, std::uint64_t offset)
{
	std::uint64_t boundary = (offset / kSectorSize + 1) * kSectorSize;

	if (boundary >= offset + entry.size() || entry_checks_out(entry))
		return false;
	ByteView head = entry.first(boundary - offset);
	ByteView tail = entry.subspan(boundary - offset);
	if (ima::is_all_zero(tail))
		return std::equal(head.begin(), head.begin() + 4, kEntryMagic);
	return ima::is_all_zero(head);
}

Bytes boot_id_bytes(const std::string &boot_id)
{
	std::string hex;

	for (char c : boot_id)
		if (c != '-')
			hex.push_back(c);
	Bytes bytes = ima::from_hex(hex);
	if (bytes.size() != kBootIdSize || boot_id.size() != 36)
		throw std::invalid_argument("not a boot_id: '" + boot_id + "'");
	return bytes;
}

std::string boot_id_text(ByteView bytes)
{
	std::string hex = ima::to_hex(bytes.first(kBootIdSize));

	return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
	       hex.substr(16, 4) + "-" + hex.substr(20);
}

} // namespace keeper
