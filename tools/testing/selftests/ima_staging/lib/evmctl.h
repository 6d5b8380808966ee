/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Validation of a binary measurement list with evmctl (ima-evm-utils 1.4).
 *
 * evmctl 1.4 cannot read a TPM 2.0 through the kernel, so the PCRs are given
 * with "--pcrs <bank>,<file>", one file per bank, each line
 *	"PCR-NN: <hex digest>\n"
 * for NN = 00, 01, ... in order (it stops at the first missing number, so
 * at least PCR-00 to PCR-10 must be listed; hex of either case).
 *
 * "evmctl ima_measurement" reads the sha1 binary list (it assumes 20-byte
 * template digests) and recomputes the other banks' template digests from
 * the template data. Its rules:
 *  - it succeeds if any bank matches, so each bank is checked on its own
 *    with --verify-bank=<bank>;
 *  - it accepts a list when any prefix of it replays to the PCR value
 *    ("succeed at entry N"), so records added after the PCR was read pass,
 *    a missing record does not;
 *  - violations (zero template digest) only replay like the kernel (with
 *    0xff) under --ignore-violations.
 * On a match it exits 0 and prints "Matched per TPM bank calculated
 * digest(s).", on a mismatch it exits 1 and prints "Failed to match per TPM
 * bank or SHA1 padded TPM digest(s).", both on stderr.
 */
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ima/bytes.h"

namespace ima {

inline constexpr std::string_view kEvmctl = "evmctl";

/* The contents of a --pcrs file for PCRs 0, 1, ... */
std::string format_evmctl_pcrs(const std::vector<Bytes> &pcrs);

struct EvmctlResult {
	bool validated;
	int exit_code;
	std::string command;
	std::string output;
};

/* Runs evmctl ima_measurement on @list_path against @bank of @pcrs_path. */
EvmctlResult run_evmctl_ima_measurement(const std::string &list_path, std::string_view bank,
					const std::string &pcrs_path);

/* The same for a sha1 binary list and PCR values in memory (via temp files). */
EvmctlResult evmctl_validate(ByteView sha1_binary_list, std::string_view bank,
			     const std::vector<Bytes> &pcrs);

/*
 * Every PCR bank of the TPM (none without one), split by whether evmctl
 * can check it: each is passed to evmctl once, with an empty list. evmctl
 * 1.4 knows sha1 and sha256 only; given a sha384 or sha512 bank it prints
 *	Unknown algorithm 'sha384'
 *	Failed to read any TPM PCRs
 * and exits 0 having checked nothing. A later evmctl that knows more banks
 * checks them all.
 */
struct EvmctlBanks {
	std::vector<std::string> checked;
	std::vector<std::string> unknown;
	/* What evmctl said of the unknown banks. */
	std::string said;
};

const EvmctlBanks &evmctl_banks();

} // namespace ima
