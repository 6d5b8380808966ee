/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The entries of a log's journal (the format is in store.h): what a group
 * is, and how an entry is written and read back.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "ima/bytes.h"

namespace keeper {

inline constexpr std::size_t kJournalEntrySize = 96;

enum class Flavor : std::uint32_t { prompt = 0, n = 1 };

struct Group {
	enum class State { pending, deleted };

	std::uint64_t number = 0;
	std::uint64_t offset = 0;
	std::uint64_t length = 0;
	std::uint64_t records = 0;
	Flavor flavor = Flavor::prompt;
	ima::Bytes sha256;
	/* Bytes in the ascii format; 0 if not known (see the journal). */
	std::uint32_t ascii_size = 0;
	/* pending: saved, the kernel was not (known to be) told to delete it. */
	State state = State::pending;
};

/* An entry's kind, as the journal numbers them. */
enum class EntryKind : std::uint32_t {
	saved = 1,
	deleted = 2,
	rolled_back = 3,
	begun = 4,
	boot = 5,
};

/* A journal entry as read: a group's, or a boot's. */
struct JournalEntry {
	/* As written: an unknown kind is the reader's to refuse. */
	std::uint32_t kind = 0;
	/* A group entry's group; a boot entry's number and offset only. */
	Group group;
	/* A boot entry's boot_id ("8b1f...-..."), else empty. */
	std::string boot_id;
	/* A boot entry whose other fields are zero, as written. */
	bool boot_fields_clear = false;
};

ima::Bytes encode_group_entry(EntryKind kind, const Group &group);
/* The entry saying the log goes on in @boot_id, at group @number and byte @offset. */
ima::Bytes encode_boot_entry(std::uint64_t number, std::uint64_t offset,
			     const std::string &boot_id);

/* Whether @entry (kJournalEntrySize bytes) has the magic and its checksum. */
bool entry_checks_out(ima::ByteView entry);
/* Reads an entry that checks out. */
JournalEntry decode_entry(ima::ByteView entry);

/*
 * Whether @entry, at @offset of the journal, is what a power cut leaves of
 * an entry that crosses a sector boundary: one of the two sectors written
 * and the other not (zeros, the disk writes them in any order), so it
 * fails its checksum. Sectors are written whole or not at all.
 */
bool torn_at_a_sector_boundary(ima::ByteView entry, std::uint64_t offset);

/* A boot_id ("8b1f...-...") as 16 bytes and back; throws std::invalid_argument. */
ima::Bytes boot_id_bytes(const std::string &boot_id);
std::string boot_id_text(ima::ByteView bytes);

} // namespace keeper
