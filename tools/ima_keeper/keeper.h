/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The keeper: moves records from the kernel to the store, one transaction
 * at a time, and never loses or duplicates one whatever point it is killed
 * at.
 *
 * A transaction holds the store's transaction lock and a write open of the
 * measurement files (so no other process opens them) from the first read
 * to the last request:
 *
 *  1. reconcile: finish or roll back what an interrupted transaction left
 *     (see reconcile());
 *  2. prompt flavor: write A to binary_runtime_measurements_sha1_staged and
 *     read the staged list; N flavor: read the current list;
 *  3. append the records to the store as one group and make it durable
 *     (data, journal entry, directory: each fsync'ed);
 *  4. tell the kernel to delete them: D, or the number of records read;
 *  5. record in the journal that the kernel deleted them.
 *
 * If the request in step 4 fails, the group is rolled back: the kernel
 * still has the records. With ESTALE it is not: the machine is going down,
 * and the records go to the next kernel only on a kexec soft reboot; the
 * group stays pending, and the next start decides by PCR 10 (logs.h).
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "logs.h"
#include "store.h"

namespace keeper {

/* Readers hold the store's transaction lock: try again later. */
class StoreBusy : public KeeperError {
public:
	using KeeperError::KeeperError;
};

struct Thresholds {
	/* Save when the kernel's current list has this many records... */
	std::uint64_t records = 10000;
	/* ...or this many bytes in the binary sha1 list (0: no limit). */
	std::uint64_t bytes = 0;
	/* How often to look, in milliseconds. */
	unsigned int interval_ms = 1000;
};

class Keeper {
public:
	/*
	 * Takes the store in @store_dir for this process (refuses with
	 * KeeperError if another keeper holds it), checks the kernel and
	 * the store, repairs a torn write, and finds or starts the current
	 * boot's log (logs.h).
	 */
	Keeper(std::string store_dir, Flavor flavor);

	/*
	 * One transaction: reconcile, then save every record of the current
	 * list and delete it from the kernel. Returns the records saved
	 * (reconciliation included).
	 */
	std::uint64_t save();

	/* One transaction that only reconciles. */
	void reconcile_now();

	/*
	 * Takes @sha1_list, records moved out of the kernel before the keeper
	 * took over, as the first groups (of 10000 records) of the current
	 * boot's empty log; an adoption that was interrupted goes on. Refuses
	 * records the kernel still holds, a list that does not parse and,
	 * with @check_pcr and a TPM, a list that, followed by the kernel's
	 * lists, does not replay to PCR 10. Returns the records adopted.
	 */
	std::uint64_t adopt(const ima::Bytes &sha1_list, bool check_pcr);

	/*
	 * Runs until SIGTERM or SIGINT: reconciles, then saves whenever the
	 * kernel's list reaches a threshold, or on SIGUSR1. Measurement files
	 * held by another process, or a full disk, are tried again at the
	 * next look.
	 */
	void run(const Thresholds &thresholds);

private:
	struct Writers;

	void take_system_lock();
	void open_current_log();
	void check_log_against_pcr();
	std::uint64_t transaction(bool save_current);
	std::uint64_t reconcile(Writers &writers, const std::optional<PendingDecision> &decision);
	std::uint64_t save_staged_list(Writers &writers);
	std::uint64_t save_current_list(Writers &writers);
	std::uint64_t commit_and_delete(int request_fd, const std::string &request,
					const ima::Bytes &bytes, Flavor flavor);
	bool threshold_reached(const Thresholds &thresholds) const;

	std::string dir_;
	Flavor flavor_;
	std::optional<StoreLock> keeper_lock_;
	/* One keeper per system deletes records, whatever its store (kSystemLockPath). */
	std::optional<StoreLock> system_lock_;
	/* Whether a save waits for readers to let the store's lock go (not in run()). */
	bool waits_for_readers_ = true;
	std::optional<LogDir> log_;
	std::optional<Store> store_;
};

/* The store directory used when none is given. */
inline constexpr const char *kDefaultStoreDir = "/var/lib/ima-keeper";

/*
 * Held by the keeper that may delete records from the kernel, whatever its
 * store: a second keeper on another store would keep the records it
 * deletes from the first one's full log.
 */
inline constexpr const char *kSystemLockDir = "/run/lock";
inline constexpr const char *kSystemLockPath = "/run/lock/ima-keeper.lock";

} // namespace keeper
