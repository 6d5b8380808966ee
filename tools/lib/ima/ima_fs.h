/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The IMA securityfs directory (names as created by ima_fs.c in 6.12, plus
 * the "_staged" twins of CONFIG_IMA_STAGING) and measurement generation.
 */
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ima/bytes.h"
#include "ima/hash.h"
#include "ima/records.h"

namespace ima {

inline constexpr std::string_view kSecurityfsDir = "/sys/kernel/security";
inline constexpr std::string_view kImaDir = "/sys/kernel/security/ima";
inline constexpr std::string_view kStagedSuffix = "_staged";
inline constexpr std::string_view kCountFile = "runtime_measurements_count";
inline constexpr std::string_view kViolationsFile = "violations";
/* A ramfs where every newly read file is measured (policy of the test guest). */
inline constexpr std::string_view kMeasureDir = "/measure";

enum class ListFormat { binary, ascii };

/* "/sys/kernel/security/ima/<name>" */
std::string ima_path(std::string_view name);
bool ima_securityfs_available();

/* "binary_runtime_measurements_<algo>[_staged]" */
std::string list_file_name(ListFormat format, std::string_view algo, bool staged = false);
/* The symlink to the sha1 file: "binary_runtime_measurements[_staged]" */
std::string list_symlink_name(ListFormat format, bool staged = false);

/*
 * The algorithms 6.12 creates list files for: every TPM bank (named as in
 * /sys/class/tpm/tpm0/pcr-<bank>), plus sha1 when it is not a bank. The
 * default hash algorithm gets no file of its own unless it is a bank (the
 * file count in create_securityfs_measurement_lists() only adds the sha1
 * slot). Banks the kernel has no hash name for get "_tpm_alg_<id>" files and
 * no sysfs directory, so they cannot be listed here.
 */
std::vector<std::string> stock_list_algos(const std::vector<std::string> &tpm_banks);

/* Raw contents of binary_runtime_measurements_<algo>[_staged]. */
Bytes read_binary_list_bytes(std::string_view algo, bool staged = false);
/* Parsed; the template digest size follows from @algo. */
std::vector<Record> read_binary_list(std::string_view algo, bool staged = false);
std::vector<Record> read_ascii_list(std::string_view algo, bool staged = false);

unsigned long read_measurement_count();
unsigned long read_violation_count();

/*
 * Creates a new uniquely named file in @dir and reads it, so that IMA adds
 * exactly one record (with the ramfs policy of the guest). Returns its path,
 * the file name of the record.
 */
std::string create_measurement(const std::string &dir = std::string(kMeasureDir));

/* What create_measurement() writes to the file at @path. */
std::string measurement_content(const std::string &path);

/*
 * The ima-ng fields of the record create_measurement() adds for @path when
 * IMA hashes files with @file_hash (see ima_file_hash_name()).
 */
ImaNgEvent measurement_event(const std::string &path, HashAlgo file_hash);

} // namespace ima
