// SPDX-License-Identifier: GPL-2.0
#include "ima/ima_fs.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <stdexcept>
#include <time.h>
#include <unistd.h>

#include "ima/hash.h"
#include "ima/sys.h"

namespace ima {

std::string ima_path(std::string_view name)
{
	return std::string(kImaDir) + "/" + std::string(name);
}

bool ima_securityfs_available()
{
	return path_exists(std::string(kImaDir));
}

static std::string_view format_prefix(ListFormat format)
{
	return format == ListFormat::binary ? "binary_runtime_measurements"
					    : "ascii_runtime_measurements";
}

std::string list_file_name(ListFormat format, std::string_view algo, bool staged)
{
	return std::string(format_prefix(format)) + "_" + std::string(algo) +
	       (staged ? std::string(kStagedSuffix) : "");
}

std::string list_symlink_name(ListFormat format, bool staged)
{
	return std::string(format_prefix(format)) + (staged ? std::string(kStagedSuffix) : "");
}

std::vector<std::string> stock_list_algos(const std::vector<std::string> &tpm_banks)
{
	std::vector<std::string> algos = tpm_banks;

	if (std::find(algos.begin(), algos.end(), "sha1") == algos.end())
		algos.push_back("sha1");
	return algos;
}

Bytes read_binary_list_bytes(std::string_view algo, bool staged)
{
	return read_file(ima_path(list_file_name(ListFormat::binary, algo, staged)));
}

std::vector<Record> read_binary_list(std::string_view algo, bool staged)
{
	std::optional<std::size_t> size = digest_size_by_name(algo);

	if (!size)
		throw std::invalid_argument("unknown digest size of " + std::string(algo));
	return parse_binary_list(read_binary_list_bytes(algo, staged), *size);
}

std::vector<Record> read_ascii_list(std::string_view algo, bool staged)
{
	std::string path = ima_path(list_file_name(ListFormat::ascii, algo, staged));

	return parse_ascii_list(read_text_file(path));
}

/*
 * A number file of securityfs, in one read() from offset 0: the kernel
 * formats the number anew for each read(), so a second read() (to find
 * the end of the file) may continue from a number that changed meanwhile,
 * "9\n" then "\n" of "10\n".
 */
static unsigned long read_number_file(const std::string &path)
{
	UniqueFd fd = open_or_throw(path, O_RDONLY);
	char buffer[64];
	ssize_t got;

	do {
		got = ::read(fd.get(), buffer, sizeof(buffer));
	} while (got < 0 && errno == EINTR);
	if (got < 0)
		throw_errno("read " + path);
	std::string text(buffer, static_cast<std::size_t>(got));
	std::size_t used = 0;
	unsigned long value = 0;

	try {
		value = std::stoul(text, &used);
	} catch (const std::logic_error &) {
		used = 0;
	}
	if (used == 0 || text.substr(used) != "\n")
		throw std::runtime_error(path + ": not a number: '" + text + "'");
	return value;
}

unsigned long read_measurement_count()
{
	return read_number_file(ima_path(kCountFile));
}

unsigned long read_violation_count()
{
	return read_number_file(ima_path(kViolationsFile));
}

/* Unique across processes, calls and reboots of a test guest. */
static std::string unique_file_name()
{
	static std::atomic<unsigned long> sequence;
	timespec now;

	::clock_gettime(CLOCK_REALTIME, &now);
	return "m-" + std::to_string(::getpid()) + "-" + std::to_string(sequence++) + "-" +
	       std::to_string(now.tv_sec) + "." + std::to_string(now.tv_nsec);
}

std::string create_measurement(const std::string &dir)
{
	std::string path = dir + "/" + unique_file_name();

	/* Closed before it is opened for reading: no ToMToU violation. */
	write_file(path, as_bytes(measurement_content(path)));
	UniqueFd reader = open_or_throw(path, O_RDONLY);
	read_all(reader.get());
	return path;
}

std::string measurement_content(const std::string &path)
{
	return path + "\n";
}

ImaNgEvent measurement_event(const std::string &path, HashAlgo file_hash)
{
	Bytes digest = hash(file_hash, as_bytes(measurement_content(path)));

	return {std::string(hash_name(file_hash)), std::move(digest), path};
}

} // namespace ima
