// SPDX-License-Identifier: GPL-2.0
#include "fsck.h"

#include <optional>

#include "full_log.h"
#include "kernel_files.h"
#include "logs.h"

namespace keeper {

namespace {

/* A log whose journal was read, or the reason it could not be. */
struct OpenedLog {
	std::string path;
	std::optional<Store> store;
	std::string refused;
};

std::vector<OpenedLog> open_logs(const std::string &store_dir)
{
	std::vector<OpenedLog> opened;
	std::optional<StoreLock> lock = lock_for_reading(store_dir);

	if (!lock)
		throw KeeperError("no store in " + store_dir);
	for (const LogDir &log : list_logs(store_dir)) {
		try {
			opened.push_back({log.path, Store(log.path, Store::Mode::read), {}});
		} catch (const StoreCorrupted &e) {
			opened.push_back({log.path, std::nullopt, e.what()});
		}
	}
	return opened;
}

LogCheck check_log(const OpenedLog &log)
{
	LogCheck check{log.path, 0, 0, log.refused, {}};
	ima::Bytes bytes;

	if (!log.store)
		return check;
	for (const Group &group : log.store->groups()) {
		try {
			log.store->read_group(group, bytes);
		} catch (const std::runtime_error &e) {
			/* Bytes that do not match, or a read that fails (EIO: a bad sector). */
			check.damaged.push_back({group, check.records, e.what()});
		}
		check.groups++;
		check.records += group.records;
	}
	return check;
}

} // namespace

std::vector<LogCheck> check_store(const std::string &store_dir)
{
	std::vector<LogCheck> checks;

	for (const OpenedLog &log : open_logs(store_dir))
		checks.push_back(check_log(log));
	return checks;
}

} // namespace keeper
