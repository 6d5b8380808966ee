// SPDX-License-Identifier: GPL-2.0
#include "lib/kernel.h"

#include <stdexcept>

#include "ima/sys.h"

namespace ima {

static constexpr std::string_view kConfigGz = "/proc/config.gz";
static constexpr std::string_view kCmdline = "/proc/cmdline";

KernelConfig KernelConfig::from_proc()
{
	CommandResult result = run_command({"gzip", "-dc", std::string(kConfigGz)});

	if (result.exit_code != 0)
		throw std::runtime_error("gzip -dc " + std::string(kConfigGz) +
					 " exited with " + std::to_string(result.exit_code) +
					 ": " + result.output);
	return parse(result.output);
}

KernelConfig KernelConfig::parse(std::string_view text)
{
	KernelConfig config;

	while (!text.empty()) {
		std::size_t newline = text.find('\n');
		std::string_view line = text.substr(0, newline);
		std::size_t equals = line.find('=');

		/* "# CONFIG_X is not set" and comments carry no value. */
		if (line.starts_with("CONFIG_") && equals != std::string_view::npos) {
			std::string option(line.substr(0, equals));
			config.values_[option] = line.substr(equals + 1);
		}
		text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
	}
	return config;
}

std::optional<std::string> KernelConfig::value(std::string_view option) const
{
	auto it = values_.find(option);

	if (it == values_.end())
		return std::nullopt;
	return it->second;
}

bool KernelConfig::is_builtin(std::string_view option) const
{
	return value(option) == "y";
}

bool ima_staging_configured()
{
	return KernelConfig::from_proc().is_builtin("CONFIG_IMA_STAGING");
}

std::string ima_file_hash_name()
{
	if (std::optional<std::string> name = KernelCmdline::from_proc().value("ima_hash"))
		return *name;

	std::string name = KernelConfig::from_proc().value("CONFIG_IMA_DEFAULT_HASH").value_or("");
	if (name.size() < 2 || name.front() != '"' || name.back() != '"')
		throw std::runtime_error("CONFIG_IMA_DEFAULT_HASH is not a quoted name: '" + name +
					 "'");
	return name.substr(1, name.size() - 2);
}

KernelCmdline KernelCmdline::from_proc()
{
	return parse(read_text_file(std::string(kCmdline)));
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

KernelCmdline KernelCmdline::parse(std::string_view text)
{
	KernelCmdline cmdline;
	std::size_t i = 0;

	while (i < text.size()) {
		if (is_space(text[i])) {
			i++;
			continue;
		}
		std::string word;
		bool quoted = false;
		for (; i < text.size() && (quoted || !is_space(text[i])); i++) {
			if (text[i] == '"')
				quoted = !quoted;
			else
				word.push_back(text[i]);
		}
		std::size_t equals = word.find('=');
		if (equals == std::string::npos)
			cmdline.params_[word] = "";
		else
			cmdline.params_[word.substr(0, equals)] = word.substr(equals + 1);
	}
	return cmdline;
}

bool KernelCmdline::has(std::string_view param) const
{
	return params_.find(param) != params_.end();
}

std::optional<std::string> KernelCmdline::value(std::string_view param) const
{
	auto it = params_.find(param);

	if (it == params_.end())
		return std::nullopt;
	return it->second;
}

} // namespace ima
