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

/* The value of each committed group's slot, empty where there is none that checks out. */
std::vector<std::optional<Bytes>> Store::load_replays(ima::HashAlgo bank) const
{
	std::vector<std::optional<Bytes>> values(groups_.size());
	/* O_NONBLOCK: whatever is there, it is not waited for. */
	ima::OpenResult file = ima::try_open(replays_path(), O_RDONLY | O_NONBLOCK);

	if (file.error)
		return values;
	try {
		std::optional<std::uint64_t> size =
			size_if_it_begins_with(file.fd.get(), encode_replays_header(bank));
		if (!size || *size < kReplaysHeaderSize)
			return values;
		std::uint64_t slots = std::min<std::uint64_t>(
			(*size - kReplaysHeaderSize) / kReplaySlotSize, groups_.size());
		Bytes bytes(kReplaysHeaderSize + slots * kReplaySlotSize);
		ima::read_exact_at(file.fd.get(), bytes.data(), bytes.size(), 0, replays_path());
		ima::ByteView header = ima::ByteView(bytes).first(kReplaysHeaderSize);
		for (std::size_t i = 0; i < slots; i++)
			values[i] = decode_replay_slot(
				header,
				ima::ByteView(bytes).subspan(kReplaysHeaderSize + i * kReplaySlotSize,
							     kReplaySlotSize),
				groups_[i], bank);
	} catch (const std::runtime_error &) {
		/* An unreadable file holds nothing: the groups are replayed instead. */
	}
	return values;
}

ima::PcrReplay Store::replay_after(std::size_t count, ima::HashAlgo bank) const
{
	std::vector<std::optional<Bytes>> values = load_replays(bank);
	std::size_t from = std::min(count, groups_.size());
	Bytes bytes;

	while (from > 0 && !values[from - 1])
		from--;
	ima::PcrReplay replay = from ? ima::PcrReplay(bank, *values[from - 1]) : ima::PcrReplay(bank);
	for (std::size_t i = from; i < count; i++) {
		read_group(groups_.at(i), bytes);
		extend_with_list(replay, bytes, bank);
	}
	return replay;
}

/*
 * Writes the slots of the committed groups, replaying only the groups
 * whose slots are missing or do not check out, and cuts the file after
 * them. Stops at a damaged group: its slot and those after it stay
 * missing, and whoever needs them replays the groups (and fails at it).
 */
void Store::write_replays(ima::HashAlgo bank)
{
	std::vector<std::optional<Bytes>> values = load_replays(bank);
	const Bytes header = encode_replays_header(bank);
	ima::UniqueFd fd = ima::open_or_throw(replays_path(), O_RDWR | O_CREAT | O_NONBLOCK, 0600);
	std::optional<std::uint64_t> size = size_if_it_begins_with(fd.get(), header);
	std::size_t written = 0;
	Bytes bytes;

	if (!size) {
		truncate_or_throw(fd.get(), 0, replays_path());
		if (int error = write_at(fd.get(), header, 0))
			throw std::system_error(error, std::generic_category(),
						"write " + replays_path());
	}
	ima::PcrReplay replay(bank);
	last_replay_ = replay.value();
	for (std::size_t i = 0; i < groups_.size(); i++) {
		if (values[i]) {
			replay = ima::PcrReplay(bank, *values[i]);
			last_replay_ = replay.value();
			continue;
		}
		try {
			read_group(groups_[i], bytes);
		} catch (const StoreCorrupted &error) {
			notes_.push_back("PCR 10 after group " + std::to_string(groups_[i].number) +
					 " and the groups after it is not in " + replays_path() +
					 ": " + error.what());
			last_replay_.reset();
			truncate_or_throw(fd.get(), kReplaysHeaderSize + i * kReplaySlotSize,
					  replays_path());
			return;
		}
		extend_with_list(replay, bytes, bank);
		last_replay_ = replay.value();
		if (int error = write_at(fd.get(), encode_replay_slot(header, groups_[i], replay.value()),
					 kReplaysHeaderSize + i * kReplaySlotSize))
			throw std::system_error(error, std::generic_category(),
						"write " + replays_path());
		written++;
	}
	truncate_or_throw(fd.get(), kReplaysHeaderSize + groups_.size() * kReplaySlotSize,
			  replays_path());
	if (written)
		notes_.push_back("wrote PCR 10 after " + std::to_string(written) +
				 (written == 1 ? " group" : " groups") + " to " + replays_path());
}

void Store::keep_replays(ima::HashAlgo bank)
{
	if (mode_ != Mode::write)
		throw std::logic_error("replays kept in a store opened for reading");
	replays_bank_ = bank;
	try {
		write_replays(bank);
	} catch (const std::exception &error) {
		notes_.push_back("gave up " + replays_path() + " (" + error.what() +
				 "): decisions by PCR 10 replay the groups instead");
		replays_bank_.reset();
		last_replay_.reset();
	}
}

/* After append_group() added @bytes as the last group: its slot. */
void Store::write_replay_after_append(ima::ByteView bytes)
{
	if (!replays_bank_)
		return;
	try {
		if (!last_replay_)
			throw std::runtime_error("PCR 10 before the group is not known");
		ima::PcrReplay replay(*replays_bank_, *last_replay_);
		extend_with_list(replay, bytes, *replays_bank_);
		ima::UniqueFd fd = ima::open_or_throw(replays_path(), O_WRONLY | O_NONBLOCK);
		Bytes slot = encode_replay_slot(encode_replays_header(*replays_bank_), groups_.back(),
						replay.value());
		if (int error = write_at(fd.get(), slot,
					 kReplaysHeaderSize + (groups_.size() - 1) * kReplaySlotSize))
			throw std::system_error(error, std::generic_category(),
						"write " + replays_path());
		last_replay_ = replay.value();
	} catch (const std::exception &error) {
		notes_.push_back("gave up " + replays_path() + " (" + error.what() +
				 "): decisions by PCR 10 replay the groups instead");
		replays_bank_.reset();
		last_replay_.reset();
	}
}

} // namespace keeper
