// SPDX-License-Identifier: GPL-2.0
#include "lib/evmctl.h"

#include "ima/sys.h"

namespace ima {

static constexpr std::string_view kMatchMessage = "Matched per TPM bank calculated digest(s).";

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

} // namespace ima
