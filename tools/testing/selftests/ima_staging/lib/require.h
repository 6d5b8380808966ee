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
 */
void require_memory_figures();

/* Whether the kernel was booted with ima_flush_htable. */
bool booted_with_flush_htable();

} // namespace ima
