/* SPDX-License-Identifier: GPL-2.0 */
/*
 * TPM PCRs as the kernel shows them in /sys/class/tpm/tpm0/pcr-<bank>/<n>
 * (upper-case hex and a newline; one directory per allocated bank whose
 * algorithm the kernel knows: sha1, sha256, sha384, sha512, sm3).
 */
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ima/bytes.h"

namespace ima {

inline constexpr std::string_view kTpmSysfsDir = "/sys/class/tpm/tpm0";
inline constexpr unsigned int kTpmPcrCount = 24;

bool tpm_available();

/* Bank names of the pcr-<bank> directories, sorted. */
std::vector<std::string> tpm_pcr_banks();
bool tpm_has_bank(std::string_view bank);

Bytes read_tpm_pcr(std::string_view bank, unsigned int pcr);
/* PCRs 0 to 23 of @bank. */
std::vector<Bytes> read_tpm_pcrs(std::string_view bank);

} // namespace ima
