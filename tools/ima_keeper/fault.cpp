// SPDX-License-Identifier: GPL-2.0
#include "fault.h"

#ifdef IMA_KEEPER_FAULT_INJECTION

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace keeper {

bool fault_point_reached(const char *point)
{
	const char *wanted = std::getenv("IMA_KEEPER_FAULT");

	return wanted && std::strcmp(wanted, point) == 0;
}

void crash_if_fault(const char *point)
{
	if (!fault_point_reached(point))
		return;
	std::fprintf(stderr, "ima-keeper: IMA_KEEPER_FAULT=%s: killing myself\n", point);
	std::fflush(nullptr);
	std::raise(SIGKILL);
}

} // namespace keeper
#endif /* IMA_KEEPER_FAULT_INJECTION */
