// SPDX-License-Identifier: GPL-2.0
#include "lib/disk.h"

#include <cstdio>
#include <filesystem>
#include <linux/reboot.h>
#include <stdexcept>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "ima/sys.h"

namespace ima {

namespace {

const std::string kPersistentDisk = "/dev/vda";

/*
 * Powers off with LINUX_REBOOT_CMD_POWER_OFF once the output is out: stdout
 * (KTAP) and stderr are serial lines the host reads, and a write returns
 * before the UART sent it. tcdrain() fails at once on anything but a tty.
 */
[[noreturn]] void power_off()
{
	std::fflush(nullptr);
	::tcdrain(STDOUT_FILENO);
	::tcdrain(STDERR_FILENO);
	::syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
		  LINUX_REBOOT_CMD_POWER_OFF, nullptr);
	throw_errno("reboot(LINUX_REBOOT_CMD_POWER_OFF)");
}

} // namespace

void mount_persistent_disk(const std::string &dir)
{
	if (!path_exists(kPersistentDisk))
		throw std::runtime_error("no persistent disk (" + kPersistentDisk +
					 "): the suite needs disk= and boots=");
	std::filesystem::create_directories(dir);
	if (::mount(kPersistentDisk.c_str(), dir.c_str(), "ext4", 0, nullptr))
		throw_errno("mount " + kPersistentDisk + " (ext4) on " + dir);
}

void power_cut()
{
	power_off();
}

void cold_reboot()
{
	::sync();
	power_off();
}

} // namespace ima
