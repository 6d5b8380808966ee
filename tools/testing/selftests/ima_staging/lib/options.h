/* SPDX-License-Identifier: GPL-2.0 */
/* Number options of a test program, given before its ktap options. */
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace ima {

struct NumberOption {
	/* With the dashes: "--steps". */
	std::string_view name;
	std::uint64_t *value;
};

/*
 * Takes "--NAME N" and "--NAME=N" for each of @options out of @argv (which
 * ends with the nullptr of argv[argc]) and stores N. False when a value is
 * missing or not a decimal number that fits.
 */
bool take_number_options(std::vector<char *> &argv, std::initializer_list<NumberOption> options);

/* Takes every @name (a flag, with the dashes) out of @argv; whether one was there. */
bool take_flag_option(std::vector<char *> &argv, std::string_view name);

} // namespace ima
