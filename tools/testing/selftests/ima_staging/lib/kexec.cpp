// SPDX-License-Identifier: GPL-2.0
#include "lib/kexec.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fcntl.h>
#include <filesystem>
#include <linux/reboot.h>
#include <stdexcept>
#include <sys/syscall.h>
#include <unistd.h>

#include "ima/sys.h"
#include "lib/kernel.h"

namespace ima {

namespace {

const std::string kNextInitrd = "/tmp/next-initrd.cpio";

void build_initrd_from_root()
{
	CommandResult cpio = run_command(
		{"sh", "-c", "cd / && find . -xdev | cpio -o -H newc >" + kNextInitrd});
	if (cpio.exit_code != 0)
		throw std::runtime_error("building the next initramfs: " + cpio.output);
}

std::string running_command_line()
{
	std::string cmdline = read_text_file("/proc/cmdline");

	while (!cmdline.empty() && cmdline.back() == '\n')
		cmdline.pop_back();
	return cmdline;
}

} // namespace

std::string missing_kexec_requirement()
{
	if (!KernelConfig::from_proc().is_builtin("CONFIG_IMA_KEXEC"))
		return "CONFIG_IMA_KEXEC is not set";
	if (!path_exists(kRunningKernelImage))
		return "no kernel image at " + kRunningKernelImage;
	return "";
}

void kexec_soft_reboot(const std::string &kernel, const std::function<void()> &before_reboot)
{
	build_initrd_from_root();
	std::string cmdline = running_command_line();
	UniqueFd kernel_fd = open_or_throw(kernel, O_RDONLY);
	UniqueFd initrd_fd = open_or_throw(kNextInitrd, O_RDONLY);

	if (::syscall(SYS_kexec_file_load, kernel_fd.get(), initrd_fd.get(), cmdline.size() + 1,
		      cmdline.c_str(), 0UL))
		throw_errno("kexec_file_load");
	::sync();
	std::fflush(nullptr);
	if (before_reboot)
		before_reboot();
	::syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_KEXEC,
		  nullptr);
	throw_errno("reboot(LINUX_REBOOT_CMD_KEXEC)");
}

void print_ktap_line(const std::string &line)
{
	std::printf("%s\n", line.c_str());
	std::fflush(stdout);
}

void report_across_boots(std::size_t index, const std::string &name,
			 const std::string &problems, const std::string &failed_file)
{
	std::string number = std::to_string(index + 1);

	if (!problems.empty()) {
		print_ktap_line("# " + problems);
		print_ktap_line("not ok " + number + " " + name);
		write_file(failed_file, as_bytes("1\n"));
	} else {
		print_ktap_line("ok " + number + " " + name);
	}
}

unsigned long BootState::number(const std::string &name) const
{
	return std::stoul(read_text_file(path(name)));
}

void BootState::set_number(const std::string &name, unsigned long value) const
{
	write_file(path(name), as_bytes(std::to_string(value) + "\n"));
}

void BootState::begin(const std::string &missing) const
{
	print_ktap_line("KTAP version 1");
	if (!missing.empty()) {
		print_ktap_line("1..0 # SKIP " + missing);
		std::exit(4);
	}
	std::filesystem::create_directories(dir_);
	set_number("failed", 0);
	print_ktap_line("1.." + std::to_string(tests_.size()));
}

void BootState::report(std::size_t index, const std::string &problems) const
{
	report_across_boots(index, tests_.at(index), problems, path("failed"));
}

std::function<int()> BootState::rebooting(void (*phase)())
{
	return [phase] {
		phase();
		return 1;
	};
}

int BootState::run(const std::vector<std::function<int()>> &phases) const
{
	try {
		unsigned long phase = path_exists(path("phase")) ? number("phase") : 0;

		if (phase < phases.size())
			return phases[phase]();
		print_ktap_line("# unknown phase in " + path("phase"));
	} catch (const std::exception &e) {
		print_ktap_line(std::string("# ") + e.what());
	}
	return 1;
}

} // namespace ima
