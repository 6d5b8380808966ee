// SPDX-License-Identifier: GPL-2.0
#include "ima/tpm.h"

#include <algorithm>
#include <stdexcept>

#include "ima/sys.h"

namespace ima {

static constexpr std::string_view kPcrDirPrefix = "pcr-";

bool tpm_available()
{
	return path_exists(std::string(kTpmSysfsDir));
}

std::vector<std::string> tpm_pcr_banks()
{
	std::vector<std::string> banks;

	for (const std::string &name : list_directory(std::string(kTpmSysfsDir)))
		if (name.starts_with(kPcrDirPrefix))
			banks.push_back(name.substr(kPcrDirPrefix.size()));
	return banks;
}

bool tpm_has_bank(std::string_view bank)
{
	std::vector<std::string> banks = tpm_pcr_banks();

	return std::find(banks.begin(), banks.end(), bank) != banks.end();
}

Bytes read_tpm_pcr(std::string_view bank, unsigned int pcr)
{
	std::string path = std::string(kTpmSysfsDir) + "/" + std::string(kPcrDirPrefix) +
			   std::string(bank) + "/" + std::to_string(pcr);
	std::string text = read_text_file(path);

	if (text.ends_with('\n'))
		text.pop_back();
	try {
		return from_hex(text);
	} catch (const std::invalid_argument &e) {
		throw std::runtime_error(path + ": " + e.what());
	}
}

std::vector<Bytes> read_tpm_pcrs(std::string_view bank)
{
	std::vector<Bytes> pcrs;

	for (unsigned int pcr = 0; pcr < kTpmPcrCount; pcr++)
		pcrs.push_back(read_tpm_pcr(bank, pcr));
	return pcrs;
}

} // namespace ima
