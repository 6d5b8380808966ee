// SPDX-License-Identifier: GPL-2.0
#include "lib/options.h"

#include <charconv>
#include <string>
#include <system_error>

namespace ima {

static bool parse_decimal(std::string_view text, std::uint64_t &value)
{
	auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);

	return !text.empty() && error == std::errc() && end == text.data() + text.size();
}

static const NumberOption *find_option(std::string_view name,
				       std::initializer_list<NumberOption> options)
{
	for (const NumberOption &option : options)
		if (option.name == name)
			return &option;
	return nullptr;
}

bool take_number_options(std::vector<char *> &argv, std::initializer_list<NumberOption> options)
{
	for (auto arg = argv.begin(); arg != argv.end() && *arg;) {
		std::string_view text = *arg;
		std::string_view name = text.substr(0, text.find('='));
		const NumberOption *option = find_option(name, options);
		std::string value;

		if (!option) {
			++arg;
			continue;
		}
		if (name.size() < text.size()) {
			value = text.substr(name.size() + 1);
			arg = argv.erase(arg);
		} else if (arg + 1 != argv.end() && *(arg + 1)) {
			value = *(arg + 1);
			arg = argv.erase(arg, arg + 2);
		} else {
			return false;
		}
		if (!parse_decimal(value, *option->value))
			return false;
	}
	return true;
}

bool take_flag_option(std::vector<char *> &argv, std::string_view name)
{
	bool found = false;

	for (auto arg = argv.begin(); arg != argv.end() && *arg;) {
		if (std::string_view(*arg) == name) {
			arg = argv.erase(arg);
			found = true;
		} else {
			++arg;
		}
	}
	return found;
}

} // namespace ima
