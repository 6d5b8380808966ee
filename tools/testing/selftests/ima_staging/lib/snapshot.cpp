// SPDX-License-Identifier: GPL-2.0
#include "lib/snapshot.h"

#include <stdexcept>

#include "ima/hash.h"
#include "ima/ima_fs.h"
#include "ima/tpm.h"

namespace ima {

static constexpr int kSnapshotAttempts = 10;

std::vector<Record> Snapshot::records(std::string_view algo) const
{
	auto list = lists.find(algo);
	std::optional<std::size_t> size = digest_size_by_name(algo);

	if (list == lists.end() || !size)
		throw std::invalid_argument("no " + std::string(algo) + " list in the snapshot");
	return parse_binary_list(list->second, *size);
}

const Bytes &Snapshot::pcr(std::string_view bank, unsigned int index) const
{
	auto values = pcrs.find(bank);

	if (values == pcrs.end() || index >= values->second.size())
		throw std::invalid_argument("no " + std::string(bank) + " PCR " +
					    std::to_string(index) + " in the snapshot");
	return values->second[index];
}

static std::map<std::string, Bytes, std::less<>> read_lists(const std::vector<std::string> &algos)
{
	std::map<std::string, Bytes, std::less<>> lists;

	for (const std::string &algo : algos)
		lists[algo] = read_binary_list_bytes(algo);
	return lists;
}

Snapshot take_snapshot(const std::vector<std::string> &list_algos,
		       const std::vector<std::string> &banks)
{
	for (int attempt = 0; attempt < kSnapshotAttempts; attempt++) {
		Snapshot snapshot;

		snapshot.lists = read_lists(list_algos);
		for (const std::string &bank : banks)
			snapshot.pcrs[bank] = read_tpm_pcrs(bank);
		if (read_lists(list_algos) == snapshot.lists)
			return snapshot;
	}
	throw std::runtime_error("the measurement lists changed during each of " +
				 std::to_string(kSnapshotAttempts) + " snapshot attempts");
}

} // namespace ima
