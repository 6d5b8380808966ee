// SPDX-License-Identifier: GPL-2.0
/*
 * Demonstration tool:
 *
 *   ima_tool replay FILE...
 *	Parses the concatenation of sha1 binary measurement lists (saved
 *	groups, then e.g. /sys/kernel/security/ima/binary_runtime_measurements),
 *	replays them to PCR 10 of the sha1 and sha256 banks and compares with
 *	the TPM. Exit 0 if every bank matches, 1 otherwise.
 *
 *   ima_tool pcrs-file OUT [BANK]
 *	Writes the TPM's PCRs of BANK (default sha256) as an evmctl --pcrs file.
 *
 *   ima_tool measure COUNT
 *	Creates and reads COUNT new files under /measure: COUNT new records.
 *
 *   ima_tool agent-round DIR
 *	One round of the attestation agent (lib/agent.h): quotes PCR 10,
 *	deletes the records the quote covers and appends them to the saved
 *	records kept in DIR (saved.<algo> files, created if missing).
 *
 *   ima_tool kexec
 *	Soft reboot into the running kernel (/boot/bzImage) with kexec, with
 *	the root file system as the next initramfs. Does not return.
 *
 * Exit 2 on usage or other errors.
 */
#include <cstdio>
#include <exception>
#include <fcntl.h>

#include "lib/agent.h"
#include "lib/ima.h"
#include "lib/kexec.h"
#include "lib/staging.h"

using namespace ima;

static constexpr int kExitMatch = 0;
static constexpr int kExitMismatch = 1;
static constexpr int kExitError = 2;

static int usage()
{
	std::fprintf(stderr, "usage: ima_tool replay FILE...\n"
			     "       ima_tool pcrs-file OUT [BANK]\n"
			     "       ima_tool measure COUNT\n"
			     "       ima_tool agent-round DIR\n"
			     "       ima_tool kexec\n");
	return kExitError;
}

/*
 * All files are opened before any is read, and the TPM is read last: opening
 * a file on a measured file system adds a record, which then is in the
 * securityfs list read afterwards and in the PCR.
 */
static Bytes read_concatenation(const std::vector<std::string> &paths)
{
	std::vector<UniqueFd> files;
	Bytes data;

	for (const std::string &path : paths)
		files.push_back(open_or_throw(path, O_RDONLY));
	for (const UniqueFd &file : files)
		append(data, read_all(file.get()));
	return data;
}

static int replay(const std::vector<std::string> &paths)
{
	std::vector<Record> records =
		parse_binary_list(read_concatenation(paths), digest_size(HashAlgo::sha1));
	bool compared = false, all_match = true;

	std::printf("records: %zu\n", records.size());
	for (HashAlgo algo : {HashAlgo::sha1, HashAlgo::sha256}) {
		std::string bank(hash_name(algo));
		PcrReplay replay(algo);

		for (const Record &record : records)
			replay.extend(with_template_digest(record, algo));
		std::printf("%-6s PCR %u replayed %s\n", bank.c_str(), kImaPcr,
			    to_hex(replay.value()).c_str());
		if (!tpm_available() || !tpm_has_bank(bank)) {
			std::printf("%-6s PCR %u TPM      (no such bank)\n", bank.c_str(), kImaPcr);
			continue;
		}
		Bytes tpm = read_tpm_pcr(bank, kImaPcr);
		bool match = tpm == replay.value();
		std::printf("%-6s PCR %u TPM      %s %s\n", bank.c_str(), kImaPcr,
			    to_hex(tpm).c_str(), match ? "MATCH" : "MISMATCH");
		compared = true;
		all_match = all_match && match;
	}
	return compared && all_match ? kExitMatch : kExitMismatch;
}

static int write_pcrs_file(const std::string &out, const std::string &bank)
{
	write_file(out, as_bytes(format_evmctl_pcrs(read_tpm_pcrs(bank))), 0644);
	std::printf("wrote %s: evmctl ima_measurement --pcrs %s,%s LIST\n", out.c_str(),
		    bank.c_str(), out.c_str());
	return kExitMatch;
}

static int measure(const std::string &count)
{
	unsigned long n = std::stoul(count);

	for (unsigned long i = 0; i < n; i++)
		create_measurement();
	std::printf("measured %lu new files under %s\n", n, std::string(kMeasureDir).c_str());
	return kExitMatch;
}

static int run_agent_round(const std::string &dir)
{
	saved_store().load_from(dir);
	AttestationKey key;
	UniqueFd fd = open_or_throw(ima_path(original_request_file()), O_WRONLY);
	AgentRound round = agent_round(fd.get(), key);

	saved_store().save_to(dir);
	std::printf("quoted PCR 10 digest %s\n", to_hex(round.quoted_digest).c_str());
	std::printf("the quote covers %zu records: saved and deleted them (N = %zu)\n",
		    round.quoted, round.quoted);
	std::printf("%zu records appended after the quote stay in the kernel\n", round.left);
	return kExitMatch;
}

int main(int argc, char **argv)
{
	std::vector<std::string> args(argv + 1, argv + argc);

	try {
		if (args.size() >= 2 && args[0] == "replay")
			return replay(std::vector<std::string>(args.begin() + 1, args.end()));
		if ((args.size() == 2 || args.size() == 3) && args[0] == "pcrs-file")
			return write_pcrs_file(args[1], args.size() == 3 ? args[2] : "sha256");
		if (args.size() == 2 && args[0] == "measure")
			return measure(args[1]);
		if (args.size() == 2 && args[0] == "agent-round")
			return run_agent_round(args[1]);
		if (args.size() == 1 && args[0] == "kexec")
			kexec_soft_reboot(kRunningKernelImage);
		return usage();
	} catch (const std::exception &e) {
		std::fprintf(stderr, "ima_tool: %s\n", e.what());
		return kExitError;
	}
}
