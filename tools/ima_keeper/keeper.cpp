// SPDX-License-Identifier: GPL-2.0
#include "keeper.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <sys/stat.h>

#include "fault.h"
#include "kernel_files.h"
#include "notify.h"
#include "pcr_fit.h"
#include "ima/ima_fs.h"
#include "ima/records.h"

using ima::Bytes;

namespace keeper {

namespace {

/* Records per group when adopting a list. */
constexpr std::size_t kAdoptedGroupRecords = 10000;
/* The longest wait between saves while other processes hold the files. */
constexpr unsigned kMaxBusyWaitMs = 60000;

void say(const std::string &message)
{
	std::fprintf(stderr, "ima-keeper: %s\n", message.c_str());
}

void say_store_notes(Store &store)
{
	for (const std::string &note : store.take_notes())
		say("store: " + note);
}

/* Says what the store noted when the scope ends, by an exception too. */
class StoreNotes {
public:
	explicit StoreNotes(std::optional<Store> &store) : store_(store) {}
	StoreNotes(const StoreNotes &) = delete;
	StoreNotes &operator=(const StoreNotes &) = delete;
	~StoreNotes()
	{
		if (store_)
			say_store_notes(*store_);
	}

private:
	std::optional<Store> &store_;
};

/*
 * With a TPM, @sha1_list followed by the kernel's lists must replay to PCR
 * 10: else it is not what this boot's kernel deleted.
 */
void require_list_before_kernel(const Bytes &sha1_list)
{
	std::optional<ima::HashAlgo> bank = decision_bank();

	if (!bank)
		return;
	std::vector<ima::PcrReplay> candidates(1, ima::PcrReplay(*bank));
	extend_with_list(candidates.front(), sha1_list, *bank);
	if (!candidate_matching_pcr(candidates, *bank))
		throw KeeperError("these records followed by the kernel's lists do not replay to "
				  "PCR 10 (" + std::string(ima::hash_name(*bank)) + "): they are not "
				  "the records this boot's kernel deleted (--unverified adopts them "
				  "anyway)");
}

/* "group N (R records, B bytes)", for the keeper's messages. */
std::string group_summary(const Group &group)
{
	return "group " + std::to_string(group.number) + " (" + std::to_string(group.records) +
	       " records, " + std::to_string(group.length) + " bytes)";
}

[[noreturn]] void request_failed(const std::string &request, int error)
{
	std::string what = "the kernel refused '" + request.substr(0, request.size() - 1) +
			   "': " + describe_errno(error);

	if (error == EACCES)
		throw KernelSuspended(what + ": a reboot or kexec began; nothing was saved");
	if (error == ESTALE)
		throw KernelSuspended(what + ": a reboot or kexec began; the records go to the "
					     "next kernel only on a kexec soft reboot, so the store "
					     "keeps its copy, and the next start sorts it out");
	if (error == EINVAL && request != "A\n" && request != "D\n")
		throw KeeperError(what + " (deleting N records is refused with "
					 "ima_flush_htable: use --flavor prompt)");
	throw KeeperError(what);
}

sigset_t keeper_signals()
{
	sigset_t set;

	sigemptyset(&set);
	for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1})
		sigaddset(&set, sig);
	return set;
}

} // namespace

/* Write opens of both request files, held across one transaction. */
struct Keeper::Writers {
	ima::UniqueFd staged = open_for_requests(staged_file());
	ima::UniqueFd original = open_for_requests(original_file());
};

Keeper::Keeper(std::string store_dir, Flavor flavor) : dir_(std::move(store_dir)), flavor_(flavor)
{
	require_staging();
	if (flavor_ == Flavor::n && kernel_flushes_htable())
		throw KeeperError("--flavor n: this kernel was booted with ima_flush_htable, which "
				  "refuses deleting N records; use --flavor prompt");
	take_system_lock();
	make_private_dir(dir_);
	keeper_lock_ = StoreLock::try_lock(keeper_lock_path(dir_), StoreLock::Kind::exclusive, true);
	if (!keeper_lock_)
		throw KeeperError("another keeper is running on the store " + dir_ + " (" +
				  keeper_lock_path(dir_) + " is locked): not starting a second one");
	{
		StoreLock lock(transaction_lock_path(dir_), StoreLock::Kind::exclusive);
		for (const std::string &done : prepare_store_root(dir_))
			say("store: " + done);
		open_current_log();
		if (std::optional<ima::HashAlgo> bank = decision_bank()) {
			store_->keep_replays(*bank);
			say_store_notes(*store_);
		}
	}
	/* Readers need not wait for it: only this keeper changes the store. */
	check_log_against_pcr();
}

/*
 * The current log followed by the kernel's lists replays to PCR 10 (with
 * or without a pending group, which the next transaction settles), or
 * records were deleted that the store does not hold, or it lost some: said
 * at every start, never a reason to stop saving what the kernel holds, so
 * that whatever keeps the check from being made is only said too.
 */
void Keeper::check_log_against_pcr()
{
	std::optional<ima::HashAlgo> bank = decision_bank();

	if (!bank)
		return;
	try {
		if (!candidate_matching_pcr(log_candidates(*store_, *bank), *bank))
			say("the log " + log_->path + " followed by the kernel's lists does not "
			    "replay to PCR 10 (" + std::string(ima::hash_name(*bank)) + "): the "
			    "kernel deleted records the store does not hold, or the store lost "
			    "some; saving goes on, and the full log will not verify (ima-keeper "
			    "verify)");
	} catch (const std::exception &error) {
		say("could not check the log " + log_->path + " against PCR 10 now: " +
		    error.what());
	}
}

void Keeper::take_system_lock()
{
	if (::mkdir(kSystemLockDir, 0755) && errno != EEXIST)
		ima::throw_errno("create " + std::string(kSystemLockDir));
	system_lock_ = StoreLock::try_lock(kSystemLockPath, StoreLock::Kind::exclusive, true);
	if (!system_lock_)
		throw KeeperError("another keeper is running on this system (" +
				  std::string(kSystemLockPath) + " is locked, open in " +
				  open_file_holders(kSystemLockPath) +
				  "): one keeper deletes a system's records, or a store would lack "
				  "what another deleted; not starting a second one");
}

/*
 * The current boot's log: the last one if it spans or continues this boot,
 * else a new one. A log a cold boot ended keeps its pending group: the
 * kernel that held those records is gone, the store has the only copy.
 */
void Keeper::open_current_log()
{
	std::string boot_id = current_boot_id();
	std::vector<LogDir> logs = list_logs(dir_);
	std::optional<LogDir> last = logs.empty() ? std::nullopt : std::optional(logs.back());

	/* Repairs first: a torn write is no evidence of anything. */
	if (last) {
		store_.emplace(last->path, Store::Mode::write);
		for (const std::string &repair : store_->repairs())
			say("store: removed " + repair + " left by an interrupted write in " +
			    last->path);
		say_store_notes(*store_);
	}
	CurrentLog current = find_current_log(logs, boot_id);
	if (current.log && current.continued) {
		store_->append_boot(boot_id);
		say("boot " + boot_id + " continues the log " + last->path +
		    " (a kexec soft reboot carried its records)");
	} else if (!current.log) {
		if (!current.note.empty())
			say(current.note);
		if (store_ && store_->pending_group()) {
			store_->mark_deleted();
			say("the log " + last->path + " ended with its boot: its last group, "
			    "saved but not deleted then, stays in it");
		}
		store_.reset();
		current.log = create_log(dir_, last, boot_id);
		store_.emplace(current.log->path, Store::Mode::write);
		say_store_notes(*store_);
		say("boot " + boot_id + " starts the log " + current.log->path);
	}
	log_ = current.log;
}

std::uint64_t Keeper::transaction(bool save_current)
{
	/*
	 * Readers hold the lock only while they take a snapshot (full_log.h).
	 * One that stalls there (stopped, say) must not keep run() from
	 * handling signals: it does not wait, and tries again later. A
	 * one-shot command waits, and can be interrupted.
	 */
	std::optional<StoreLock> lock;
	if (waits_for_readers_)
		lock.emplace(transaction_lock_path(dir_), StoreLock::Kind::exclusive);
	else
		lock = StoreLock::try_lock(transaction_lock_path(dir_), StoreLock::Kind::exclusive);
	if (!lock)
		throw StoreBusy("readers hold the store's lock (" + dir_ + " open in " +
				open_file_holders(dir_) + ")");
	StoreNotes notes(store_);
	/* PCR 10 before and after the pending group: not while the files are held. */
	std::optional<PendingDecision> pending;
	if (store_->pending_group())
		pending.emplace(*store_);
	Writers writers;
	std::uint64_t saved = reconcile(writers, pending);

	if (!save_current)
		return saved;
	if (flavor_ == Flavor::prompt)
		return saved + save_staged_list(writers);
	return saved + save_current_list(writers);
}

std::uint64_t Keeper::save()
{
	return transaction(true);
}

void Keeper::reconcile_now()
{
	transaction(false);
}

std::uint64_t Keeper::adopt(const Bytes &sha1_list, bool check_pcr)
{
	StoreLock lock(transaction_lock_path(dir_), StoreLock::Kind::exclusive);
	StoreNotes notes(store_);
	std::vector<std::size_t> bounds = ima::sha1_record_bounds(sha1_list);
	std::uint64_t records = bounds.size() - 1;
	std::uint64_t done = store_->records();

	/* An adoption interrupted after some groups goes on where it stopped. */
	if (done && (done > records || bounds[done] != store_->data_end() ||
		     !ima::starts_with(sha1_list, store_->read_all_data())))
		throw KeeperError("the log " + log_->path + " has records already, and they do not "
				  "begin the list: only an empty log adopts records");
	if (records == 0 || done == records)
		return 0;
	if (ima::starts_with(read_kernel_lists(), sha1_list))
		throw KeeperError("the kernel still holds these records: save them instead");
	if (check_pcr)
		require_list_before_kernel(sha1_list);
	/*
	 * Groups of the usual size: reading a record reads one group at most.
	 * Every group is checked before any is stored.
	 */
	std::vector<std::pair<ima::ByteView, std::uint64_t>> parts;
	for (std::size_t first = done; first < records; first += kAdoptedGroupRecords) {
		std::size_t end = std::min<std::size_t>(records, first + kAdoptedGroupRecords);
		ima::ByteView part =
			ima::ByteView(sha1_list).subspan(bounds[first], bounds[end] - bounds[first]);

		ima::parse_sha1_list(part);
		parts.emplace_back(part, end - first);
	}
	for (const auto &[part, part_records] : parts) {
		store_->append_group(part, part_records, Flavor::prompt);
		store_->mark_deleted();
	}
	say("adopted " + std::to_string(records - done) + " records as " +
	    std::to_string(parts.size()) + " groups");
	return records - done;
}

/*
 * What an interrupted transaction can leave, and what to do:
 *  - a pending group whose records are staged: D was not written; roll the
 *    group back and save the staged records again (the store's copy may
 *    not be on disk: a failed fsync);
 *  - another pending group: @decision (PCR 10, logs.h) tells whether the
 *    kernel deleted it. If not (a crash before N, or ESTALE and a kexec),
 *    roll it back: the records are saved again from the kernel; if so,
 *    record that;
 *  - records staged and not saved (a crash after A): save them, D.
 */
std::uint64_t Keeper::reconcile(Writers &writers, const std::optional<PendingDecision> &decision)
{
	Bytes staged = read_kernel_list(true);
	Bytes current = read_kernel_list(false);

	if (std::optional<Group> pending = store_->pending_group()) {
		Bytes kernel = staged;

		ima::append(kernel, current);
		/*
		 * Only this keeper stages, and it stages nothing while a group
		 * is pending. The kernel still holds the group's records: they
		 * are saved again rather than trusting the store's copy, which
		 * a failed fsync may have left in the page cache only (a disk
		 * that failed one fsync may report the next one as done).
		 */
		if (!staged.empty() && decision->is_group(staged)) {
			store_->roll_back();
			say("reconcile: " + group_summary(*pending) +
			    " was saved but is still staged: saving it again");
		} else if (PendingFate fate = decision->decide(kernel); !fate.deleted) {
			store_->roll_back();
			say("reconcile: " + group_summary(*pending) +
			    " was saved but not deleted from the kernel (" + fate.how +
			    "): rolled it back");
		} else {
			store_->mark_deleted();
			say("reconcile: " + group_summary(*pending) +
			    " was deleted from the kernel (" + fate.how + "): recorded that");
		}
	}
	if (staged.empty())
		return 0;
	say("reconcile: saving " + std::to_string(ima::count_sha1_records(staged)) +
	    " records staged by an interrupted save");
	return commit_and_delete(writers.staged.get(), "D\n", staged, Flavor::prompt);
}

std::uint64_t Keeper::save_staged_list(Writers &writers)
{
	if (int error = send(writers.staged.get(), "A\n")) {
		if (error == ENOENT)
			return 0;
		request_failed("A\n", error);
	}
	crash_if_fault("staged");
	return commit_and_delete(writers.staged.get(), "D\n", read_kernel_list(true),
				 Flavor::prompt);
}

std::uint64_t Keeper::save_current_list(Writers &writers)
{
	Bytes current = read_kernel_list(false);
	std::uint64_t records = ima::count_sha1_records(current);

	if (records == 0)
		return 0;
	return commit_and_delete(writers.original.get(), std::to_string(records) + "\n", current,
				 Flavor::n);
}

std::uint64_t Keeper::commit_and_delete(int request_fd, const std::string &request,
					const Bytes &bytes, Flavor flavor)
{
	std::uint64_t records = ima::count_sha1_records(bytes);
	Group group = store_->append_group(bytes, records, flavor);

	crash_if_fault("committed");
	if (int error = fault_point_reached("estale") ? ESTALE : send(request_fd, request)) {
		/* ESTALE: the records may end with this boot; keep the saved copy. */
		if (error != ESTALE)
			store_->roll_back();
		request_failed(request, error);
	}
	crash_if_fault("deleted");
	store_->mark_deleted();
	say("saved " + group_summary(group) + " and deleted it from the kernel");
	return records;
}

bool Keeper::threshold_reached(const Thresholds &thresholds) const
{
	if (thresholds.records && ima::read_measurement_count() >= thresholds.records)
		return true;
	return thresholds.bytes && read_kernel_list(false).size() >= thresholds.bytes;
}

void Keeper::run(const Thresholds &thresholds)
{
	sigset_t signals = keeper_signals();
	bool reconciled = false;
	bool save_requested = false;
	/* While the files are busy: waits doubling up to kMaxBusyWaitMs. */
	unsigned busy_wait_ms = 0;

	/* What may be over by the next look: waits doubling, as long as it lasts. */
	auto back_off = [&](const std::exception &e) {
		busy_wait_ms = busy_wait_ms ? std::min(2 * busy_wait_ms, kMaxBusyWaitMs)
					    : thresholds.interval_ms;
		std::string status = std::string(e.what()) + "; trying again in " +
				     std::to_string(busy_wait_ms) + " ms";
		say(status);
		/*
		 * Ready all the same if the first reconciliation has to wait (a
		 * process holding the measurement files can make it wait for
		 * good): the view decides a pending group by PCR 10 itself, and a
		 * start that never ends would hold up the boot and have the
		 * service restarted over and over. The status says why.
		 */
		notify_service_manager((reconciled ? "" : "READY=1\n") + std::string("STATUS=") +
				       status);
	};

	sigprocmask(SIG_BLOCK, &signals, nullptr);
	waits_for_readers_ = false;
	for (;;) {
		try {
			if (!reconciled) {
				reconcile_now();
				reconciled = true;
				std::string status = "keeping " + dir_ + " (" +
						     std::to_string(store_->records()) +
						     " records saved)";
				say(status);
				/* Ready: the store and the kernel's lists agree. */
				notify_service_manager("READY=1\nSTATUS=" + status);
			}
			if (save_requested || threshold_reached(thresholds))
				save();
			save_requested = false;
			busy_wait_ms = 0;
		} catch (const KernelBusy &e) {
			back_off(e);
		} catch (const PcrUndecided &e) {
			back_off(e);
		} catch (const StoreBusy &e) {
			back_off(e);
		} catch (const StoreFull &e) {
			say(std::string(e.what()) + "; trying again");
		}
		unsigned wait_ms = busy_wait_ms ? busy_wait_ms : thresholds.interval_ms;
		timespec timeout{static_cast<time_t>(wait_ms / 1000),
				 static_cast<long>(wait_ms % 1000) * 1000000L};
		int sig = sigtimedwait(&signals, nullptr, &timeout);
		if (sig == SIGUSR1) {
			save_requested = true;
		} else if (sig == SIGHUP) {
			say("SIGHUP: nothing to reload, going on");
		} else if (sig > 0) {
			say("stopping (signal " + std::to_string(sig) + ")");
			notify_service_manager("STOPPING=1");
			return;
		}
	}
}

} // namespace keeper
