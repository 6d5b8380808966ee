/* SPDX-License-Identifier: GPL-2.0 */
/*
 * "ima-keeper fsck": reads every group of every log of the store and says
 * which do not check out, and what they cover. It changes nothing.
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store.h"

namespace keeper {

/* A group whose bytes cannot be read or do not match its sha256. */
struct DamagedGroup {
	Group group;
	/* The number of its first record in its log. */
	std::uint64_t first_record = 0;
	std::string what;
};

/* What fsck found in one log. */
struct LogCheck {
	std::string path;
	std::uint64_t groups = 0;
	std::uint64_t records = 0;
	/* The log's journal does not check out: no group of it was read. */
	std::string refused;
	std::vector<DamagedGroup> damaged;
};

/*
 * Checks every log of @store_dir. The store's transaction lock is held
 * only while the journals are read: the groups they commit never change.
 */
std::vector<LogCheck> check_store(const std::string &store_dir);

} // namespace keeper
