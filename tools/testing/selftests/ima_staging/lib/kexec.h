/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kexec soft reboots into the running kernel, carrying the guest's root file
 * system (the initramfs it booted from, with whatever was written to it) to
 * the next boot.
 */
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace ima {

/* Where the guest keeps the image of the running kernel. */
inline const std::string kRunningKernelImage = "/boot/bzImage";

/*
 * Loads @kernel with an initramfs made of the root file system (tmpfs mounts
 * such as /tmp are left out) and the running kernel's command line, calls
 * @before_reboot, and reboots into it with LINUX_REBOOT_CMD_KEXEC. Throws if
 * any step fails; never returns otherwise.
 */
[[noreturn]] void kexec_soft_reboot(const std::string &kernel,
				    const std::function<void()> &before_reboot = {});

/*
 * KTAP of a program that runs once per boot across soft reboots: each line
 * is flushed at once, before the next reboot can lose it.
 */
void print_ktap_line(const std::string &line);

/*
 * Prints result @index + 1, named @name: "ok", or @problems as a diagnostic
 * line and "not ok", which also writes "1" to @failed_file for the last
 * boot's exit status.
 */
void report_across_boots(std::size_t index, const std::string &name,
			 const std::string &problems, const std::string &failed_file);

} // namespace ima
