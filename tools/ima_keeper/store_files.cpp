// SPDX-License-Identifier: GPL-2.0
#include "store_files.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

using ima::Bytes;
using ima::ByteView;
using ima::UniqueFd;

namespace keeper {

std::string where(const std::string &path, std::uint64_t offset)
{
	return path + " at offset " + std::to_string(offset);
}

UniqueFd open_store_file(const std::string &path, bool writable)
{
	ima::OpenResult result = ima::try_open(path, writable ? O_RDWR | O_CREAT : O_RDONLY, 0600);

	if (result.error == ENOENT && !writable)
		return UniqueFd();
	if (result.error)
		throw std::system_error(result.error, std::generic_category(), "open " + path);
	return std::move(result.fd);
}

std::uint64_t file_size(int fd, const std::string &path)
{
	struct stat st;

	if (::fstat(fd, &st))
		ima::throw_errno("stat " + path);
	return static_cast<std::uint64_t>(st.st_size);
}

int write_at(int fd, ByteView bytes, std::uint64_t offset)
{
	while (!bytes.empty()) {
		ssize_t done = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));

		if (done < 0 && errno == EINTR)
			continue;
		if (done < 0)
			return errno;
		bytes = bytes.subspan(static_cast<std::size_t>(done));
		offset += static_cast<std::uint64_t>(done);
	}
	return 0;
}

void throw_write_error(int error, const std::string &path, const std::string &consequence)
{
	if (error == ENOSPC || error == EDQUOT)
		throw StoreFull("no space left to write " + path + " (" + consequence + ")");
	throw std::system_error(error, std::generic_category(),
				"write " + path + " (" + consequence + ")");
}

void truncate_or_throw(int fd, std::uint64_t size, const std::string &path)
{
	if (::ftruncate(fd, static_cast<off_t>(size)))
		ima::throw_errno("truncate " + path);
}

void sync_or_throw(int fd, const std::string &path)
{
	if (::fsync(fd))
		throw StoreNotDurable("fsync " + path + ": " + std::strerror(errno));
}

void sync_dir(const std::string &path)
{
	UniqueFd fd = ima::open_or_throw(path, O_RDONLY | O_DIRECTORY);

	sync_or_throw(fd.get(), path);
}

std::optional<std::uint64_t> size_if_it_begins_with(int fd, ByteView bytes)
{
	struct stat st;

	if (::fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    static_cast<std::uint64_t>(st.st_size) < bytes.size())
		return std::nullopt;
	Bytes start(bytes.size());
	ima::read_exact_at(fd, start.data(), start.size(), 0, "a derived file of the store");
	if (!std::ranges::equal(start, bytes))
		return std::nullopt;
	return static_cast<std::uint64_t>(st.st_size);
}

StoreLock::StoreLock(const std::string &path, Kind kind)
{
	fd_ = ima::open_or_throw(path, O_RDONLY);
	while (::flock(fd_.get(), kind == Kind::shared ? LOCK_SH : LOCK_EX))
		if (errno != EINTR)
			ima::throw_errno("lock " + path);
}

std::optional<StoreLock> StoreLock::try_lock(const std::string &path, Kind kind, bool create)
{
	UniqueFd fd = ima::open_or_throw(path, O_RDONLY | (create ? O_CREAT : 0), 0600);

	if (::flock(fd.get(), (kind == Kind::shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0)
		return StoreLock(std::move(fd));
	if (errno != EWOULDBLOCK)
		ima::throw_errno("lock " + path);
	return std::nullopt;
}

void make_private_dir(const std::string &path)
{
	if (::mkdir(path.c_str(), 0700) && errno != EEXIST)
		ima::throw_errno("create the directory " + path);
}

} // namespace keeper
