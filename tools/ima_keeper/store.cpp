// SPDX-License-Identifier: GPL-2.0
#include "store.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <utility>

#include "fault.h"
#include "ima/bytes.h"
#include "ima/hash.h"
#include "ima/records.h"

using ima::Bytes;
using ima::ByteView;
using ima::UniqueFd;

namespace keeper {

namespace {

constexpr std::uint32_t kEntryGroupSaved = 1;
constexpr std::uint32_t kEntryGroupDeleted = 2;
constexpr std::uint32_t kEntryGroupRolledBack = 3;
constexpr std::uint32_t kEntryGroupBegun = 4;
constexpr std::uint32_t kEntryBoot = 5;
constexpr std::size_t kBootIdSize = 16;
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

Bytes encode_entry(std::uint32_t kind, const Group &group)
{
	Bytes entry(kEntryMagic, kEntryMagic + 4);

	ima::append_le32(entry, kind);
	ima::append_le64(entry, group.number);
	ima::append_le64(entry, group.offset);
	ima::append_le64(entry, group.length);
	ima::append_le64(entry, group.records);
	ima::append_le32(entry, static_cast<std::uint32_t>(group.flavor));
	ima::append_le32(entry, group.ascii_size);
	ima::append(entry, group.sha256);
	ima::append(entry, entry_checksum(entry));
	return entry;
}

bool entry_checks_out(ByteView entry)
{
	return std::equal(entry.begin(), entry.begin() + 4, kEntryMagic) &&
	       std::equal(entry.begin() + kEntryChecksumOffset, entry.end(),
			  entry_checksum(entry).begin());
}

/*
 * Whether @entry, at @offset of the journal, is what a power cut leaves of
 * an entry that crosses a sector boundary: one of the two sectors written
 * and the other not (zeros, the disk writes them in any order), so it
 * fails its checksum. Sectors are written whole or not at all.
 */
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

std::string where(const std::string &path, std::uint64_t offset)
{
	return path + " at offset " + std::to_string(offset);
}

[[noreturn]] void corrupted(const std::string &what)
{
	throw StoreCorrupted("store corrupted: " + what +
			     "; nothing was changed (ima-keeper fsck lists what is damaged)");
}

UniqueFd open_store_file(const std::string &path, Store::Mode mode)
{
	int flags = mode == Store::Mode::write ? O_RDWR | O_CREAT : O_RDONLY;
	ima::OpenResult result = ima::try_open(path, flags, 0600);

	if (result.error == ENOENT && mode == Store::Mode::read)
		return UniqueFd();
	if (result.error)
		throw std::system_error(result.error, std::generic_category(), "open " + path);
	return std::move(result.fd);
}

std::uint64_t file_size(int fd, const std::string &path)
{
	struct stat st;

	if (::fstat(fd, &st))
		ima::throw_errno("stat " + path);
	return static_cast<std::uint64_t>(st.st_size);
}

void read_exactly_at(int fd, std::uint8_t *out, std::size_t size, std::uint64_t offset,
		     const std::string &path)
{
	std::size_t done = 0;

	while (done < size) {
		ssize_t got = ::pread(fd, out + done, size - done, static_cast<off_t>(offset + done));

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			ima::throw_errno("read " + path);
		if (got == 0)
			throw std::runtime_error("read " + path + ": unexpected end of file");
		done += static_cast<std::size_t>(got);
	}
}

/* Writes everything at @offset; returns 0 or the errno of the failed write. */
int write_at(int fd, ByteView bytes, std::uint64_t offset)
{
	while (!bytes.empty()) {
		ssize_t done = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));

		if (done < 0 && errno == EINTR)
			continue;
		if (done < 0)
			return errno;
		bytes = bytes.subspan(static_cast<std::size_t>(done));
		offset += static_cast<std::uint64_t>(done);
	}
	return 0;
}

constexpr const char *kNotDurable =
	"nothing was deleted from the kernel; the next start settles the group by PCR 10 and "
	"writes it again";

void sync_or_throw(int fd, const std::string &path)
{
	if (::fsync(fd))
		throw StoreNotDurable("fsync " + path + ": " + std::strerror(errno) + " (" +
				      kNotDurable + ")");
}

void truncate_or_throw(int fd, std::uint64_t size, const std::string &path)
{
	if (::ftruncate(fd, static_cast<off_t>(size)))
		ima::throw_errno("truncate " + path);
}

/* @consequence: what the failed write means for the records. */
[[noreturn]] void throw_write_error(int error, const std::string &path,
				    const std::string &consequence)
{
	if (error == ENOSPC || error == EDQUOT)
		throw StoreFull("no space left to write " + path + " (" + consequence + ")");
	throw std::system_error(error, std::generic_category(),
				"write " + path + " (" + consequence + ")");
}

constexpr const char *kNothingDeleted = "nothing was deleted from the kernel";

bool same_group(const Group &a, const Group &b)
{
	return a.number == b.number && a.offset == b.offset && a.length == b.length &&
	       a.records == b.records && a.flavor == b.flavor && a.sha256 == b.sha256 &&
	       a.ascii_size == b.ascii_size;
}

/* The size of @sha1_list in the ascii format, or 0: a field IMA does not know, 4 GiB or more. */
std::uint32_t ascii_size_or_zero(ByteView sha1_list)
{
	std::uint64_t size = 0;

	try {
		size = ima::format_ascii_records(ima::parse_sha1_list(sha1_list)).size();
	} catch (const ima::ParseError &) {
		return 0;
	}
	return size > UINT32_MAX ? 0 : static_cast<std::uint32_t>(size);
}

/*
 * The size of @fd if it is a regular file that begins with @bytes; reads
 * no more than them.
 */
std::optional<std::uint64_t> size_if_it_begins_with(int fd, ByteView bytes)
{
	struct stat st;

	if (::fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    static_cast<std::uint64_t>(st.st_size) < bytes.size())
		return std::nullopt;
	Bytes start(bytes.size());
	read_exactly_at(fd, start.data(), start.size(), 0, "the checkpoints file");
	if (!std::ranges::equal(start, bytes))
		return std::nullopt;
	return static_cast<std::uint64_t>(st.st_size);
}

} // namespace

Store::Store(std::string dir, Mode mode) : dir_(std::move(dir)), mode_(mode)
{
	if (mode_ == Mode::write)
		make_private_dir(dir_);
	ima::OpenResult dir_fd = ima::try_open(dir_, O_RDONLY | O_DIRECTORY);
	if (dir_fd.error == ENOENT && mode_ == Mode::read)
		return;
	if (dir_fd.error)
		throw std::system_error(dir_fd.error, std::generic_category(), "open " + dir_);
	dir_fd_ = std::move(dir_fd.fd);
	data_fd_ = open_store_file(data_path(), mode_);
	refuse_data_without_journal();
	journal_fd_ = open_store_file(journal_path(), mode_);
	if (!journal_fd_)
		return;
	load_journal();
	check_data_size();
	if (mode_ != Mode::write)
		return;
	repair_tail();
	if (resave_entry_) {
		append_entry(kEntryGroupSaved, groups_.back(),
			     "the saved entry of a group whose entry was torn is not written again");
		resave_entry_ = false;
	}
	/*
	 * What a killed keeper wrote may still be only in the page cache:
	 * make it durable before acting on it (a reconcile may delete).
	 */
	sync_or_throw(data_fd_.get(), data_path());
	sync_or_throw(journal_fd_.get(), journal_path());
	sync_or_throw(dir_fd_.get(), dir_);
	make_checkpoints_match();
}

/*
 * Without its journal nothing of the data file is known to be committed:
 * treating it as uncommitted would destroy every saved record.
 */
void Store::refuse_data_without_journal() const
{
	std::string path = journal_path();
	std::uint64_t size = data_fd_ ? file_size(data_fd_.get(), data_path()) : 0;

	if (size > 0 && ::access(path.c_str(), F_OK) && errno == ENOENT)
		corrupted("the journal " + path + " is missing, but " + data_path() + " holds " +
			  std::to_string(size) + " bytes of saved records");
}

void Store::load_journal()
{
	std::string path = journal_path();
	std::uint64_t size = file_size(journal_fd_.get(), path);
	Bytes journal(size);

	read_exactly_at(journal_fd_.get(), journal.data(), journal.size(), 0, path);
	journal_end_ = size - size % kJournalEntrySize;
	/*
	 * An append the file system extended the file for, then lost; or the
	 * last entry, torn where it crosses a sector boundary. Each step of a
	 * save waits for its entry to be durable before the next: the last
	 * entry, torn, was never acted upon, whatever its kind.
	 */
	bool dropped_last = false;
	if (journal_end_ >= kJournalEntrySize) {
		std::uint64_t last = journal_end_ - kJournalEntrySize;
		ByteView entry = ByteView(journal).subspan(last, kJournalEntrySize);

		dropped_last = ima::is_all_zero(entry) ||
			       (journal_end_ == size && torn_at_a_sector_boundary(entry, last));
		if (dropped_last)
			journal_end_ = last;
	}
	for (std::uint64_t at = 0; at < journal_end_; at += kJournalEntrySize) {
		ByteView entry = ByteView(journal).subspan(at, kJournalEntrySize);
		std::uint32_t kind = ima::load_le32(entry, 4);
		Group group;

		if (!entry_checks_out(entry))
			corrupted("journal entry " + std::to_string(at / kJournalEntrySize) +
				  " (" + where(path, at) + ") fails its checksum");
		group.number = ima::load_le64(entry, 8);
		group.offset = ima::load_le64(entry, 16);
		group.length = ima::load_le64(entry, 24);
		group.records = ima::load_le64(entry, 32);
		group.flavor = static_cast<Flavor>(ima::load_le32(entry, 40));
		group.ascii_size = ima::load_le32(entry, 44);
		group.sha256.assign(entry.begin() + 48, entry.begin() + 80);

		if (kind == kEntryBoot) {
			load_boot_entry(group, at);
			continue;
		}
		std::string name = "group " + std::to_string(group.number) + " (journal entry " +
				   std::to_string(at / kJournalEntrySize) + ", " + where(path, at) + ")";
		if (kind == kEntryGroupBegun || kind == kEntryGroupSaved)
			rolled_back_.reset();
		if (begun_) {
			if (kind != kEntryGroupSaved || !same_group(*begun_, group))
				corrupted(name + " follows the begun save of group " +
					  std::to_string(begun_->number) + " but does not commit it");
			begun_.reset();
		} else if (kind == kEntryGroupBegun) {
			if (group.number != next_number_ || group.offset != data_end())
				corrupted(name + " begins a group that does not follow the groups "
						 "before it");
			begun_ = group;
			continue;
		}
		if (kind == kEntryGroupSaved) {
			if (group.number != next_number_ || group.offset != data_end())
				corrupted(name + " does not follow the groups before it (expected group " +
					  std::to_string(next_number_) + " at byte " +
					  std::to_string(data_end()) + ")");
			next_number_++;
			groups_.push_back(group);
			continue;
		}
		if (kind != kEntryGroupDeleted && kind != kEntryGroupRolledBack)
			corrupted(name + " has unknown kind " + std::to_string(kind));
		if (groups_.empty() || groups_.back().number != group.number ||
		    groups_.back().state != Group::State::pending)
			corrupted(name + " names a group that is not the last one saved");
		if (kind == kEntryGroupDeleted) {
			groups_.back().state = Group::State::deleted;
		} else {
			rolled_back_ = groups_.back();
			groups_.pop_back();
		}
	}
	if (journal_end_ != size)
		repairs_.push_back("a torn journal entry (" + std::to_string(size - journal_end_) +
				   " bytes at offset " + std::to_string(journal_end_) + ")");
	/*
	 * The entry torn after a begun one may have been its saved entry, made
	 * durable and acted upon (the kernel deleted the group) before the
	 * sector was damaged: check_data() keeps the group if its bytes are
	 * all there.
	 */
	if (begun_ && dropped_last)
		torn_after_begun_ = true;
	else if (begun_)
		abandon_torn_save();
}

/* A begun save whose group is not all there: never committed, dropped. */
void Store::abandon_torn_save()
{
	journal_end_ -= kJournalEntrySize;
	repairs_.push_back("the save of group " + std::to_string(begun_->number) +
			   " it began (its journal entry at offset " + std::to_string(journal_end_) +
			   ")");
}

/*
 * The last journal entry, after a begun one, was torn. If the group's bytes
 * are all there, the torn entry may have been the saved one: the group is
 * kept as saved and pending, for the kernel's lists and PCR 10 to settle
 * (written again as saved when a keeper opens the store). Else the save
 * never committed, and it is dropped.
 */
void Store::settle_torn_entry_after_begun()
{
	const Group group = *begun_;
	bool complete = false;

	torn_after_begun_ = false;
	if (group.offset + group.length <= data_size_) {
		Bytes bytes;

		read_unchecked(group, bytes);
		complete = std::ranges::equal(digest_group(bytes, group.records).sha256, group.sha256);
	}
	if (!complete) {
		abandon_torn_save();
		return;
	}
	groups_.push_back(group);
	next_number_++;
	begun_.reset();
	resave_entry_ = true;
	notes_.push_back(describe_group(group) + ": the journal entry after its begun one was " +
			 "torn and its bytes are all there: it stays saved, pending, for the " +
			 "kernel's lists and PCR 10 to settle");
}

/* A boot entry: between groups, at the end of the committed ones. */
void Store::load_boot_entry(const Group &entry, std::uint64_t at)
{
	std::string path = journal_path();
	ByteView id = ByteView(entry.sha256).first(kBootIdSize);

	if (begun_ || entry.number != next_number_ || entry.offset != data_end() ||
	    entry.length || entry.records || entry.ascii_size ||
	    !ima::is_all_zero(ByteView(entry.sha256).subspan(kBootIdSize)))
		corrupted("journal entry " + std::to_string(at / kJournalEntrySize) + " (" +
			  where(path, at) + ") names a boot where none can be");
	boots_.push_back(boot_id_text(id));
}

std::string Store::describe_group(const Group &group) const
{
	return "group " + std::to_string(group.number) + " (bytes " + std::to_string(group.offset) +
	       " to " + std::to_string(group.offset + group.length) + " of " + data_path() + ")";
}

void Store::check_digest(const Group &group, ByteView sha256) const
{
	if (!std::ranges::equal(sha256, group.sha256))
		corrupted(describe_group(group) + ": the bytes do not match the group's sha256");
}

/*
 * Checks that the data file holds every group. Their bytes are checked when
 * they are read, not here: a damaged group is found by whoever reads it
 * (and by "ima-keeper fsck"), and saving goes on after it.
 */
void Store::check_data_size()
{
	data_size_ = data_fd_ ? file_size(data_fd_.get(), data_path()) : 0;
	if (torn_after_begun_)
		settle_torn_entry_after_begun();
	for (const Group &group : groups_)
		if (group.offset + group.length > data_size_)
			corrupted(describe_group(group) + ": the file ends at byte " +
				  std::to_string(data_size_));
	if (data_size_ <= data_end())
		return;
	std::uint64_t tail = data_size_ - data_end();
	/* A save that began, or a rollback that did not truncate yet. */
	const std::optional<Group> &accounted = begun_ ? begun_ : rolled_back_;
	if (!accounted || accounted->offset != data_end() || tail > accounted->length)
		corrupted(std::to_string(tail) + " bytes of " + data_path() + " after its last " +
			  "committed group (from byte " + std::to_string(data_end()) +
			  ") that no begun save in the journal accounts for: the journal is short");
	repairs_.push_back(std::to_string(tail) + " uncommitted bytes at the end of " + data_path());
}

/* The size of the checkpoints file with the slots of every committed group. */
std::uint64_t Store::checkpoints_size() const
{
	std::uint64_t slots = 0;

	for (const Group &group : groups_)
		slots += checkpoint_slots(group.length);
	return kCheckpointsHeaderSize + slots * kCheckpointSlotSize;
}

/*
 * The checkpoints of the committed groups, from the data. A group that
 * does not match its sha256 gets empty slots, which readers pass over:
 * its bytes fail when they are read, whatever the slots say.
 */
Bytes Store::checkpoints_from_data()
{
	Bytes bytes;
	Bytes checkpoints = encode_checkpoints_header();

	for (const Group &group : groups_) {
		read_unchecked(group, bytes);
		GroupDigest digest = digest_group(bytes, group.records);
		if (std::ranges::equal(digest.sha256, group.sha256)) {
			ima::append(checkpoints, encode_checkpoints(group.number, digest.checkpoints));
			continue;
		}
		checkpoints.resize(checkpoints.size() +
				   checkpoint_slots(group.length) * kCheckpointSlotSize);
		notes_.push_back(describe_group(group) + " does not match its sha256: its " +
				 "checkpoints are left empty (ima-keeper fsck)");
	}
	return checkpoints;
}

/*
 * Makes the checkpoints file hold the slots of the committed groups: slots
 * past them (a crash during a save or a rollback) are cut; a file that is
 * missing while groups are not, is shorter than their slots or does not
 * begin with the header (a keeper that does not write it saved, or it is
 * damaged) is written anew from the data. The slots themselves are not
 * read: readers check what a slot resumes against the group's sha256.
 * Best effort: the file is derived from the data, so a keeper that cannot
 * write it saves without it, and readers check whole groups.
 */
void Store::make_checkpoints_match()
{
	std::string path = checkpoints_path();
	std::string temp = path + ".new";
	std::uint64_t expected = checkpoints_size();

	try {
		/* What a crash while writing it anew left. */
		::unlink(temp.c_str());
		/* O_NONBLOCK: whatever is there, it is not waited for. */
		ima::OpenResult existing = ima::try_open(path, O_RDWR | O_NONBLOCK);
		std::optional<std::uint64_t> size;
		if (!existing.error)
			size = size_if_it_begins_with(existing.fd.get(), encode_checkpoints_header());
		if (size && *size >= expected) {
			checkpoints_fd_ = std::move(existing.fd);
			checkpoints_end_ = *size;
			if (*size > expected)
				repairs_.push_back(std::to_string(*size - expected) +
						   " bytes of checkpoints past the committed groups");
			truncate_checkpoints(expected);
			return;
		}
		Bytes checkpoints = checkpoints_from_data();
		UniqueFd fd = ima::open_or_throw(temp, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (int error = write_at(fd.get(), checkpoints, 0))
			throw std::system_error(error, std::generic_category(), "write " + temp);
		sync_or_throw(fd.get(), temp);
		if (::rename(temp.c_str(), path.c_str()))
			ima::throw_errno("rename " + temp + " to " + path);
		sync_or_throw(dir_fd_.get(), dir_);
		checkpoints_fd_ = std::move(fd);
		checkpoints_end_ = checkpoints.size();
		if (existing.error != ENOENT || !groups_.empty())
			notes_.push_back("wrote " + path + " anew from the data");
	} catch (const std::exception &error) {
		drop_checkpoints(error.what());
	}
}

/* What a crash during a write left: written, never committed. */
void Store::repair_tail()
{
	if (data_size_ > data_end()) {
		truncate_or_throw(data_fd_.get(), data_end(), data_path());
		sync_or_throw(data_fd_.get(), data_path());
		data_size_ = data_end();
	}
	if (file_size(journal_fd_.get(), journal_path()) != journal_end_) {
		truncate_or_throw(journal_fd_.get(), journal_end_, journal_path());
		sync_or_throw(journal_fd_.get(), journal_path());
	}
	begun_.reset();
	rolled_back_.reset();
}

std::uint64_t Store::records() const
{
	std::uint64_t total = 0;

	for (const Group &group : groups_)
		total += group.records;
	return total;
}

std::uint64_t Store::data_end() const
{
	return groups_.empty() ? 0 : groups_.back().offset + groups_.back().length;
}

std::optional<Group> Store::pending_group() const
{
	if (groups_.empty() || groups_.back().state != Group::State::pending)
		return std::nullopt;
	return groups_.back();
}

Bytes Store::read_data(std::uint64_t offset, std::uint64_t length) const
{
	Bytes bytes(length);

	if (length)
		read_exactly_at(data_fd_.get(), bytes.data(), bytes.size(), offset, data_path());
	return bytes;
}

Bytes Store::read_group(const Group &group) const
{
	Bytes bytes;

	read_group(group, bytes);
	return bytes;
}

void Store::read_group(const Group &group, Bytes &bytes) const
{
	read_unchecked(group, bytes);
	check_digest(group, ima::hash(ima::HashAlgo::sha256, bytes));
}

/* A group's bytes into @bytes, for the caller to check. */
void Store::read_unchecked(const Group &group, Bytes &bytes) const
{
	bytes.resize(group.length);
	if (group.length)
		read_exactly_at(data_fd_.get(), bytes.data(), bytes.size(), group.offset,
				data_path());
}

/* Where the slots of @group begin in the checkpoints file. */
std::uint64_t Store::checkpoints_offset(const Group &group) const
{
	std::uint64_t slots = 0;

	for (const Group &before : groups_) {
		if (before.number >= group.number)
			break;
		slots += checkpoint_slots(before.length);
	}
	return kCheckpointsHeaderSize + slots * kCheckpointSlotSize;
}

Store::GroupTail Store::read_group_from(const Group &group, std::uint64_t record) const
{
	std::uint64_t slots = checkpoint_slots(group.length);

	if (record == 0 || slots == 0)
		return {read_group(group), 0};
	/* O_NONBLOCK: whatever is there, it is not waited for. */
	ima::OpenResult file = ima::try_open(checkpoints_path(), O_RDONLY | O_NONBLOCK);
	Bytes header(kCheckpointsHeaderSize);
	Bytes slot_bytes(slots * kCheckpointSlotSize);
	try {
		if (!file.error) {
			read_exactly_at(file.fd.get(), header.data(), header.size(), 0,
					checkpoints_path());
			read_exactly_at(file.fd.get(), slot_bytes.data(), slot_bytes.size(),
					checkpoints_offset(group), checkpoints_path());
		}
	} catch (const std::runtime_error &) {
		/* Too short or unreadable: what was read fails its checks. */
	}
	std::optional<Checkpoint> checkpoint;
	if (is_checkpoints_header(header))
		checkpoint = checkpoint_before(slot_bytes, group.number, record);
	if (checkpoint) {
		if (std::optional<GroupTail> tail = read_checked_tail(group, *checkpoint))
			return std::move(*tail);
	}
	return {read_group(group), 0};
}

/*
 * The group's bytes from @checkpoint on, if the sha256 resumed there
 * matches the group's and they hold the records the checkpoint says; the
 * caller then reads the whole group, which tells a damaged checkpoint
 * from damaged data.
 */
std::optional<Store::GroupTail> Store::read_checked_tail(const Group &group,
							 const Checkpoint &checkpoint) const
{
	std::uint64_t block_start = checkpoint.midstate.blocks * ima::kSha256BlockSize;

	if (checkpoint.offset > group.length || checkpoint.record > group.records)
		return std::nullopt;
	/* The part of a block before the record, hashed and not served. */
	Bytes before = read_data(group.offset + block_start, checkpoint.offset - block_start);
	Bytes bytes = read_data(group.offset + checkpoint.offset, group.length - checkpoint.offset);
	if (ima::ResumableSha256(checkpoint.midstate).update(before).update(bytes).finish() !=
	    group.sha256)
		return std::nullopt;
	try {
		if (ima::count_sha1_records(bytes) != group.records - checkpoint.record)
			return std::nullopt;
	} catch (const ima::ParseError &) {
		return std::nullopt;
	}
	return GroupTail{std::move(bytes), checkpoint.record};
}

bool Store::spans_boot(const std::string &boot_id) const
{
	return std::find(boots_.begin(), boots_.end(), boot_id) != boots_.end();
}

void Store::append_boot(const std::string &boot_id)
{
	Group entry;

	entry.number = next_number_;
	entry.offset = data_end();
	entry.sha256 = boot_id_bytes(boot_id);
	entry.sha256.resize(32);
	append_entry(kEntryBoot, entry, "the log does not record that the boot " + boot_id +
						" continues it");
	boots_.push_back(boot_id);
}

void Store::append_entry(std::uint32_t kind, const Group &group, const std::string &consequence)
{
	std::string path = journal_path();
	Bytes entry = encode_entry(kind, group);

	if (kind == kEntryGroupSaved && fault_point_reached("torn-journal"))
		entry.resize(kJournalEntrySize / 2);
	int error = write_at(journal_fd_.get(), entry, journal_end_);
	if (kind == kEntryGroupDeleted && fault_point_reached("full-after-delete"))
		error = ENOSPC;
	if (error) {
		truncate_or_throw(journal_fd_.get(), journal_end_, path);
		throw_write_error(error, path, consequence);
	}
	if (kind == kEntryGroupSaved)
		crash_if_fault("torn-journal");
	if (kind == kEntryGroupSaved && fault_point_reached("fsync-journal"))
		throw StoreNotDurable("fsync " + path + ": " + std::strerror(EIO) + " (" +
				      kNotDurable + ")");
	sync_or_throw(journal_fd_.get(), path);
	sync_or_throw(dir_fd_.get(), dir_);
	journal_end_ += kJournalEntrySize;
}

const Group &Store::append_group(ByteView bytes, std::uint64_t records, Flavor flavor)
{
	Group group;

	if (mode_ != Mode::write)
		throw std::logic_error("append to a store opened for reading");
	group.number = next_number_;
	group.offset = data_end();
	group.length = bytes.size();
	group.records = records;
	group.flavor = flavor;
	GroupDigest digest = digest_group(bytes, records);
	group.sha256 = digest.sha256;
	group.ascii_size = ascii_size_or_zero(bytes);

	/* Announced first: data past the committed groups is then explained. */
	append_entry(kEntryGroupBegun, group, kNothingDeleted);
	crash_if_fault("begun");
	ByteView written = fault_point_reached("torn-data") ? bytes.first(bytes.size() / 2) : bytes;
	if (int error = write_at(data_fd_.get(), written, group.offset)) {
		abandon_begun_group(group);
		throw_write_error(error, data_path(), kNothingDeleted);
	}
	crash_if_fault("torn-data");
	sync_or_throw(data_fd_.get(), data_path());
	crash_if_fault("data-written");
	if (int error = write_checkpoints(group, digest.checkpoints)) {
		abandon_begun_group(group);
		throw_write_error(error, checkpoints_path(), kNothingDeleted);
	}
	crash_if_fault("checkpoints-written");
	try {
		append_entry(kEntryGroupSaved, group, kNothingDeleted);
	} catch (const StoreFull &) {
		abandon_begun_group(group);
		throw;
	}
	if (checkpoints_fd_)
		checkpoints_end_ += digest.checkpoints.size() * kCheckpointSlotSize;
	next_number_++;
	data_size_ = group.offset + group.length;
	groups_.push_back(group);
	return groups_.back();
}

/*
 * Appends a group's slots. Returns the errno of a lack of space, which
 * fails the save as it would for the data, or 0: after any other error the
 * checkpoints are given up, and readers of the group check all of it.
 */
int Store::write_checkpoints(const Group &group, const std::vector<Checkpoint> &checkpoints)
{
	if (!checkpoints_fd_)
		return 0;
	int error = write_at(checkpoints_fd_.get(), encode_checkpoints(group.number, checkpoints),
			     checkpoints_end_);
	if (!error && ::fsync(checkpoints_fd_.get()))
		error = errno;
	if (error == ENOSPC || error == EDQUOT)
		return error;
	if (error)
		drop_checkpoints(std::error_code(error, std::generic_category()).message());
	return 0;
}

/* Cuts the checkpoints file to @size bytes, if it is longer. */
void Store::truncate_checkpoints(std::uint64_t size)
{
	struct stat st;

	if (!checkpoints_fd_)
		return;
	if (!::fstat(checkpoints_fd_.get(), &st) && static_cast<std::uint64_t>(st.st_size) == size) {
		checkpoints_end_ = size;
		return;
	}
	if (::ftruncate(checkpoints_fd_.get(), static_cast<off_t>(size)) ||
	    ::fsync(checkpoints_fd_.get())) {
		drop_checkpoints(std::error_code(errno, std::generic_category()).message());
		return;
	}
	checkpoints_end_ = size;
}

/*
 * Saves go on without the checkpoints file: it goes, so that no slot in
 * it is out of step with the groups, and the next keeper writes it anew.
 */
void Store::drop_checkpoints(const std::string &why)
{
	std::string path = checkpoints_path();

	checkpoints_fd_.reset();
	::unlink((path + ".new").c_str());
	::unlink(path.c_str());
	::fsync(dir_fd_.get());
	notes_.push_back("saving without " + path + " (" + why + "); readers check whole groups");
}

std::vector<std::string> Store::take_notes()
{
	return std::exchange(notes_, {});
}

/* Takes back what a failed append wrote: its data, checkpoints and begun entry. */
void Store::abandon_begun_group(const Group &group)
{
	std::string path = journal_path();

	truncate_or_throw(data_fd_.get(), group.offset, data_path());
	sync_or_throw(data_fd_.get(), data_path());
	truncate_checkpoints(checkpoints_end_);
	journal_end_ -= kJournalEntrySize;
	truncate_or_throw(journal_fd_.get(), journal_end_, path);
	sync_or_throw(journal_fd_.get(), path);
}

void Store::mark_deleted()
{
	const Group &group = groups_.back();

	append_entry(kEntryGroupDeleted, group,
		     "the kernel deleted the " + std::to_string(group.records) + " records of group " +
			     std::to_string(group.number) + ", which the store holds; the next " +
			     "start records that");
	groups_.back().state = Group::State::deleted;
}

void Store::roll_back()
{
	Group group = groups_.back();

	append_entry(kEntryGroupRolledBack, group,
		     "the kernel still holds the " + std::to_string(group.records) +
			     " records of group " + std::to_string(group.number) +
			     ", which the store holds too; the next start rolls it back");
	crash_if_fault("rolled-back");
	truncate_or_throw(data_fd_.get(), group.offset, data_path());
	sync_or_throw(data_fd_.get(), data_path());
	truncate_checkpoints(checkpoints_offset(group));
	groups_.pop_back();
	data_size_ = group.offset;
}

StoreLock::StoreLock(const std::string &path, Kind kind)
{
	fd_ = ima::open_or_throw(path, O_RDONLY);
	while (::flock(fd_.get(), kind == Kind::shared ? LOCK_SH : LOCK_EX))
		if (errno != EINTR)
			ima::throw_errno("lock " + path);
}

std::optional<StoreLock> StoreLock::try_lock(const std::string &path, Kind kind, bool create)
{
	UniqueFd fd = ima::open_or_throw(path, O_RDONLY | (create ? O_CREAT : 0), 0600);

	if (::flock(fd.get(), (kind == Kind::shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0)
		return StoreLock(std::move(fd));
	if (errno != EWOULDBLOCK)
		ima::throw_errno("lock " + path);
	return std::nullopt;
}

void make_private_dir(const std::string &path)
{
	if (::mkdir(path.c_str(), 0700) && errno != EEXIST)
		ima::throw_errno("create the directory " + path);
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

	for (std::size_t at : {20, 16, 12, 8})
		hex.insert(at, "-");
	return hex;
}

} // namespace keeper
