/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The persistent disk of a suite with disk= and boots= (scripts/suites): an
 * ext4 file system on /dev/vda that the host keeps from one boot of the
 * suite to the next, and the two ways a boot ends before the next cold boot.
 */
#pragma once

#include <string>

namespace ima {

/*
 * Mounts the suite's disk, /dev/vda (ext4), at @dir, made first if missing.
 * Throws if the guest has no such disk or the mount fails.
 */
void mount_persistent_disk(const std::string &dir);

/*
 * Powers the guest off at once, without syncing file systems: what was not
 * written back to the disk is lost, as in a power cut (a BootState's files
 * there included: fsync() or sync() what the next boot needs). What the
 * program printed reaches the host first. Throws if the reboot fails; never
 * returns otherwise.
 */
[[noreturn]] void power_cut();

/*
 * Syncs the file systems (unmounts nothing) and powers the guest off: a
 * clean shutdown, which the host follows with the next boot. Throws if the
 * reboot fails; never returns otherwise.
 */
[[noreturn]] void cold_reboot();

} // namespace ima
