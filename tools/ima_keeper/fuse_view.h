/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A FUSE file system (libfuse3) with the full log in the files and formats
 * of the IMA securityfs directory:
 *
 *	<mountpoint>/binary_runtime_measurements
 *	<mountpoint>/ascii_runtime_measurements
 *	<mountpoint>/runtime_measurements_count
 *
 * An agent that reads /sys/kernel/security/ima/... reads these instead and
 * sees every record since boot, as if nothing had been deleted. The files
 * report the size of their content, and a read past what an open file last
 * saw reads the log again, so a descriptor held open sees the records
 * measured since, at offsets that stay the same for the whole boot.
 * Reads are served from the group that holds them (the journal says where
 * each group is): memory stays one group and the kernel's lists, whatever
 * the store holds.
 */
#pragma once

#include <string>

namespace keeper {

/*
 * Mounts the view of @store_dir's full log on @mountpoint and serves it
 * until it is unmounted (umount, fusermount3 -u) or SIGTERM/SIGINT.
 * Returns the exit code.
 */
int serve_fuse_view(const std::string &store_dir, const std::string &mountpoint);

} // namespace keeper
