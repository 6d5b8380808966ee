/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One log of the keeper's store: the records of one boot (and of the
 * kexec soft reboots that continued it) moved out of the kernel, on disk.
 * The store directory holds one such log per cold boot (logs.h).
 *
 * A log is a directory with four files (older keepers wrote the first two,
 * or three):
 *
 *	binary_runtime_measurements	the saved records, group after group,
 *					in the kernel's binary format of the
 *					sha1 list: read in order, one binary
 *					measurement list (evmctl reads it)
 *	journal				one fixed-size entry per event, appended
 *	sha256_checkpoints		where to resume the sha256 of a group
 *					from its middle (checkpoints.h)
 *	pcr10_replays			PCR 10 after each group, with a TPM
 *					(replays.h)
 *
 * Journal entries (kJournalEntrySize bytes, integers little-endian):
 *
 *	 0  "IMAK"
 *	 4  u32 kind: 4 group begun (its bytes are about to be written),
 *	              1 group saved (committed), 2 group deleted from the kernel
 *	              (or gone with the boot that held it: a cold boot began),
 *	              3 group rolled back (its bytes are no longer in the store),
 *	              5 boot: the log goes on in the boot of bytes 48 to 63
 *	 8  u64 group number (0, 1, ...: every saved group gets the next one;
 *	        for a boot, the number the next group gets)
 *	16  u64 offset of the group in binary_runtime_measurements (for a
 *	        boot, the end of the committed groups)
 *	24  u64 length of the group in bytes (0 for a boot)
 *	32  u64 records in the group (0 for a boot)
 *	40  u32 flavor the group was saved with: 0 prompt (A/D), 1 N
 *	44  u32 size of the group in the ascii format (ascii_runtime_measurements),
 *	        0 if not known (a template field this keeper does not know, 4
 *	        GiB or more, a keeper older than this field, or a boot)
 *	48  sha256 of the group's bytes; for a boot, its boot_id (16 bytes,
 *	    /proc/sys/kernel/random/boot_id) and 16 zero bytes
 *	80  the first 16 bytes of the sha256 of bytes 0 to 79
 *
 * The first entry of a log is the boot that began it; each kexec soft
 * reboot that carried the log's records on adds one. A log converted from
 * the single-log layout of older keepers has none before its first group.
 *
 * A save appends a "begun" entry, then the group's bytes and its
 * checkpoints, then its "saved" entry, each made durable before the next:
 * the group is committed once the saved entry is, and the kernel is told
 * to delete its records only then. What a crash during a save leaves is a
 * last begun entry, at most that group's bytes past the last committed
 * group (or those of a group the last entry rolled back), its checkpoints
 * past those of the committed groups, and a torn last journal entry (any
 * part of one, a whole one of zeros, or one that crosses a 512-byte sector
 * boundary whose sector after the boundary is zeros and whose checksum so
 * fails): it is ignored when reading and removed when a keeper opens the
 * store. A whole last entry torn so right after a begun one may have been
 * that group's saved entry, durable and acted upon before its sector was
 * damaged: if the group's bytes are all there, the group is kept as saved
 * and pending (its saved entry written again), for the kernel's lists and
 * PCR 10 to settle, which is right either way. Anything else that does not check
 * out is refused, naming the file, the group and the offset, and nothing
 * is changed: a missing journal next to saved bytes, saved bytes no begun
 * entry accounts for (a short journal), an entry's checksum, a data file
 * shorter than the journal says. A group whose bytes do not match its
 * sha256 is refused to whoever reads it, and only to them: the other
 * groups are served, and saves go on after it. The checkpoints file is
 * never a reason to refuse, nor is the replays file: they are derived from
 * the data (checkpoints.h, replays.h).
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "checkpoints.h"
#include "ima/bytes.h"
#include "ima/hash.h"
#include "ima/replay.h"
#include "ima/sys.h"
#include "journal.h"
#include "replays.h"
#include "store_files.h"

namespace keeper {

inline constexpr const char *kDataFileName = "binary_runtime_measurements";
inline constexpr const char *kJournalFileName = "journal";

/* The store does not check out; the message names the group and offset. */
class StoreCorrupted : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

class Store {
public:
	enum class Mode { read, write };

	/*
	 * Opens the log in @dir and checks its journal, and that the data
	 * file holds every group. In write mode the directory and files are
	 * created if missing, what a torn write left behind is removed, and
	 * the checkpoints file is made to match the groups. A group's sha256
	 * is checked when the group is read, so that a damaged group keeps
	 * neither saves nor readers of other groups from going on. Throws
	 * StoreCorrupted.
	 */
	Store(std::string dir, Mode mode);
	Store(Store &&) = default;
	Store &operator=(Store &&) = default;

	const std::string &dir() const { return dir_; }
	std::string data_path() const { return dir_ + "/" + kDataFileName; }
	std::string journal_path() const { return dir_ + "/" + kJournalFileName; }
	std::string checkpoints_path() const { return dir_ + "/" + kCheckpointsFileName; }
	std::string replays_path() const { return dir_ + "/" + kReplaysFileName; }

	/* The committed groups, rolled back ones left out. */
	const std::vector<Group> &groups() const { return groups_; }
	std::uint64_t records() const;
	/* End of the committed bytes of the data file. */
	std::uint64_t data_end() const;
	/* The last group, if the kernel may still hold its records. */
	std::optional<Group> pending_group() const;
	/* The boots the log spans (boot_id), in order; see the journal. */
	const std::vector<std::string> &boots() const { return boots_; }
	bool spans_boot(const std::string &boot_id) const;
	/* What opening the store repaired (a torn write), for the log. */
	const std::vector<std::string> &repairs() const { return repairs_; }
	/* What became of the checkpoints file since last asked (written anew, given up). */
	std::vector<std::string> take_notes();

	/* Bytes [offset, offset + length) of the data file. */
	ima::Bytes read_data(std::uint64_t offset, std::uint64_t length) const;
	/* A group's bytes, checked against its sha256 (StoreCorrupted). */
	ima::Bytes read_group(const Group &group) const;
	/* The same into @bytes, whose memory a reader of many groups reuses. */
	void read_group(const Group &group, ima::Bytes &bytes) const;

	/* The bytes of a group from its record first_record on. */
	struct GroupTail {
		ima::Bytes bytes;
		std::uint64_t first_record = 0;
	};
	/*
	 * The bytes of a group from its record @record, or from a record
	 * before it, on: from the last checkpoint at or before @record, the
	 * sha256 resumed there and checked against the group's, or else the
	 * whole group. Every byte returned is checked (StoreCorrupted).
	 */
	GroupTail read_group_from(const Group &group, std::uint64_t record) const;
	ima::Bytes read_all_data() const { return read_data(0, data_end()); }

	/*
	 * Appends a group and makes it durable: begun entry, data, fsync,
	 * checkpoints, fsync, saved entry, fsync, fsync of the directory.
	 * Throws StoreFull (after taking back what it wrote) when the disk
	 * is full; a failed write of the checkpoints only gives them up.
	 */
	const Group &append_group(ima::ByteView bytes, std::uint64_t records, Flavor flavor);
	/*
	 * PCR 10 in @bank after the first @count committed groups: from the
	 * replays file (replays.h) if its slot checks out, else replayed from
	 * the last slot before it that does, reading the groups between
	 * (StoreCorrupted if one of them is damaged).
	 */
	ima::PcrReplay replay_after(std::size_t count, ima::HashAlgo bank) const;
	/*
	 * Write mode: makes the replays file hold, in @bank, a slot for each
	 * committed group (cutting slots past them, replaying the groups of
	 * missing slots and of slots that do not check out), then writes
	 * one with each group saved. Best effort, as with the checkpoints:
	 * a damaged group leaves its slot and those after it missing.
	 */
	void keep_replays(ima::HashAlgo bank);

	/* Records that the kernel deleted the pending group's records. */
	void mark_deleted();
	/* Records that the log goes on in the boot @boot_id. */
	void append_boot(const std::string &boot_id);
	/* Takes the pending group out of the store; the kernel still has it. */
	void roll_back();

private:
	void refuse_data_without_journal() const;
	void load_journal();
	void load_boot_entry(const JournalEntry &entry, std::uint64_t at);
	void abandon_torn_save();
	void settle_torn_entry_after_begun();
	std::string describe_group(const Group &group) const;
	void read_unchecked(const Group &group, ima::Bytes &bytes) const;
	void check_digest(const Group &group, ima::ByteView sha256) const;
	void check_data_size();
	std::uint64_t checkpoints_size() const;
	ima::Bytes checkpoints_from_data();
	void make_checkpoints_match();
	std::uint64_t checkpoints_offset(const Group &group) const;
	std::optional<GroupTail> read_checked_tail(const Group &group,
						   const Checkpoint &checkpoint) const;
	int write_checkpoints(const Group &group, const std::vector<Checkpoint> &checkpoints);
	void truncate_checkpoints(std::uint64_t size);
	void drop_checkpoints(const std::string &why);
	void repair_tail();
	void append_entry(EntryKind kind, const Group &group, const std::string &consequence);
	void append_entry_bytes(ima::Bytes entry, EntryKind kind, const std::string &consequence);
	void abandon_begun_group(const Group &group);
	std::vector<std::optional<ima::Bytes>> load_replays(ima::HashAlgo bank) const;
	void write_replays(ima::HashAlgo bank);
	void write_replay_after_append(ima::ByteView bytes);
	void give_up_replays(const std::string &why);

	std::string dir_;
	Mode mode_;
	ima::UniqueFd dir_fd_;
	ima::UniqueFd data_fd_;
	ima::UniqueFd journal_fd_;
	/* Write mode: the checkpoints of the committed groups, checkpoints_end_ bytes. */
	ima::UniqueFd checkpoints_fd_;
	std::uint64_t checkpoints_end_ = 0;
	std::vector<Group> groups_;
	std::vector<std::string> boots_;
	std::uint64_t next_number_ = 0;
	std::uint64_t journal_end_ = 0;
	std::uint64_t data_size_ = 0;
	/* A save the journal began and did not commit: a crash interrupted it. */
	std::optional<Group> begun_;
	/* The last journal entry, after begun_'s, was torn (load_journal()). */
	bool torn_after_begun_ = false;
	/* A group kept so: its saved entry is written again on opening. */
	bool resave_entry_ = false;
	/*
	 * The group the journal's last entry rolled back: its bytes may still
	 * follow the committed ones if a crash came before the truncation.
	 */
	std::optional<Group> rolled_back_;
	std::vector<std::string> repairs_;
	std::vector<std::string> notes_;
	/*
	 * Write mode, once keep_replays() was called: PCR 10 after the last
	 * group, empty when a damaged group keeps it from being known.
	 */
	std::optional<ima::HashAlgo> replays_bank_;
	std::optional<ima::Bytes> last_replay_;
};

} // namespace keeper
