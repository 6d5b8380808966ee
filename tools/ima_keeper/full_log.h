/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The full log of a boot: the records of its log in the store (logs.h)
 * followed, for the current boot, by the kernel's staged and current lists,
 * as if nothing had ever been deleted.
 *
 * Reading it costs the journal and the kernel's lists, which the keeper
 * keeps short; records are served group by group (the journal knows each
 * group's offset and number of records), so a reader holds one group at a
 * time, and reaches any record by reading one group from the checkpoint
 * before it (checkpoints.h).
 */
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ima/bytes.h"
#include "ima/records.h"
#include "logs.h"
#include "store.h"

namespace keeper {

/* Receives the output in pieces. */
using Sink = std::function<void(ima::ByteView)>;

class FullLog {
public:
	FullLog() = default;
	FullLog(std::optional<Store> store, ima::Bytes kernel, bool without_pending);

	std::uint64_t stored_records() const { return stored_records_; }
	std::uint64_t kernel_records() const { return kernel_records_; }
	std::uint64_t records() const { return stored_records_ + kernel_records_; }
	/* Bytes of the binary sha1 list. */
	std::uint64_t binary_size() const { return stored_bytes() + kernel_.size(); }
	std::uint64_t stored_bytes() const;

	/* The groups that are part of the log, and the kernel's lists after them. */
	const std::vector<Group> &groups() const { return groups_; }
	ima::Bytes read_group(const Group &group) const { return store_->read_group(group); }
	const ima::Bytes &kernel() const { return kernel_; }

	/*
	 * Records @from.. in the binary or ascii format; throws KeeperError if
	 * @from is past the end.
	 */
	void write_binary_from(std::uint64_t from, const Sink &out) const;
	void write_ascii_from(std::uint64_t from, const Sink &out) const;
	/* Calls @each with every piece of the binary sha1 list, in order. */
	void for_each_piece(const Sink &each) const;

private:
	/*
	 * Calls @visit with each sha1 list (a group, then the kernel's) that
	 * holds records @from.., and the number of its records before them.
	 */
	using Visitor = std::function<void(ima::ByteView list, std::uint64_t skip)>;
	void visit_from(std::uint64_t from, const Visitor &visit) const;

	std::optional<Store> store_;
	std::vector<Group> groups_;
	/* The number of the first record of each group. */
	std::vector<std::uint64_t> first_record_;
	ima::Bytes kernel_;
	std::uint64_t stored_records_ = 0;
	std::uint64_t kernel_records_ = 0;
};

/*
 * The current boot's full log: a group the kernel still holds (a save
 * interrupted before the kernel deleted it) is counted once. A missing
 * store counts as empty.
 *
 * The store's transaction lock is held shared only while the log is taken
 * (the journal's groups and the kernel's lists, read together so that no
 * keeper moves records between them), never while it is read or written
 * out: the groups it serves are committed, or deleted from the kernel and
 * so never taken back, and their bytes never change. A stalled reader
 * ("ima-keeper log | less", an agent that keeps the view's files open)
 * never holds up the keeper.
 */
FullLog read_full_log(const std::string &store_dir);

/*
 * The full log of the boot @boot_id: the current boot's, or the records of
 * an older boot's log, taken under the transaction lock as above. Throws
 * KeeperError if no log spans that boot.
 */
FullLog read_boot_log(const std::string &store_dir, const std::string &boot_id);

/* Records @from.. of @log, in the binary or ascii format. */
ima::Bytes log_from_binary(const FullLog &log, std::uint64_t from);
std::string log_from_ascii(const FullLog &log, std::uint64_t from);

/*
 * The store's transaction lock, shared, as readers take it; empty if there
 * is no store. Refuses (KeeperError) the single-log layout of older keepers.
 */
std::optional<StoreLock> lock_for_reading(const std::string &store_dir);

/* One log of the store, for "ima-keeper boots". */
struct LogSummary {
	std::string path;
	std::vector<std::string> boots;
	std::uint64_t groups = 0;
	std::uint64_t records = 0;
};
/*
 * The store's logs, and what they hold, read under the transaction lock,
 * which the caller releases (reset()) before it prints them.
 */
struct StoreLogs {
	std::vector<LogDir> dirs;
	std::vector<LogSummary> logs;
	std::optional<StoreLock> lock;
};
StoreLogs summarize_logs(const std::string &store_dir);

/* What verify found for one TPM bank. */
struct BankVerdict {
	std::string bank;
	bool matches = false;
	ima::Bytes replayed;
	ima::Bytes pcr;
};

struct Verification {
	std::uint64_t stored_records = 0;
	std::uint64_t kernel_records = 0;
	std::vector<BankVerdict> banks;

	bool matches() const;
};

/*
 * Replays the full log against PCR 10 of every TPM bank the keeper can
 * compute (sha1, sha256), checking every group's sha256 on the way. A
 * mismatch is read again a few times: records measured while the log and
 * the PCRs are read make them differ for a moment.
 */
Verification verify_full_log(const std::string &store_dir);

} // namespace keeper
