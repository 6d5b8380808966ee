/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kexec soft reboots into the running kernel, carrying the guest's root file
 * system (the initramfs it booted from, with whatever was written to it) to
 * the next boot; and the state of a program that runs once per boot, across
 * soft reboots or the cold boots of a suite with boots= (lib/disk.h).
 */
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace ima {

/* Where the guest keeps the image of the running kernel. */
inline const std::string kRunningKernelImage = "/boot/bzImage";

/*
 * What a soft reboot into the running kernel with its measurement list
 * needs that this system lacks (CONFIG_IMA_KEXEC, kRunningKernelImage), or
 * an empty string.
 */
std::string missing_kexec_requirement();

/*
 * Loads @kernel with an initramfs made of the root file system (tmpfs mounts
 * such as /tmp are left out) and the running kernel's command line, calls
 * @before_reboot, and reboots into it with LINUX_REBOOT_CMD_KEXEC. Throws if
 * any step fails; never returns otherwise.
 */
[[noreturn]] void kexec_soft_reboot(const std::string &kernel,
				    const std::function<void()> &before_reboot = {});

/*
 * KTAP of a program that runs once per boot across reboots: each line is
 * flushed at once, before the next reboot can lose it.
 */
void print_ktap_line(const std::string &line);

/*
 * Prints result @index + 1, named @name: "ok", or @problems as a diagnostic
 * line and "not ok", which also writes "1" to @failed_file for the last
 * boot's exit status.
 */
void report_across_boots(std::size_t index, const std::string &name,
			 const std::string &problems, const std::string &failed_file);

/*
 * The state of a program that runs once per boot across reboots: files in
 * @dir, which the next boot's initramfs carries after a soft reboot, or the
 * persistent disk (lib/disk.h) keeps across cold boots, and its tests, one
 * per boot after the first, in order.
 */
class BootState {
public:
	BootState(std::string dir, std::vector<std::string> tests)
		: dir_(std::move(dir)), tests_(std::move(tests))
	{
	}

	/* "@dir/@name" */
	std::string path(const std::string &name) const { return dir_ + "/" + name; }
	/* The decimal number in the file @name. */
	unsigned long number(const std::string &name) const;
	void set_number(const std::string &name, unsigned long value) const;
	/*
	 * The first boot: the KTAP header and plan, an empty record of
	 * failures; or, when @missing says what the system lacks, a skipped
	 * program ("1..0 # SKIP @missing", exit code 4).
	 */
	void begin(const std::string &missing) const;
	/* Reports test @index (report_across_boots, failures in "failed"). */
	void report(std::size_t index, const std::string &problems) const;
	/*
	 * Runs the phase of this boot: @phases[0] on the first boot, then the
	 * one the file "phase" names. A phase that ends in a reboot does not
	 * return. Returns the phase's exit code; 1 for an unknown phase or
	 * an exception, each reported as a KTAP diagnostic line.
	 */
	int run(const std::vector<std::function<int()>> &phases) const;
	/* A phase of run() that ends in a reboot: 1 if it returns. */
	static std::function<int()> rebooting(void (*phase)());

private:
	std::string dir_;
	std::vector<std::string> tests_;
};

} // namespace ima
