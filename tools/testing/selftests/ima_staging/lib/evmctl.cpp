// SPDX-License-Identifier: GPL-2.0
#include "lib/evmctl.h"

#include "ima/hash.h"
#include "ima/sys.h"
#include "ima/tpm.h"

namespace ima {

static constexpr std::string_view kMatchMessage = "Matched per TPM bank calculated digest(s).";
static constexpr std::string_view kUnknownBankMessage = "Failed to read any TPM PCRs";

std::string format_evmctl_pcrs(const std::vector<Bytes> &pcrs)
{
	std::string text;

	for (std::size_t i = 0; i < pcrs.size(); i++) {
		std::string number = std::to_string(i);

		text += "PCR-" + std::string(number.size() < 2 ? 1 : 0, '0') + number + ": " +
			to_hex(pcrs[i]) + "\n";
	}
	return text;
}

EvmctlResult run_evmctl_ima_measurement(const std::string &list_path, std::string_view bank,
					const std::string &pcrs_path)
{
	std::vector<std::string> argv = {
		std::string(kEvmctl), "ima_measurement", "--ignore-violations",
		"--verify-bank=" + std::string(bank),
		"--pcrs", std::string(bank) + "," + pcrs_path, list_path,
	};
	CommandResult result = run_command(argv);
	bool validated = result.exit_code == 0 &&
			 result.output.find(kMatchMessage) != std::string::npos;
	return {validated, result.exit_code, command_line(argv), std::move(result.output)};
}

EvmctlResult evmctl_validate(ByteView sha1_binary_list, std::string_view bank,
			     const std::vector<Bytes> &pcrs)
{
	TempFile list("ima_list");
	TempFile pcrs_file("ima_pcrs");

	list.write(sha1_binary_list);
	pcrs_file.write(format_evmctl_pcrs(pcrs));
	return run_evmctl_ima_measurement(list.path(), bank, pcrs_file.path());
}

/* Whether evmctl refuses the --pcrs file of @bank as an unknown algorithm. */
static bool evmctl_refuses_bank(const std::string &bank, std::string &said)
{
	std::size_t size = digest_size_by_name(bank).value_or(digest_size(HashAlgo::sha1));
	EvmctlResult result = evmctl_validate({}, bank, std::vector<Bytes>(kTpmPcrCount, Bytes(size)));

	if (result.output.find(kUnknownBankMessage) == std::string::npos)
		return false;
	said += result.command + ": " + result.output;
	return true;
}

const EvmctlBanks &evmctl_banks()
{
	static const EvmctlBanks banks = []() {
		EvmctlBanks split;

		if (!tpm_available())
			return split;
		for (const std::string &bank : tpm_pcr_banks()) {
			if (evmctl_refuses_bank(bank, split.said))
				split.unknown.push_back(bank);
			else
				split.checked.push_back(bank);
		}
		return split;
	}();

	return banks;
}

} // namespace ima
