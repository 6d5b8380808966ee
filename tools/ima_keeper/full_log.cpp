// SPDX-License-Identifier: GPL-2.0
#include "full_log.h"

#include <algorithm>
#include <unistd.h>

#include "kernel_files.h"
#include "logs.h"
#include "ima/hash.h"
#include "ima/replay.h"
#include "ima/tpm.h"

using ima::Bytes;
using ima::ByteView;
using ima::Record;

namespace keeper {

namespace {

constexpr int kSnapshotAttempts = 20;
constexpr useconds_t kSnapshotRetryDelay = 50000;

} // namespace

std::optional<StoreLock> lock_for_reading(const std::string &store_dir)
{
	if (!ima::path_exists(store_dir))
		return std::nullopt;
	refuse_single_log_layout(store_dir);
	return StoreLock(transaction_lock_path(store_dir), StoreLock::Kind::shared);
}

namespace {

/* The current boot's log; the caller holds the transaction lock. */
FullLog current_full_log(const std::string &store_dir)
{
	CurrentLog current;

	if (ima::path_exists(store_dir))
		current = find_current_log(list_logs(store_dir), current_boot_id());
	Bytes kernel = read_kernel_lists();
	if (!current.log)
		return FullLog(std::nullopt, std::move(kernel), false);
	Store store(current.log->path, Store::Mode::read);
	bool kernel_holds_pending =
		store.pending_group() && !PendingDecision(store).decide(kernel).deleted;
	return FullLog(std::move(store), std::move(kernel), kernel_holds_pending);
}

std::vector<std::string> computable_banks()
{
	std::vector<std::string> banks;

	if (!ima::tpm_available())
		throw KeeperError("no TPM (" + std::string(ima::kTpmSysfsDir) +
				  "): nothing to verify against");
	for (const std::string &bank : ima::tpm_pcr_banks())
		if (ima::hash_algo_from_name(bank))
			banks.push_back(bank);
	if (banks.empty())
		throw KeeperError("the TPM has no sha1 or sha256 PCR bank");
	return banks;
}

} // namespace

FullLog::FullLog(std::optional<Store> store, Bytes kernel, bool without_pending)
	: store_(std::move(store)), kernel_(std::move(kernel))
{
	if (store_) {
		groups_ = store_->groups();
		if (without_pending && !groups_.empty())
			groups_.pop_back();
	}
	for (const Group &group : groups_) {
		first_record_.push_back(stored_records_);
		stored_records_ += group.records;
	}
	kernel_records_ = ima::count_sha1_records(kernel_);
}

std::uint64_t FullLog::stored_bytes() const
{
	return groups_.empty() ? 0 : groups_.back().offset + groups_.back().length;
}

void FullLog::visit_from(std::uint64_t from, const Visitor &visit) const
{
	if (from > records())
		throw KeeperError("--from " + std::to_string(from) + ": the log has only " +
				  std::to_string(records()) + " records (0 to " +
				  std::to_string(records()) + ")");
	if (from < stored_records_) {
		/* The group that holds record @from: O(log groups). */
		std::size_t first = static_cast<std::size_t>(
			std::upper_bound(first_record_.begin(), first_record_.end(), from) -
			first_record_.begin() - 1);

		/*
		 * Of the first group, the bytes from a checkpoint at or before
		 * record @from: what is checked is about what is served.
		 */
		Store::GroupTail tail = store_->read_group_from(groups_[first],
								from - first_record_[first]);
		visit(tail.bytes, from - first_record_[first] - tail.first_record);

		/* One buffer for all: a reader's memory stays that of the largest group. */
		Bytes bytes = std::move(tail.bytes);

		for (std::size_t i = first + 1; i < groups_.size(); i++) {
			store_->read_group(groups_[i], bytes);
			visit(bytes, 0);
		}
	}
	visit(kernel_, from > stored_records_ ? from - stored_records_ : 0);
}

void FullLog::write_binary_from(std::uint64_t from, const Sink &out) const
{
	visit_from(from, [&out](ByteView list, std::uint64_t skip) {
		if (skip == 0) {
			out(list);
			return;
		}
		out(list.subspan(ima::sha1_record_bounds(list)[skip]));
	});
}

void FullLog::write_ascii_from(std::uint64_t from, const Sink &out) const
{
	visit_from(from, [&out](ByteView list, std::uint64_t skip) {
		out(ima::as_bytes(ima::format_ascii_records(ima::parse_sha1_list(list), skip)));
	});
}

void FullLog::for_each_piece(const Sink &each) const
{
	visit_from(0, [&each](ByteView list, std::uint64_t) { each(list); });
}

FullLog read_full_log(const std::string &store_dir)
{
	std::optional<StoreLock> lock = lock_for_reading(store_dir);

	return current_full_log(store_dir);
}

FullLog read_boot_log(const std::string &store_dir, const std::string &boot_id)
{
	std::optional<StoreLock> lock = lock_for_reading(store_dir);
	std::vector<LogDir> logs = lock ? list_logs(store_dir) : std::vector<LogDir>();
	std::string current_boot = current_boot_id();

	if (boot_id == current_boot)
		return current_full_log(store_dir);
	for (const LogDir &log : logs) {
		Store store(log.path, Store::Mode::read);

		if (!store.spans_boot(boot_id))
			continue;
		/* The last log may go on in the current boot (a kexec). */
		if (log.path == logs.back().path) {
			CurrentLog current = find_current_log(logs, current_boot);

			if (current.log)
				return current_full_log(store_dir);
		}
		return FullLog(std::move(store), Bytes(), false);
	}
	throw KeeperError("no log of the boot " + boot_id + " in " + store_dir +
			  " (ima-keeper boots lists them)");
}

Bytes log_from_binary(const FullLog &log, std::uint64_t from)
{
	Bytes out;

	log.write_binary_from(from, [&out](ByteView piece) { ima::append(out, piece); });
	return out;
}

std::string log_from_ascii(const FullLog &log, std::uint64_t from)
{
	std::string out;

	log.write_ascii_from(from, [&out](ByteView piece) { out.append(piece.begin(), piece.end()); });
	return out;
}

StoreLogs summarize_logs(const std::string &store_dir)
{
	StoreLogs store_logs{{}, {}, lock_for_reading(store_dir)};

	if (!store_logs.lock)
		return store_logs;
	store_logs.dirs = list_logs(store_dir);
	for (const LogDir &log : store_logs.dirs) {
		Store store(log.path, Store::Mode::read);

		store_logs.logs.push_back(
			{log.path, store.boots(), store.groups().size(), store.records()});
	}
	return store_logs;
}

bool Verification::matches() const
{
	return std::all_of(banks.begin(), banks.end(),
			   [](const BankVerdict &verdict) { return verdict.matches; });
}

Verification verify_full_log(const std::string &store_dir)
{
	std::vector<std::string> banks = computable_banks();

	for (int attempt = 1;; attempt++) {
		FullLog log = read_full_log(store_dir);
		Verification result{log.stored_records(), log.kernel_records(), {}};
		std::vector<ima::PcrReplay> replays;

		for (const std::string &bank : banks)
			replays.emplace_back(*ima::hash_algo_from_name(bank));
		log.for_each_piece([&](ByteView piece) {
			for (const Record &record : ima::parse_sha1_list(piece))
				for (std::size_t i = 0; i < banks.size(); i++)
					replays[i].extend(banks[i] == "sha1"
								  ? record
								  : ima::with_template_digest(
									    record, *ima::hash_algo_from_name(banks[i])));
		});
		for (std::size_t i = 0; i < banks.size(); i++) {
			Bytes pcr = ima::read_tpm_pcr(banks[i], ima::kImaPcr);

			result.banks.push_back({banks[i], replays[i].value() == pcr, replays[i].value(), pcr});
		}
		if (result.matches() || attempt == kSnapshotAttempts)
			return result;
		/*
		 * A record measured meanwhile: IMA adds it to the list, then
		 * extends the PCR. Read both again once it is through.
		 */
		::usleep(kSnapshotRetryDelay);
	}
}

} // namespace keeper
