// SPDX-License-Identifier: GPL-2.0
#include "full_log.h"

#include <algorithm>
#include <optional>
#include <unistd.h>

#include "kernel_files.h"
#include "ima/hash.h"
#include "ima/replay.h"
#include "ima/tpm.h"
#include "store.h"

using ima::Bytes;
using ima::Record;

namespace keeper {

namespace {

constexpr int kSnapshotAttempts = 20;
constexpr useconds_t kSnapshotRetryDelay = 50000;

bool starts_with(const Bytes &bytes, const Bytes &prefix)
{
	return bytes.size() >= prefix.size() &&
	       std::equal(prefix.begin(), prefix.end(), bytes.begin());
}

std::vector<Record> records_from(const FullLog &log, std::uint64_t from)
{
	std::vector<Record> records =
		ima::parse_binary_list(log.bytes, ima::digest_size(ima::HashAlgo::sha1));

	if (from > records.size())
		throw KeeperError("--from " + std::to_string(from) + ": the log has only " +
				  std::to_string(records.size()) + " records (0 to " +
				  std::to_string(records.size()) + ")");
	records.erase(records.begin(), records.begin() + static_cast<std::ptrdiff_t>(from));
	return records;
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

BankVerdict replay_bank(const std::vector<Record> &records, const std::string &bank)
{
	ima::HashAlgo algo = *ima::hash_algo_from_name(bank);
	ima::PcrReplay replay(algo);
	BankVerdict verdict{bank, false, {}, ima::read_tpm_pcr(bank, ima::kImaPcr)};

	for (const Record &record : records)
		replay.extend(algo == ima::HashAlgo::sha1 ? record
							   : ima::with_template_digest(record, algo));
	verdict.replayed = replay.value();
	verdict.matches = verdict.replayed == verdict.pcr;
	return verdict;
}

} // namespace

FullLog read_full_log(const std::string &store_dir)
{
	std::optional<StoreLock> lock;

	if (ima::path_exists(store_dir))
		lock.emplace(transaction_lock_path(store_dir), StoreLock::Kind::shared);
	Store store(store_dir, Store::Mode::read);
	FullLog log;
	Bytes kernel = read_kernel_list(true);

	ima::append(kernel, read_kernel_list(false));
	log.bytes = store.read_all_data();
	log.stored_records = store.records();
	if (std::optional<Group> pending = store.pending_group();
	    pending && starts_with(kernel, store.read_group(*pending))) {
		log.bytes.resize(pending->offset);
		log.stored_records -= pending->records;
	}
	log.kernel_records = count_records(kernel);
	ima::append(log.bytes, kernel);
	return log;
}

Bytes log_from_binary(const FullLog &log, std::uint64_t from)
{
	return ima::serialize_binary_list(records_from(log, from));
}

std::string log_from_ascii(const FullLog &log, std::uint64_t from)
{
	std::string text;

	for (const Record &record : records_from(log, from))
		text += ima::format_ascii_record(record);
	return text;
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
		Verification result{read_full_log(store_dir), {}};
		std::vector<Record> records =
			ima::parse_binary_list(result.log.bytes,
					       ima::digest_size(ima::HashAlgo::sha1));

		for (const std::string &bank : banks)
			result.banks.push_back(replay_bank(records, bank));
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
