// SPDX-License-Identifier: GPL-2.0
#include "lib/require.h"

#include <string>

#include "ktap.h"
#include "lib/kernel.h"
#include "lib/staging.h"

namespace ima {

void require_staging()
{
	static const std::string missing = missing_staging_requirement();

	if (!missing.empty())
		ktap::skip(missing);
}

namespace {

bool memory_figures_left_out = false;

} // namespace

void leave_memory_figures_out()
{
	memory_figures_left_out = true;
}

void require_memory_figures()
{
	if (memory_figures_left_out)
		ktap::skip("--no-memory-figures: the full tier's suites of this program "
			   "measure it");
	if (KernelConfig::from_proc().is_builtin("CONFIG_KASAN"))
		ktap::skip("KASAN keeps freed memory in quarantine");
}

bool booted_with_flush_htable()
{
	static const bool flush = KernelCmdline::from_proc().has("ima_flush_htable");

	return flush;
}

} // namespace ima
