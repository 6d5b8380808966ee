/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Crash injection for the tests, compiled only into a test build (make
 * FAULT_INJECTION=1), never into the installed one: with
 * IMA_KEEPER_FAULT=<point> in the
 * environment, the keeper kills itself (SIGKILL, as kill -9 would) when it
 * reaches that point, to show that a crash there loses no record and saves
 * none twice. The points, in the order a save passes them:
 *
 *	staged		after A, before the staged records are read
 *	begun		the group's begun entry written, none of its bytes
 *	torn-data	half of the group's bytes written to the data file
 *	data-written	the group's bytes written and synced, no journal entry
 *	checkpoints-written
 *			its checkpoints written and synced too
 *	torn-journal	half of the group's journal entry written
 *	committed	the group committed, the kernel not told to delete it
 *	deleted		the kernel deleted the records, the journal does not say so
 *	rolled-back	a pending group's rollback is in the journal, its bytes
 *			are not truncated yet (a save that reconciles one)
 *
 * And three failures: full-after-delete makes the journal entry that
 * records a deletion fail with ENOSPC, as a disk that filled up meanwhile
 * would; fsync-journal makes the fsync of a group's saved entry fail with
 * EIO, as a failing disk would; estale makes the kernel's answer to D or N
 * ESTALE, as when a reboot or kexec begins, without sending it.
 */
#pragma once

namespace keeper {

#ifdef IMA_KEEPER_FAULT_INJECTION
/* Whether IMA_KEEPER_FAULT names @point. */
bool fault_point_reached(const char *point);

/* Kills the process with SIGKILL if IMA_KEEPER_FAULT names @point. */
void crash_if_fault(const char *point);
#else
/* The installed build: no fault is ever injected. */
inline bool fault_point_reached(const char *)
{
	return false;
}

inline void crash_if_fault(const char *)
{
}
#endif

} // namespace keeper
