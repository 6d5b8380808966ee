/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kexec soft reboots into the running kernel, carrying the guest's root file
 * system (the initramfs it booted from, with whatever was written to it) to
 * the next boot.
 */
#pragma once

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

} // namespace ima
