// SPDX-License-Identifier: GPL-2.0
#include "kernel_files.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <sstream>
#include <system_error>
#include <unistd.h>

#include "ima/hash.h"
#include "ima/ima_fs.h"
#include "ima/records.h"

using ima::Bytes;

namespace keeper {

namespace {

constexpr int kBusyRetries = 100;
constexpr useconds_t kBusyRetryDelay = 100000;

/* Whether @target, where a descriptor points, is an IMA measurement file. */
bool is_measurement_file(const std::string &target)
{
	return target.starts_with("/sys/kernel/security/") &&
	       target.find("runtime_measurements") != std::string::npos;
}

/*
 * Whether process @pid has a file open that @wanted accepts; sets
 * @uninspected if its descriptors cannot be listed (a process with
 * capabilities this one lacks, such as a sandboxed keeper).
 */
bool holds_file(const std::filesystem::path &pid,
		const std::function<bool(const std::string &)> &wanted, bool &uninspected)
{
	std::error_code error;
	std::filesystem::directory_iterator fds(pid / "fd", error);

	uninspected = error && error != std::errc::no_such_file_or_directory;
	for (const auto &fd : fds) {
		std::filesystem::path target = std::filesystem::read_symlink(fd.path(), error);

		if (!error && wanted(target.string()))
			return true;
	}
	return false;
}

/*
 * Appends "pid N (command)" to @holders for each process holding such a
 * file; counts in @uninspected those whose descriptors cannot be listed.
 */
void list_holders(std::string &holders, unsigned &uninspected,
		  const std::function<bool(const std::string &)> &wanted)
{
	std::string self = std::to_string(::getpid());
	std::error_code error;

	for (const auto &entry : std::filesystem::directory_iterator("/proc", error)) {
		std::string pid = entry.path().filename().string();
		bool unknown = false;

		if (pid == self || pid.find_first_not_of("0123456789") != std::string::npos)
			continue;
		if (!holds_file(entry.path(), wanted, unknown)) {
			uninspected += unknown;
			continue;
		}
		std::string command = "?";
		try {
			command = ima::read_text_file(entry.path() / "comm");
			if (!command.empty() && command.back() == '\n')
				command.pop_back();
		} catch (const std::exception &) {
			/* gone meanwhile */
		}
		holders += (holders.empty() ? "" : ", ") + std::string("pid ") + pid + " (" + command + ")";
	}
}

std::string file_holders(const std::function<bool(const std::string &)> &wanted)
{
	std::string holders;
	unsigned uninspected = 0;

	/* Processes come and go meanwhile: this only builds a message. */
	try {
		list_holders(holders, uninspected, wanted);
	} catch (const std::exception &e) {
		holders += (holders.empty() ? "" : ", ") + std::string("(listing stopped: ") + e.what() + ")";
	}
	if (uninspected)
		holders += (holders.empty() ? "" : ", ") + std::string("maybe one of the ") +
			   std::to_string(uninspected) + " processes whose files this one may not list";
	return holders.empty() ? "no process found (it closed them meanwhile)" : holders;
}

} // namespace

std::string measurement_file_holders()
{
	return file_holders(is_measurement_file);
}

std::string open_file_holders(const std::string &path)
{
	std::error_code error;
	std::string canonical = std::filesystem::canonical(path, error).string();

	return file_holders([&](const std::string &target) { return !error && target == canonical; });
}

std::string staged_file()
{
	return ima::list_file_name(ima::ListFormat::binary, "sha1", true);
}

std::string original_file()
{
	return ima::list_file_name(ima::ListFormat::binary, "sha1", false);
}

bool kernel_has_staging()
{
	return ima::path_exists(ima::ima_path(staged_file()));
}

void require_staging()
{
	if (!ima::ima_securityfs_available())
		throw KeeperError("no IMA directory " + std::string(ima::kImaDir) +
				  ": is securityfs mounted, and the kernel built with CONFIG_IMA?");
	if (!kernel_has_staging())
		throw KeeperError("this kernel has no IMA measurement staging (no " +
				  ima::ima_path(staged_file()) +
				  "): records cannot be moved out of it; it needs CONFIG_IMA_STAGING");
}

bool kernel_flushes_htable()
{
	std::istringstream cmdline(ima::read_text_file("/proc/cmdline"));
	std::string word;

	/* __setup("ima_flush_htable", ...) takes it with or without a value. */
	while (cmdline >> word)
		if (word == "ima_flush_htable" || word.starts_with("ima_flush_htable="))
			return true;
	return false;
}

std::string describe_errno(int error)
{
	return ima::errno_name(error) + " (" + std::strerror(error) + ")";
}

ima::UniqueFd open_for_requests(const std::string &file_name)
{
	std::string path = ima::ima_path(file_name);
	int flags = file_name.ends_with(ima::kStagedSuffix) ? O_RDWR : O_WRONLY;
	ima::OpenResult result = ima::try_open(path, flags);

	switch (result.error) {
	case 0:
		return std::move(result.fd);
	case EPERM:
	case EACCES:
		throw KeeperError("opening " + path + " for writing: " +
				  describe_errno(result.error) +
				  ": the keeper must run as root with CAP_SYS_ADMIN");
	case EBUSY:
		throw KernelBusy("opening " + path + " for writing: " +
				 describe_errno(result.error) +
				 ": other processes have measurement files open: " +
				 measurement_file_holders() +
				 " (agents should read the keeper's view instead)");
	default:
		throw std::system_error(result.error, std::generic_category(),
					"open " + path + " for writing");
	}
}

Bytes read_kernel_list(bool staged)
{
	std::string path = ima::ima_path(staged ? staged_file() : original_file());

	if (staged && !kernel_has_staging())
		return {};
	for (int attempt = 0;; attempt++) {
		ima::OpenResult result = ima::try_open(path, O_RDONLY);

		if (result.error == EBUSY && attempt < kBusyRetries) {
			::usleep(kBusyRetryDelay);
			continue;
		}
		if (result.error == EBUSY)
			throw KernelBusy("reading " + path + ": " + describe_errno(EBUSY) +
					 ": another process holds the measurement files for writing");
		if (result.error)
			throw std::system_error(result.error, std::generic_category(),
						"open " + path);
		return ima::read_all(result.fd.get());
	}
}

Bytes read_kernel_lists()
{
	Bytes lists = read_kernel_list(true);

	ima::append(lists, read_kernel_list(false));
	return lists;
}

int send(int fd, std::string_view request)
{
	ssize_t written = ima::try_write(fd, request);

	if (written < 0)
		return static_cast<int>(-written);
	if (static_cast<std::size_t>(written) != request.size())
		throw KeeperError("request accepted in part");
	return 0;
}

} // namespace keeper
