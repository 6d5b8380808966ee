/* SPDX-License-Identifier: GPL-2.0 */
/* Preconditions of the staging tests: a test that lacks one is skipped. */
#pragma once

namespace ima {

/*
 * Skips the running test (ktap::skip) unless the system has what the staging
 * tests need: see missing_staging_requirement().
 */
void require_staging();

/*
 * Skips the running test unless the kernel frees memory when it is freed:
 * KASAN keeps freed objects in quarantine, so slab figures say nothing.
 * Skips it too after leave_memory_figures_out().
 */
void require_memory_figures();
/*
 * --no-memory-figures: the quick tier leaves the memory tests (a list
 * filled and deleted, over 15 s each) to the suites of the full tier
 * that run the same program.
 */
void leave_memory_figures_out();

/* Whether the kernel was booted with ima_flush_htable. */
bool booted_with_flush_htable();

} // namespace ima
