// SPDX-License-Identifier: GPL-2.0
#include "logs.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <stdexcept>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel_files.h"
#include "pcr_fit.h"
#include "ima/records.h"
#include "ima/sys.h"

using ima::Bytes;

namespace keeper {

namespace {

constexpr const char *kLogsDirName = "logs";
constexpr const char *kLockFileName = "lock";
/* A log being created: renamed to its number once its journal names its boot. */
constexpr const char *kNewLogPrefix = ".new-";
constexpr const char *kBootIdFile = "/proc/sys/kernel/random/boot_id";

std::string logs_dir(const std::string &root)
{
	return root + "/" + kLogsDirName;
}

std::string log_name(std::uint64_t number)
{
	char name[32];

	std::snprintf(name, sizeof(name), "%06llu", static_cast<unsigned long long>(number));
	return name;
}

std::optional<std::uint64_t> log_number(const std::string &name)
{
	if (name.size() < 6 || name.size() > 19 ||
	    name.find_first_not_of("0123456789") != std::string::npos)
		return std::nullopt;
	return std::stoull(name);
}

void remove_tree(const std::string &path)
{
	for (const std::string &name : ima::list_directory(path))
		if (::unlink((path + "/" + name).c_str()) && errno != ENOENT)
			ima::throw_errno("remove " + path + "/" + name);
	if (::rmdir(path.c_str()) && errno != ENOENT)
		ima::throw_errno("remove " + path);
}

const char *const kSingleLogFiles[] = {kDataFileName, kJournalFileName};

bool has_single_log_layout(const std::string &root)
{
	for (const char *name : kSingleLogFiles)
		if (ima::path_exists(root + "/" + name))
			return true;
	return false;
}

/* The first record of the kernel's lists, as a cold boot begins them. */
bool kernel_lists_begin_with_boot_aggregate()
{
	std::vector<ima::Record> records = ima::parse_sha1_list(read_kernel_lists());

	if (records.empty())
		return false;
	try {
		return ima::event_name(records.front()) == "boot_aggregate";
	} catch (const ima::ParseError &) {
		return false;
	}
}

/*
 * Whether the boot continues @log (a kexec soft reboot carried its
 * records): PCR 10 is the log followed by the kernel's lists (with or
 * without its pending group), not the kernel's lists alone. Sets @note
 * when PCR 10 matches neither.
 */
bool boot_continues(const Store &log, std::string &note)
{
	std::optional<ima::HashAlgo> bank = decision_bank();

	if (!bank)
		return !kernel_lists_begin_with_boot_aggregate();
	std::vector<ima::PcrReplay> candidates(1, ima::PcrReplay(*bank));
	for (ima::PcrReplay &candidate : log_candidates(log, *bank))
		candidates.push_back(std::move(candidate));
	std::optional<std::size_t> matching = candidate_matching_pcr(candidates, *bank);
	if (!matching)
		note = "PCR 10 (" + std::string(ima::hash_name(*bank)) + ") matches neither the " +
		       "kernel's lists alone nor the log " + log.dir() + " followed by them: " +
		       "records were lost (the kernel's log says why); this boot starts a new " +
		       "log, whose full log will not verify";
	return matching.value_or(0) != 0;
}

void rename_no_replace(const std::string &from, const std::string &to)
{
	if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0)
		return;
	if (errno == EEXIST)
		throw StoreCorrupted("store corrupted: both " + from + " and " + to + " exist; " +
				     "nothing was changed (the keeper cannot tell which one is the store's)");
	ima::throw_errno("move " + from + " to " + to);
}

} // namespace

std::string current_boot_id()
{
	std::string text = ima::read_text_file(kBootIdFile);

	while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
		text.pop_back();
	boot_id_bytes(text);
	return text;
}

std::vector<LogDir> list_logs(const std::string &root)
{
	std::vector<LogDir> logs;

	if (!ima::path_exists(logs_dir(root)))
		return logs;
	for (const std::string &name : ima::list_directory(logs_dir(root)))
		if (std::optional<std::uint64_t> number = log_number(name))
			logs.push_back({*number, logs_dir(root) + "/" + name});
	std::sort(logs.begin(), logs.end(),
		  [](const LogDir &a, const LogDir &b) { return a.number < b.number; });
	return logs;
}

void refuse_single_log_layout(const std::string &root)
{
	if (has_single_log_layout(root))
		throw KeeperError("the store " + root + " has the single-log layout of an older "
				  "ima-keeper: start the keeper (ima-keeper run) once to convert it");
}

std::vector<std::string> prepare_store_root(const std::string &root)
{
	std::vector<std::string> done;

	if (!ima::path_exists(logs_dir(root))) {
		make_private_dir(root);
		make_private_dir(logs_dir(root));
		sync_dir(root);
		sync_dir(root + "/..");
	}
	for (const std::string &name : ima::list_directory(logs_dir(root))) {
		if (name.rfind(kNewLogPrefix, 0) != 0)
			continue;
		remove_tree(logs_dir(root) + "/" + name);
		done.push_back("removed the log " + name + " whose creation was interrupted");
	}
	if (!has_single_log_layout(root))
		return done;
	/* Each file on its own, so that an interrupted conversion goes on. */
	std::string first = logs_dir(root) + "/" + log_name(1);
	std::vector<LogDir> logs = list_logs(root);
	if (!logs.empty() && logs.back().path != first)
		throw StoreCorrupted("store corrupted: " + root + " has both the single-log layout " +
				     "and logs; nothing was changed (the keeper cannot tell which one is the "
				     "store's)");
	make_private_dir(first);
	for (const char *name : kSingleLogFiles) {
		std::string from = root + "/" + name;

		if (ima::path_exists(from))
			rename_no_replace(from, first + "/" + name);
	}
	sync_dir(first);
	sync_dir(logs_dir(root));
	sync_dir(root);
	done.push_back("moved the log of the single-log layout to " + first);
	return done;
}

LogDir create_log(const std::string &root, const std::optional<LogDir> &last,
		  const std::string &boot_id)
{
	std::uint64_t number = last ? last->number + 1 : 1;
	std::string path = logs_dir(root) + "/" + log_name(number);
	std::string draft = logs_dir(root) + "/" + kNewLogPrefix + log_name(number);

	Store(draft, Store::Mode::write).append_boot(boot_id);
	if (::rename(draft.c_str(), path.c_str()))
		ima::throw_errno("rename " + draft + " to " + path);
	sync_dir(logs_dir(root));
	return {number, path};
}

CurrentLog find_current_log(const std::vector<LogDir> &logs, const std::string &boot_id)
{
	if (logs.empty())
		return {};
	Store last(logs.back().path, Store::Mode::read);
	if (last.spans_boot(boot_id))
		return {logs.back(), false, ""};
	/* A log that holds no record was never continued: a new one is as good. */
	if (last.groups().empty())
		return {};
	std::string note;
	if (!boot_continues(last, note))
		return {std::nullopt, false, note};
	return {logs.back(), true, ""};
}

std::vector<ima::PcrReplay> log_candidates(const Store &log, ima::HashAlgo bank)
{
	std::vector<ima::PcrReplay> candidates;
	std::size_t groups = log.groups().size();

	if (log.pending_group())
		candidates.push_back(log.replay_after(groups - 1, bank));
	candidates.push_back(log.replay_after(groups, bank));
	return candidates;
}

PendingDecision::PendingDecision(const Store &log) : bank_(decision_bank())
{
	std::optional<Group> pending = log.pending_group();

	if (!pending)
		throw std::logic_error("no pending group in " + log.dir());
	group_ = *pending;
	if (bank_)
		candidates_ = log_candidates(log, *bank_);
}

bool PendingDecision::is_group(ima::ByteView bytes) const
{
	return bytes.size() == group_.length &&
	       ima::hash(ima::HashAlgo::sha256, bytes) == group_.sha256;
}

PendingFate PendingDecision::decide(const Bytes &kernel) const
{
	bool begins_with_group = kernel.size() >= group_.length &&
				 is_group(ima::ByteView(kernel).first(group_.length));

	if (bank_) {
		std::string bank(ima::hash_name(*bank_));

		if (std::optional<std::size_t> matching = candidate_matching_pcr(candidates_, *bank_))
			return {*matching == 1, "by PCR 10 (" + bank + ")"};
		return {!begins_with_group, "by the bytes at the head of the kernel's list: PCR 10 (" +
						    bank + ") matches the log neither with the group "
						    "nor without it (records were lost)"};
	}
	return {!begins_with_group, "by the bytes at the head of the kernel's list (no TPM)"};
}

std::string transaction_lock_path(const std::string &root)
{
	return root;
}

std::string keeper_lock_path(const std::string &root)
{
	return root + "/" + kLockFileName;
}

} // namespace keeper
