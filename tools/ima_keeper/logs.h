/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The keeper's store directory: one log per cold boot.
 *
 *	DIR/logs/000001/	a log (store.h): the records of one boot and
 *	DIR/logs/000002/	of the kexec soft reboots that continued it
 *	...
 *	DIR/lock		held (flock) by the keeper that runs on DIR
 *
 * PCR 10 starts from zero on a cold boot (a reboot, a power cut) and the
 * kernel's list with it; on a kexec soft reboot the TPM keeps its PCRs and
 * the records travel to the next kernel, so the same log goes on. The
 * current boot's log is the last one if its journal names the boot
 * (/proc/sys/kernel/random/boot_id), or if the boot continues it: the log
 * followed by the kernel's lists replays to PCR 10 (pcr_fit.h), and the
 * kernel's lists alone do not. Otherwise the boot starts a new log, and the
 * old ones stay as they are, readable, never mixed into it; so does a boot
 * whose PCR 10 matches neither (records were lost), which is said. Without
 * a TPM, a boot whose lists begin with a boot aggregate starts a new log:
 * a kexec that carried no record is then taken for a cold boot.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pcr_fit.h"
#include "store.h"

namespace keeper {

struct LogDir {
	std::uint64_t number = 0;
	std::string path;
};

/* The boot running now. */
std::string current_boot_id();

/* The logs of the store directory @root, oldest first. */
std::vector<LogDir> list_logs(const std::string &root);

/*
 * Refuses (KeeperError) a store written by an older keeper, with one log
 * at the top of @root, for a reader: "ima-keeper run" converts it.
 */
void refuse_single_log_layout(const std::string &root);

/*
 * For a keeper about to write @root: creates it, moves a single log of an
 * older keeper into logs/000001, removes a log whose creation a crash
 * interrupted. Returns what it did, for the keeper's messages.
 */
std::vector<std::string> prepare_store_root(const std::string &root);

/* Creates the log after @last (or the first) for @boot_id; made durable. */
LogDir create_log(const std::string &root, const std::optional<LogDir> &last,
		  const std::string &boot_id);

/* What the current boot's log is. */
struct CurrentLog {
	/* Empty: the boot has no log yet, and starts a new one. */
	std::optional<LogDir> log;
	/* The log's journal does not name the boot yet: a kexec continued it. */
	bool continued = false;
	/* How the boot was found to start a new log, if that is worth saying. */
	std::string note;
};

/* Finds the current boot's log among @logs (see above). Throws PcrUndecided. */
CurrentLog find_current_log(const std::vector<LogDir> &logs, const std::string &boot_id);

/*
 * Whether the kernel deleted the records of a log's pending group (a save
 * was interrupted between its commit and the journal entry that says what
 * became of it): the log with the group, followed by the kernel's staged
 * and current lists, replays to PCR 10, or the log without it. Without a
 * TPM, or when PCR 10 matches neither (records were lost), it is whether
 * the lists do not begin with the group's bytes, which identical records
 * can fool; @how says which.
 */
struct PendingFate {
	bool deleted = false;
	std::string how;
};

class PendingDecision {
public:
	/*
	 * PCR 10 before and after the pending group, from the replays file
	 * (replays.h); replays groups only where it has no slot. The group
	 * itself is never read: the kernel's bytes are checked against its
	 * length and sha256 in the journal, so that a group whose pages a
	 * failed fsync lost is still settled.
	 */
	explicit PendingDecision(const Store &log);

	/* @kernel: the kernel's lists (read_kernel_lists()). Throws PcrUndecided. */
	PendingFate decide(const ima::Bytes &kernel) const;
	/* Whether @bytes are the pending group's, by its length and sha256. */
	bool is_group(ima::ByteView bytes) const;

private:
	Group group_;
	std::optional<ima::HashAlgo> bank_;
	std::vector<ima::PcrReplay> candidates_;
};

/*
 * What PCR 10 may hold before the kernel's lists, in @bank: the log without
 * its pending group if it has one, then the whole log (Store::replay_after()).
 */
std::vector<ima::PcrReplay> log_candidates(const Store &log, ima::HashAlgo bank);

/* The lock every reader holds shared, and the keeper exclusive while it moves records. */
std::string transaction_lock_path(const std::string &root);
/* The lock a keeper holds as long as it runs: one keeper per store. */
std::string keeper_lock_path(const std::string &root);

} // namespace keeper
