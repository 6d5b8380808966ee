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

[[noreturn]] void corrupted(const std::string &what)
{
	throw StoreCorrupted("store corrupted: " + what +
			     "; nothing was changed (ima-keeper fsck lists what is damaged)");
}

constexpr const char *kNothingDeleted = "nothing was deleted from the kernel";

bool is(std::uint32_t kind, EntryKind want)
{
	return kind == static_cast<std::uint32_t>(want);
}

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
		size = ima::format_ascii_list(sha1_list).size();
	} catch (const ima::ParseError &) {
		return 0;
	}
	return size > UINT32_MAX ? 0 : static_cast<std::uint32_t>(size);
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
	data_fd_ = open_store_file(data_path(), mode_ == Mode::write);
	refuse_data_without_journal();
	journal_fd_ = open_store_file(journal_path(), mode_ == Mode::write);
	if (!journal_fd_)
		return;
	load_journal();
	check_data_size();
	if (mode_ != Mode::write)
		return;
	repair_tail();
	if (resave_entry_) {
		append_entry(EntryKind::saved, groups_.back(),
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

	ima::read_exact_at(journal_fd_.get(), journal.data(), journal.size(), 0, path);
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
		ByteView bytes = ByteView(journal).subspan(at, kJournalEntrySize);

		if (!entry_checks_out(bytes))
			corrupted("journal entry " + std::to_string(at / kJournalEntrySize) +
				  " (" + where(path, at) + ") fails its checksum");
		JournalEntry entry = decode_entry(bytes);
		std::uint32_t kind = entry.kind;
		const Group &group = entry.group;

		if (is(kind, EntryKind::boot)) {
			load_boot_entry(entry, at);
			continue;
		}
		std::string name = "group " + std::to_string(group.number) + " (journal entry " +
				   std::to_string(at / kJournalEntrySize) + ", " + where(path, at) + ")";
		if (is(kind, EntryKind::begun) || is(kind, EntryKind::saved))
			rolled_back_.reset();
		if (begun_) {
			if (!is(kind, EntryKind::saved) || !same_group(*begun_, group))
				corrupted(name + " follows the begun save of group " +
					  std::to_string(begun_->number) + " but does not commit it");
			begun_.reset();
		} else if (is(kind, EntryKind::begun)) {
			if (group.number != next_number_ || group.offset != data_end())
				corrupted(name + " begins a group that does not follow the groups "
						 "before it");
			begun_ = group;
			continue;
		}
		if (is(kind, EntryKind::saved)) {
			if (group.number != next_number_ || group.offset != data_end())
				corrupted(name + " does not follow the groups before it (expected group " +
					  std::to_string(next_number_) + " at byte " +
					  std::to_string(data_end()) + ")");
			next_number_++;
			groups_.push_back(group);
			continue;
		}
		if (!is(kind, EntryKind::deleted) && !is(kind, EntryKind::rolled_back))
			corrupted(name + " has unknown kind " + std::to_string(kind));
		if (groups_.empty() || groups_.back().number != group.number ||
		    groups_.back().state != Group::State::pending)
			corrupted(name + " names a group that is not the last one saved");
		if (is(kind, EntryKind::deleted)) {
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
void Store::load_boot_entry(const JournalEntry &entry, std::uint64_t at)
{
	if (begun_ || entry.group.number != next_number_ || entry.group.offset != data_end() ||
	    !entry.boot_fields_clear)
		corrupted("journal entry " + std::to_string(at / kJournalEntrySize) + " (" +
			  where(journal_path(), at) + ") names a boot where none can be");
	boots_.push_back(entry.boot_id);
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
		ima::read_exact_at(data_fd_.get(), bytes.data(), bytes.size(), offset, data_path());
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
		ima::read_exact_at(data_fd_.get(), bytes.data(), bytes.size(), group.offset,
				data_path());
}

bool Store::spans_boot(const std::string &boot_id) const
{
	return std::find(boots_.begin(), boots_.end(), boot_id) != boots_.end();
}

void Store::append_boot(const std::string &boot_id)
{
	append_entry_bytes(encode_boot_entry(next_number_, data_end(), boot_id), EntryKind::boot,
			   "the log does not record that the boot " + boot_id + " continues it");
	boots_.push_back(boot_id);
}

void Store::append_entry(EntryKind kind, const Group &group, const std::string &consequence)
{
	append_entry_bytes(encode_group_entry(kind, group), kind, consequence);
}

void Store::append_entry_bytes(Bytes entry, EntryKind kind, const std::string &consequence)
{
	std::string path = journal_path();

	if (kind == EntryKind::saved && fault_point_reached("torn-journal"))
		entry.resize(kJournalEntrySize / 2);
	int error = write_at(journal_fd_.get(), entry, journal_end_);
	if (kind == EntryKind::deleted && fault_point_reached("full-after-delete"))
		error = ENOSPC;
	if (error) {
		truncate_or_throw(journal_fd_.get(), journal_end_, path);
		throw_write_error(error, path, consequence);
	}
	if (kind == EntryKind::saved)
		crash_if_fault("torn-journal");
	if (kind == EntryKind::saved && fault_point_reached("fsync-journal"))
		throw StoreNotDurable("fsync " + path + ": " + std::strerror(EIO));
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
	append_entry(EntryKind::begun, group, kNothingDeleted);
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
		append_entry(EntryKind::saved, group, kNothingDeleted);
	} catch (const StoreFull &) {
		abandon_begun_group(group);
		throw;
	}
	if (checkpoints_fd_)
		checkpoints_end_ += digest.checkpoints.size() * kCheckpointSlotSize;
	next_number_++;
	data_size_ = group.offset + group.length;
	groups_.push_back(group);
	write_replay_after_append(bytes);
	return groups_.back();
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

	append_entry(EntryKind::deleted, group,
		     "the kernel deleted the " + std::to_string(group.records) + " records of group " +
			     std::to_string(group.number) + ", which the store holds; the next " +
			     "start records that");
	groups_.back().state = Group::State::deleted;
}

void Store::roll_back()
{
	Group group = groups_.back();

	append_entry(EntryKind::rolled_back, group,
		     "the kernel still holds the " + std::to_string(group.records) +
			     " records of group " + std::to_string(group.number) +
			     ", which the store holds too; the next start rolls it back");
	crash_if_fault("rolled-back");
	truncate_or_throw(data_fd_.get(), group.offset, data_path());
	sync_or_throw(data_fd_.get(), data_path());
	truncate_checkpoints(checkpoints_offset(group));
	groups_.pop_back();
	data_size_ = group.offset;
	if (replays_bank_)
		keep_replays(*replays_bank_);
}

} // namespace keeper
