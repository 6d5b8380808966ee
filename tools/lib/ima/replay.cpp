// SPDX-License-Identifier: GPL-2.0
#include "ima/replay.h"

#include <stdexcept>
#include <string>

namespace ima {

PcrReplay::PcrReplay(HashAlgo bank, std::uint32_t pcr)
	: bank_(bank), pcr_(pcr), value_(digest_size(bank), 0)
{
}

PcrReplay::PcrReplay(HashAlgo bank, ByteView value, std::uint32_t pcr)
	: bank_(bank), pcr_(pcr), value_(value.begin(), value.end())
{
	if (value_.size() != digest_size(bank))
		throw std::invalid_argument("a " + std::to_string(value_.size()) + "-byte value for "
					    "the " + std::string(hash_name(bank)) + " bank");
}

void PcrReplay::extend(const Record &record)
{
	if (record.pcr != pcr_)
		return;
	if (record.template_digest.size() != digest_size(bank_))
		throw std::invalid_argument(
			"record has a " + std::to_string(record.template_digest.size()) +
			"-byte template digest; the " + std::string(hash_name(bank_)) +
			" bank needs the records of binary_runtime_measurements_" +
			std::string(hash_name(bank_)));

	Bytes extension = record.is_violation() ? Bytes(value_.size(), 0xff)
						: record.template_digest;
	value_ = Hasher(bank_).update(value_).update(extension).finish();
	extended_++;
}

void PcrReplay::extend(const std::vector<Record> &records)
{
	for (const Record &record : records)
		extend(record);
}

Bytes replay_pcr(const std::vector<Record> &records, HashAlgo bank, std::uint32_t pcr)
{
	PcrReplay replay(bank, pcr);

	replay.extend(records);
	return replay.value();
}

} // namespace ima
