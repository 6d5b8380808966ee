/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The running kernel's configuration (/proc/config.gz) and boot parameters
 * (/proc/cmdline).
 */
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace ima {

class KernelConfig {
public:
	/* Decompresses /proc/config.gz with "gzip -dc" (CONFIG_IKCONFIG_PROC). */
	static KernelConfig from_proc();
	static KernelConfig parse(std::string_view text);

	/* The value as written ("y", "m", "10", "\"ima-ng\""); none if not set. */
	std::optional<std::string> value(std::string_view option) const;
	/* Whether @option (e.g. "CONFIG_IMA_STAGING") is built in. */
	bool is_builtin(std::string_view option) const;

private:
	std::map<std::string, std::string, std::less<>> values_;
};

/* Whether the running kernel has CONFIG_IMA_STAGING=y. */
bool ima_staging_configured();

/*
 * The name of the algorithm IMA hashes files with: the ima_hash= boot
 * parameter, else CONFIG_IMA_DEFAULT_HASH.
 */
std::string ima_file_hash_name();

class KernelCmdline {
public:
	static KernelCmdline from_proc();
	/* Splits at white space; double quotes group a value with spaces. */
	static KernelCmdline parse(std::string_view text);

	/* Whether @param appears, alone ("ima_flush_htable") or with a value. */
	bool has(std::string_view param) const;
	/* The value of the last "param=value"; empty for a bare "param". */
	std::optional<std::string> value(std::string_view param) const;

private:
	std::map<std::string, std::string, std::less<>> params_;
};

} // namespace ima
