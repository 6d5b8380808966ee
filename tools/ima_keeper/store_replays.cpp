// SPDX-License-Identifier: GPL-2.0
/*
 * The replays file of a log, as the store keeps it (replays.h): PCR 10
 * after each committed group, read by the decisions made by PCR 10, made
 * to hold a slot for every group by a keeper that opens the log to write,
 * and written with each group saved.
 */
#include "store.h"

#include <fcntl.h>
#include <system_error>
#include <unistd.h>

#include "pcr_fit.h"

using ima::Bytes;

namespace keeper {

namespace {

std::uint64_t slot_offset(std::size_t index)
{
	return kReplaysHeaderSize + index * kReplaySlotSize;
}

/* Bytes [@offset, @offset + @size) of @fd, or empty if the file is shorter. */
Bytes read_if_there(int fd, std::uint64_t offset, std::size_t size, const std::string &path)
{
	Bytes bytes(size);

	try {
		ima::read_exact_at(fd, bytes.data(), size, offset, path);
	} catch (const std::runtime_error &) {
		return {};
	}
	return bytes;
}

void write_or_throw(int fd, ima::ByteView bytes, std::uint64_t offset, const std::string &path)
{
	if (int error = write_at(fd, bytes, offset))
		throw std::system_error(error, std::generic_category(), "write " + path);
}

} // namespace

/* The value of each committed group's slot, empty where none checks out. */
std::vector<std::optional<Bytes>> Store::load_replays(ima::HashAlgo bank) const
{
	std::vector<std::optional<Bytes>> values(groups_.size());
	/* O_NONBLOCK: whatever is there, it is not waited for. */
	ima::OpenResult file = ima::try_open(replays_path(), O_RDONLY | O_NONBLOCK);

	if (file.error)
		return values;
	try {
		const Bytes header = encode_replays_header(bank);
		std::optional<std::uint64_t> size =
			size_if_it_begins_with(file.fd.get(), header);
		if (!size)
			return values;
		std::size_t slots = static_cast<std::size_t>(std::min<std::uint64_t>(
			(*size - kReplaysHeaderSize) / kReplaySlotSize, groups_.size()));
		Bytes bytes = read_if_there(file.fd.get(), slot_offset(0), slots * kReplaySlotSize,
					    replays_path());
		for (std::size_t i = 0; i < slots && !bytes.empty(); i++)
			values[i] = decode_replay_slot(
				header,
				ima::ByteView(bytes).subspan(i * kReplaySlotSize, kReplaySlotSize),
				groups_[i], bank);
	} catch (const std::runtime_error &) {
		/* An unreadable file holds nothing: the groups are replayed instead. */
	}
	return values;
}

ima::PcrReplay Store::replay_after(std::size_t count, ima::HashAlgo bank) const
{
	if (count == 0)
		return ima::PcrReplay(bank);
	/* The one slot needed, usually there. */
	ima::OpenResult file = ima::try_open(replays_path(), O_RDONLY | O_NONBLOCK);
	if (!file.error && count <= groups_.size()) {
		const Bytes header = encode_replays_header(bank);
		Bytes read_header =
			read_if_there(file.fd.get(), 0, kReplaysHeaderSize, replays_path());
		Bytes slot = read_if_there(file.fd.get(), slot_offset(count - 1), kReplaySlotSize,
					   replays_path());
		if (read_header == header && !slot.empty())
			if (std::optional<Bytes> value =
				    decode_replay_slot(header, slot, groups_[count - 1], bank))
				return ima::PcrReplay(bank, *value);
	}
	/* Else from the last slot before it that checks out, replaying the groups after it. */
	std::vector<std::optional<Bytes>> values = load_replays(bank);
	std::size_t from = std::min(count, groups_.size());
	Bytes bytes;

	while (from > 0 && !values[from - 1])
		from--;
	ima::PcrReplay replay =
		from ? ima::PcrReplay(bank, *values[from - 1]) : ima::PcrReplay(bank);
	for (std::size_t i = from; i < count; i++) {
		read_group(groups_.at(i), bytes);
		extend_with_list(replay, bytes, bank);
	}
	return replay;
}

/*
 * Writes the slots of the committed groups that are missing or do not
 * check out, each replayed from the one before it, and cuts the file after
 * the last group. A damaged group's slot cannot be replayed, nor the next
 * ones until a slot that checks out: they stay missing, and whoever needs
 * them replays the groups (and fails at the damaged one).
 */
void Store::write_replays(ima::HashAlgo bank)
{
	std::vector<std::optional<Bytes>> values = load_replays(bank);
	const Bytes header = encode_replays_header(bank);
	const std::string path = replays_path();
	ima::UniqueFd fd = ima::open_or_throw(path, O_RDWR | O_CREAT | O_NONBLOCK, 0600);
	std::optional<Bytes> value = ima::PcrReplay(bank).value();
	std::size_t written = 0;
	Bytes bytes;

	if (!size_if_it_begins_with(fd.get(), header)) {
		truncate_or_throw(fd.get(), 0, path);
		write_or_throw(fd.get(), header, 0, path);
	}
	for (std::size_t i = 0; i < groups_.size(); i++) {
		if (values[i]) {
			value = values[i];
			continue;
		}
		if (!value)
			continue;
		try {
			read_group(groups_[i], bytes);
		} catch (const StoreCorrupted &error) {
			notes_.push_back("PCR 10 after group " + std::to_string(groups_[i].number) +
					 " is not in " + path + ": " + error.what());
			value.reset();
			continue;
		}
		ima::PcrReplay replay(bank, *value);
		extend_with_list(replay, bytes, bank);
		value = replay.value();
		write_or_throw(fd.get(), encode_replay_slot(header, groups_[i], *value),
			       slot_offset(i), path);
		written++;
	}
	truncate_or_throw(fd.get(), slot_offset(groups_.size()), path);
	last_replay_ = value;
	if (written)
		notes_.push_back("wrote PCR 10 after " + std::to_string(written) +
				 (written == 1 ? " group" : " groups") + " to " + path);
}

void Store::give_up_replays(const std::string &why)
{
	notes_.push_back("gave up " + replays_path() + " (" + why +
			 "): decisions by PCR 10 replay the groups instead");
	replays_bank_.reset();
	last_replay_.reset();
}

void Store::keep_replays(ima::HashAlgo bank)
{
	if (mode_ != Mode::write)
		throw std::logic_error("replays kept in a store opened for reading");
	replays_bank_ = bank;
	try {
		write_replays(bank);
	} catch (const std::exception &error) {
		give_up_replays(error.what());
	}
}

/* After append_group() added @bytes as the last group: its slot. */
void Store::write_replay_after_append(ima::ByteView bytes)
{
	if (!replays_bank_)
		return;
	if (!last_replay_)
		return; /* After a damaged group: whoever needs it replays. */
	try {
		ima::PcrReplay replay(*replays_bank_, *last_replay_);
		extend_with_list(replay, bytes, *replays_bank_);
		ima::UniqueFd fd = ima::open_or_throw(replays_path(), O_WRONLY | O_NONBLOCK);
		write_or_throw(fd.get(),
			       encode_replay_slot(encode_replays_header(*replays_bank_),
						  groups_.back(), replay.value()),
			       slot_offset(groups_.size() - 1), replays_path());
		last_replay_ = replay.value();
	} catch (const std::exception &error) {
		give_up_replays(error.what());
	}
}

} // namespace keeper
