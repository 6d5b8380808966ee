// SPDX-License-Identifier: GPL-2.0
/*
 * The checkpoints file of a log, as the store keeps it (checkpoints.h):
 * made to match the committed groups when a keeper opens the log, written
 * with each group, given up on an error, and read from a checkpoint on.
 */
#include "store.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

#include "ima/hash.h"
#include "ima/records.h"

using ima::Bytes;
using ima::UniqueFd;

namespace keeper {

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
			ima::read_exact_at(file.fd.get(), header.data(), header.size(), 0,
					checkpoints_path());
			ima::read_exact_at(file.fd.get(), slot_bytes.data(), slot_bytes.size(),
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

} // namespace keeper
