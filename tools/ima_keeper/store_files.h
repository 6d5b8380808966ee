/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The file operations of the store: positioned reads and writes, fsync
 * and truncation that say which file failed and what it means, the
 * store's locks.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "ima/bytes.h"
#include "ima/sys.h"

namespace keeper {

/* Writing the store failed for lack of space; nothing was committed. */
class StoreFull : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

/*
 * The disk failed to make what was written durable (fsync): what the page
 * cache holds proves nothing. The next start settles the last group by the
 * kernel's lists and PCR 10, and writes it again if the kernel still holds
 * its records.
 */
class StoreNotDurable : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

/* "PATH at offset N", for messages. */
std::string where(const std::string &path, std::uint64_t offset);

/*
 * Opens a file of the store, read-only, or read-write and created if
 * missing; a missing file opened read-only is an empty UniqueFd.
 */
ima::UniqueFd open_store_file(const std::string &path, bool writable);
std::uint64_t file_size(int fd, const std::string &path);

/* Writes everything at @offset; returns 0 or the errno of the failed write. */
int write_at(int fd, ima::ByteView bytes, std::uint64_t offset);
/* @consequence: what the failed write means for the records (StoreFull on ENOSPC). */
[[noreturn]] void throw_write_error(int error, const std::string &path,
				    const std::string &consequence);
void truncate_or_throw(int fd, std::uint64_t size, const std::string &path);

/* fsync; throws StoreNotDurable. */
void sync_or_throw(int fd, const std::string &path);
void sync_dir(const std::string &path);

/*
 * The size of @fd if it is a regular file that begins with @bytes; reads
 * no more than them.
 */
std::optional<std::uint64_t> size_if_it_begins_with(int fd, ima::ByteView bytes);

/* An flock() held on a file of the store until destruction. */
class StoreLock {
public:
	enum class Kind { shared, exclusive };

	/* Waits for the lock. */
	StoreLock(const std::string &path, Kind kind);
	/* Does not wait: empty if someone else holds it. With @create, creates @path. */
	static std::optional<StoreLock> try_lock(const std::string &path, Kind kind,
						bool create = false);

private:
	explicit StoreLock(ima::UniqueFd fd) : fd_(std::move(fd)) {}
	ima::UniqueFd fd_;
};

/* Creates the directory @path, readable by its owner only, unless it exists. */
void make_private_dir(const std::string &path);

} // namespace keeper
