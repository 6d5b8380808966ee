/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Replay of measurement records into the value a TPM PCR bank must hold:
 * starting from zero, PCR = H(PCR || template digest) for every record of
 * that PCR; a violation (all-zero template digest) extends all 0xff bytes.
 *
 * The records must carry the template digests of the bank's algorithm: the
 * sha256 bank replays records read from binary_runtime_measurements_sha256,
 * not the sha1 file.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ima/bytes.h"
#include "ima/hash.h"
#include "ima/records.h"

namespace ima {

inline constexpr std::uint32_t kImaPcr = 10;

class PcrReplay {
public:
	explicit PcrReplay(HashAlgo bank, std::uint32_t pcr = kImaPcr);
	/*
	 * Goes on from @value, what the PCR held after records replayed
	 * elsewhere (extended() counts from here). Throws
	 * std::invalid_argument if @value is not a digest of @bank.
	 */
	PcrReplay(HashAlgo bank, ByteView value, std::uint32_t pcr = kImaPcr);

	/*
	 * Extends the record if it belongs to this PCR. Throws
	 * std::invalid_argument if its template digest has the wrong size.
	 */
	void extend(const Record &record);
	void extend(const std::vector<Record> &records);

	const Bytes &value() const { return value_; }
	/* How many records were extended into this PCR. */
	std::size_t extended() const { return extended_; }

private:
	HashAlgo bank_;
	std::uint32_t pcr_;
	Bytes value_;
	std::size_t extended_ = 0;
};

Bytes replay_pcr(const std::vector<Record> &records, HashAlgo bank, std::uint32_t pcr = kImaPcr);

} // namespace ima
