// SPDX-License-Identifier: GPL-2.0
/*
 * ima-keeper: keeps every IMA measurement record since boot while the
 * kernel's list stays small. See usage() (ima-keeper --help).
 */
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <getopt.h>
#include <string>
#include <string_view>
#include <system_error>
#include <unistd.h>
#include <vector>

#include "fsck.h"
#include "full_log.h"
#include "fuse_view.h"
#include "keeper.h"
#include "logs.h"
#include "kernel_files.h"
#include "ima/bytes.h"
#include "ima/sys.h"
#include "store.h"

using namespace keeper;

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
/* The store does not check out: restarting does not help (systemd unit). */
constexpr int kExitStoreCorrupted = 3;
/* The disk failed an fsync: nothing was deleted; a restart settles the group. */
constexpr int kExitNotDurable = 4;
/* --interval-ms at most: an hour. */
constexpr std::uint64_t kMaxIntervalMs = 3600000;

#ifdef IMA_KEEPER_FAULT_INJECTION
const char kUsageFaultInjection[] = R"(ENVIRONMENT
       IMA_KEEPER_FAULT=POINT
              This is a test build (make FAULT_INJECTION=1), which is never
              installed: kill the keeper (SIGKILL) at POINT of a save
              (staged, begun, torn-data, data-written, checkpoints-written,
              torn-journal, committed, deleted; rolled-back in a rollback),
              fail with ENOSPC where the journal records a deletion
              (full-after-delete), fail the fsync of a group's saved entry
              with EIO (fsync-journal), or take ESTALE for the kernel's
              answer to D or N (estale).

)";
#else
const char kUsageFaultInjection[] = "";
#endif

const char kUsage[] = R"(NAME
       ima-keeper - keep every IMA measurement record while the kernel's list stays small

SYNOPSIS
       ima-keeper [--store DIR] run [--flavor prompt|n] [--max-records N]
                                    [--max-bytes N] [--interval-ms MS]
       ima-keeper [--store DIR] save [--flavor prompt|n]
       ima-keeper [--store DIR] reconcile
       ima-keeper [--store DIR] log [--from K] [--format binary|ascii] [--boot ID]
       ima-keeper [--store DIR] count
       ima-keeper [--store DIR] boots
       ima-keeper [--store DIR] verify
       ima-keeper [--store DIR] fsck
       ima-keeper [--store DIR] mount MOUNTPOINT
       ima-keeper [--store DIR] adopt [--unverified] FILE
       ima-keeper --help

DESCRIPTION
       IMA keeps its measurement list in kernel memory. On a kernel with
       measurement staging (CONFIG_IMA_STAGING, see
       Documentation/security/IMA-export-delete.rst) ima-keeper moves the
       records into a store on disk and deletes them from the kernel, and
       serves the full log since boot - the store followed by the kernel's
       list - from any record on, as if nothing had been deleted. The full
       log replays to TPM PCR 10.

       A save is one transaction: with the measurement files held open for
       writing (no other process can open them meanwhile), the records are
       read, appended to the store as one checksummed group, made durable
       (fsync of the file, the journal and the directory), and only then
       deleted from the kernel. Whatever point the keeper is killed at, the
       next start reconciles the store with the kernel's lists: it finishes
       the deletion or rolls the group back, so that no record is lost and
       none is saved twice. With a TPM, every start also checks that the
       current log followed by the kernel's lists replays to PCR 10, and
       says so if it does not: records were deleted that no store holds,
       or the store lost some. Saving goes on.

COMMANDS
       run    Save whenever the kernel's current list reaches --max-records
              records or --max-bytes bytes, and on SIGUSR1; stop on SIGTERM
              or SIGINT, between saves (SIGHUP is ignored). Only one keeper
              runs per store. While other processes hold the measurement
              files (EBUSY), or a reader holds the store's lock (readers
              hold it only to take a snapshot, never while they print), it
              names them (pid and command) and tries again, waiting twice
              as long each time, up to a minute, and stops on SIGTERM
              meanwhile. The unit ima-keeper.service runs it on
              /var/lib/ima-keeper.

       save   One save now: every record of the kernel's current list.

       reconcile
              Only finish or roll back what an interrupted save left.

       log    Print records K.. of the full log (K = 0 is the first record
              since boot) in the binary format of
              binary_runtime_measurements, or the ascii format of
              ascii_runtime_measurements. With --boot, the log of that boot:
              an older boot's saved records, which the current boot's log
              never includes.

       count  Print the number of records in the full log.

       boots  List the store's logs, one per cold boot: their boots
              (boot_id; a kexec soft reboot continues its log), groups and
              records, and which one is the current boot's.

       verify Replay the full log against PCR 10 of the TPM's sha1 and
              sha256 banks; say per bank whether it matches, with the record
              count. Exit status 1 on a mismatch.

       fsck   Read every group of every log and say which ones cannot be
              read or do not match their sha256, and what each covers (its
              records and bytes); change nothing. Exit status 3 if one
              does. A damaged group is refused only to whoever reads it:
              the keeper goes on saving, and the view serves every other
              byte (a read of the damaged group's range fails with EIO).

       mount  Serve the full log with FUSE under MOUNTPOINT as
              binary_runtime_measurements, ascii_runtime_measurements and
              runtime_measurements_count, until unmounted (umount
              MOUNTPOINT) or SIGTERM (SIGHUP is ignored). Runs in the
              foreground. A mount that a view which died left on
              MOUNTPOINT is detached first, and MOUNTPOINT is created if
              missing. The unit ima-keeper-view.service serves it under
              /run/ima-keeper/view.

       adopt  Start the current boot's empty log with FILE: records moved
              out of the kernel before the keeper took over, as a binary sha1
              list (the concatenation of what was read from the _staged files
              before D, or of the N oldest records before N), stored in
              groups of 10000 records. Records the kernel still holds are
              refused; with a TPM, so is a FILE that, followed by the
              kernel's lists, does not replay to PCR 10 (not the records
              this boot's kernel deleted). An interrupted adoption goes on
              where it stopped.

OPTIONS
       --store DIR
              The store (default /var/lib/ima-keeper).

       --flavor prompt|n
              prompt (default): write A to the _staged file, save the staged
              records, write D. n: save the current list and write its number
              of records (refused by a kernel booted with ima_flush_htable).

       --max-records N
              Save when the current list has N records (default 10000; 0: no
              record limit).

       --max-bytes N
              Save when the binary sha1 list has N bytes (default: no limit).

       --interval-ms MS
              Look at the kernel's list every MS milliseconds (default 1000,
              at most 3600000).

       --from K
              First record to print (default 0).

       --format binary|ascii
              Output format of log (default binary).

       --unverified
              adopt: skip the PCR 10 check (records from elsewhere, such as
              made-up records for a benchmark; the full log then does not
              verify).

       --boot ID
              The boot whose log to print (a boot_id, as ima-keeper boots
              and /proc/sys/kernel/random/boot_id show it; default: this
              boot).

STORE
       DIR/logs/NNNNNN/
              One log per cold boot (numbered from 000001). A boot's log is
              the last one if the boot began it or a kexec soft reboot
              carried its records on (the log followed by the kernel's list
              replays to PCR 10, which the TPM keeps across kexec); any
              other boot (a reboot, a power cut) starts a new log.

       DIR/logs/NNNNNN/binary_runtime_measurements
              The log's saved records in order: a binary measurement list
              (sha1 template digests) that evmctl reads.

       DIR/logs/NNNNNN/journal
              One checksummed entry per group saved, deleted or rolled back,
              and per boot the log spans.

       DIR/logs/NNNNNN/sha256_checkpoints
              Where to resume each group's sha256 every 64 KiB, so that log
              --from K checks the part of a group it prints. Derived from
              the data: a damaged one is not trusted, and the keeper writes
              the current log's anew when it does not match; without one,
              groups are read whole.

       DIR/logs/NNNNNN/pcr10_replays
              PCR 10 after each group (with a TPM, in the bank decisions
              use), so that decisions by PCR 10 read no old group. Derived
              from the data, like the checkpoints: a slot that does not
              check out is replayed again from the groups.

       DIR/lock
              Held by the running keeper.

       A store that does not check out is never truncated silently: the
       keeper refuses it and names the group and the offset. Commands that
       read records check what they read against the journal's sha256 of
       each group (log, verify, mount; log --from K from the checkpoint
       before K); count reads only the journal, unless PCR 10 must settle
       a save's outcome or this boot's log first (see below), which
       replays the log once.

       A save interrupted between its commit and the journal entry that
       says what became of it is settled by PCR 10: the log with the
       group, or without it, followed by the kernel's list replays to it.
       Without a TPM, or if PCR 10 matches neither (records were lost), it
       is whether the kernel's list begins with the group's bytes, which
       identical records can fool. A question PCR 10 cannot settle yet
       (the list changes too fast) is asked again at the next look.

EXIT STATUS
       0      success; for run and mount, stopped by SIGTERM or SIGINT.

       1      failure, said on standard error: the kernel refused a
              request, the files are busy, no space left; for verify, the
              full log does not replay to PCR 10.

       2      bad usage.

       3      the store does not check out (it is refused, never changed;
              fsck says where): starting again does not help. For fsck: a
              group is damaged.

       4      the disk failed to make the store durable (fsync): a save
              whose fsync failed deletes nothing. The next start (the unit
              restarts) settles the last group: the kernel still holds
              its records (in the current list with N, staged with
              prompt), so the group is rolled back and saved again, never
              trusted as it reads back.

)";

const char kUsageExamples[] = R"(EXAMPLES
       ima-keeper run --max-records 5000 &
       ima-keeper log --from 1200 --format ascii
       ima-keeper verify
       mkdir -p /run/ima && ima-keeper mount /run/ima &
       evmctl ima_measurement /run/ima/binary_runtime_measurements
)";

class UsageError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

struct Options {
	std::string store = kDefaultStoreDir;
	std::string command;
	Flavor flavor = Flavor::prompt;
	Thresholds thresholds;
	std::uint64_t from = 0;
	bool ascii = false;
	std::string boot;
	std::string mountpoint;
	std::string adopt_file;
	bool adopt_unverified = false;
};

std::uint64_t parse_number(const std::string &option, const std::string &text)
{
	std::size_t used = 0;
	std::uint64_t value = 0;

	try {
		if (!text.empty() && text[0] != '-')
			value = std::stoull(text, &used);
	} catch (const std::logic_error &) {
		used = 0;
	}
	if (used == 0 || used != text.size())
		throw UsageError(option + " needs a number, not '" + text + "'");
	return value;
}

Flavor parse_flavor(const std::string &text)
{
	if (text == "prompt")
		return Flavor::prompt;
	if (text == "n" || text == "N")
		return Flavor::n;
	throw UsageError("--flavor is prompt or n, not '" + text + "'");
}

bool parse_format(const std::string &text)
{
	if (text == "binary")
		return false;
	if (text == "ascii")
		return true;
	throw UsageError("--format is binary or ascii, not '" + text + "'");
}

/* Long options only: getopt_long() returns these for them. */
enum OptionId : int {
	kOptStore = 256,
	kOptHelp,
	kOptFlavor,
	kOptMaxRecords,
	kOptMaxBytes,
	kOptIntervalMs,
	kOptFrom,
	kOptFormat,
	kOptBoot,
	kOptUnverified,
};

constexpr option kNoMoreOptions = {nullptr, 0, nullptr, 0};

/* The options each command takes (getopt_long() tables). */
std::vector<option> command_options(const std::string &command)
{
	std::vector<option> options;

	if (command == "run" || command == "save")
		options.push_back({"flavor", required_argument, nullptr, kOptFlavor});
	if (command == "run") {
		options.push_back({"max-records", required_argument, nullptr, kOptMaxRecords});
		options.push_back({"max-bytes", required_argument, nullptr, kOptMaxBytes});
		options.push_back({"interval-ms", required_argument, nullptr, kOptIntervalMs});
	}
	if (command == "log") {
		options.push_back({"from", required_argument, nullptr, kOptFrom});
		options.push_back({"format", required_argument, nullptr, kOptFormat});
		options.push_back({"boot", required_argument, nullptr, kOptBoot});
	}
	if (command == "adopt")
		options.push_back({"unverified", no_argument, nullptr, kOptUnverified});
	options.push_back(kNoMoreOptions);
	return options;
}

void apply_option(Options &options, int id, const std::string &value)
{
	switch (id) {
	case kOptFlavor:
		options.flavor = parse_flavor(value);
		break;
	case kOptMaxRecords:
		options.thresholds.records = parse_number("--max-records", value);
		break;
	case kOptMaxBytes:
		options.thresholds.bytes = parse_number("--max-bytes", value);
		break;
	case kOptIntervalMs:
		options.thresholds.interval_ms = static_cast<unsigned>(std::clamp<std::uint64_t>(
			parse_number("--interval-ms", value), 1, kMaxIntervalMs));
		break;
	case kOptFrom:
		options.from = parse_number("--from", value);
		break;
	case kOptFormat:
		options.ascii = parse_format(value);
		break;
	case kOptUnverified:
		options.adopt_unverified = true;
		break;
	case kOptBoot:
		try {
			options.boot = boot_id_text(boot_id_bytes(value));
		} catch (const std::invalid_argument &) {
			throw UsageError("--boot needs a boot_id, not '" + value + "'");
		}
		break;
	}
}

/*
 * getopt_long() over the @argc arguments of @argv from @start (argv[start]
 * is the program or the command), with its messages turned into
 * UsageError. Calls @apply for each option; returns the index of the first
 * argument that is not one.
 */
int parse_options(std::vector<char *> &argv, int argc, int start, const char *optstring,
		  const std::vector<option> &longopts, const std::string &where,
		  const std::function<void(int, const char *)> &apply)
{
	char **args = argv.data() + start;

	argc -= start;

	opterr = 0;
	optind = 0;	/* starts a new scan (GNU) */
	for (;;) {
		int longindex = -1;
		int id = getopt_long(argc, args, optstring, longopts.data(), &longindex);

		if (id == -1)
			return start + optind;
		std::string arg = optind > 0 && optind <= argc ? args[optind - 1] : "";
		if (id == ':')
			throw UsageError(arg + " needs a value");
		if (id == '?')
			throw UsageError("unknown option '" + arg + "' " + where);
		apply(id, optarg);
	}
}

Options parse_command_line(int argc, char **argv)
{
	Options options;
	std::vector<char *> args(argv, argv + argc);
	const std::vector<option> global = {
		{"store", required_argument, nullptr, kOptStore},
		{"help", no_argument, nullptr, kOptHelp},
		kNoMoreOptions,
	};

	args.push_back(nullptr);
	int at = parse_options(args, argc, 0, "+:", global, "before the command", [&](int id, const char *value) {
		if (id == kOptHelp)
			options.command = "help";
		else if (!*value)
			throw UsageError("--store needs a directory");
		else
			options.store = value;
	});
	if (options.command == "help")
		return options;
	if (at >= argc)
		throw UsageError("no command");
	options.command = args[at];
	if (options.command == "help")
		return options;

	std::vector<option> longopts = command_options(options.command);
	int rest = parse_options(args, argc, at, ":", longopts, "for '" + options.command + "'",
				 [&](int id, const char *value) {
					 apply_option(options, id, value ? value : "");
				 });
	std::vector<std::string> operands(args.begin() + rest, args.begin() + argc);
	std::string *operand = options.command == "mount"   ? &options.mountpoint
			       : options.command == "adopt" ? &options.adopt_file
							    : nullptr;
	if (operand && !operands.empty()) {
		*operand = operands.front();
		operands.erase(operands.begin());
	}
	if (!operands.empty())
		throw UsageError("'" + options.command + "' takes no argument '" + operands.front() + "'");
	if (options.command == "mount" && options.mountpoint.empty())
		throw UsageError("mount needs a MOUNTPOINT");
	if (options.command == "adopt" && options.adopt_file.empty())
		throw UsageError("adopt needs a FILE");
	return options;
}

void write_stdout(ima::ByteView bytes)
{
	ima::write_all(STDOUT_FILENO, bytes);
}

int print_log(const Options &options)
{
	FullLog log = options.boot.empty() ? read_full_log(options.store)
					   : read_boot_log(options.store, options.boot);

	if (options.ascii)
		log.write_ascii_from(options.from, write_stdout);
	else
		log.write_binary_from(options.from, write_stdout);
	return 0;
}

int print_boots(const Options &options)
{
	std::string current_boot = current_boot_id();
	std::optional<std::string> current_log;
	std::string undecided;
	StoreLogs store = summarize_logs(options.store);
	const std::vector<LogSummary> &logs = store.logs;

	try {
		if (!logs.empty()) {
			CurrentLog current = find_current_log(store.dirs, current_boot);

			if (current.log)
				current_log = current.log->path;
		}
	} catch (const PcrUndecided &e) {
		undecided = e.what();
	}
	/* What the store held is taken: print it without holding up a keeper. */
	store.lock.reset();
	for (const LogSummary &log : logs) {
		bool current = current_log == log.path;

		std::printf("%s: %llu records in %llu groups%s\n", log.path.c_str(),
			    static_cast<unsigned long long>(log.records),
			    static_cast<unsigned long long>(log.groups),
			    current ? ", the current boot's log" : "");
		if (log.boots.empty())
			std::printf("\tboot unknown (converted from the single-log layout)\n");
		for (const std::string &boot : log.boots)
			std::printf("\tboot %s%s\n", boot.c_str(),
				    boot == current_boot ? " (current)" : "");
		if (current && (log.boots.empty() || log.boots.back() != current_boot))
			std::printf("\tboot %s (current, not recorded yet)\n", current_boot.c_str());
	}
	if (!undecided.empty())
		std::printf("the current boot %s: its log is undecided: %s\n", current_boot.c_str(),
			    undecided.c_str());
	else if (!current_log)
		std::printf("the current boot %s has no saved records\n", current_boot.c_str());
	return 0;
}

int print_count(const Options &options)
{
	FullLog log = read_full_log(options.store);

	std::printf("%llu\n", static_cast<unsigned long long>(log.records()));
	return 0;
}

int verify(const Options &options)
{
	Verification result = verify_full_log(options.store);

	for (const BankVerdict &bank : result.banks) {
		if (bank.matches)
			std::printf("PCR 10 %s: matches the full log\n", bank.bank.c_str());
		else
			std::printf("PCR 10 %s: DOES NOT MATCH: the full log replays to %s, the TPM has %s\n",
				    bank.bank.c_str(), ima::to_hex(bank.replayed).c_str(),
				    ima::to_hex(bank.pcr).c_str());
	}
	std::printf("%s: %llu records (%llu from the store, %llu in the kernel)\n",
		    result.matches() ? "verified" : "NOT VERIFIED",
		    static_cast<unsigned long long>(result.stored_records + result.kernel_records),
		    static_cast<unsigned long long>(result.stored_records),
		    static_cast<unsigned long long>(result.kernel_records));
	return result.matches() ? 0 : kExitFailure;
}

void print_damaged_group(const LogCheck &log, const DamagedGroup &damaged)
{
	const Group &group = damaged.group;

	std::printf("%s: group %llu (%llu records from record %llu of the log, bytes %llu to %llu"
		    " of %s/%s) is damaged: %s\n",
		    log.path.c_str(), static_cast<unsigned long long>(group.number),
		    static_cast<unsigned long long>(group.records),
		    static_cast<unsigned long long>(damaged.first_record),
		    static_cast<unsigned long long>(group.offset),
		    static_cast<unsigned long long>(group.offset + group.length), log.path.c_str(),
		    kDataFileName, damaged.what.c_str());
}

int fsck(const Options &options)
{
	bool sound = true;

	for (const LogCheck &log : check_store(options.store)) {
		if (!log.refused.empty()) {
			std::printf("%s: %s\n", log.path.c_str(), log.refused.c_str());
			sound = false;
			continue;
		}
		for (const DamagedGroup &damaged : log.damaged)
			print_damaged_group(log, damaged);
		sound = sound && log.damaged.empty();
		std::printf("%s: %llu groups, %llu records, %zu damaged\n", log.path.c_str(),
			    static_cast<unsigned long long>(log.groups),
			    static_cast<unsigned long long>(log.records), log.damaged.size());
	}
	return sound ? 0 : kExitStoreCorrupted;
}

int run_command(const Options &options)
{
	const std::string &command = options.command;

	if (command == "help") {
		std::fputs(kUsage, stdout);
		std::fputs(kUsageFaultInjection, stdout);
		std::fputs(kUsageExamples, stdout);
		return 0;
	}
	if (command == "run") {
		Keeper(options.store, options.flavor).run(options.thresholds);
		return 0;
	}
	if (command == "save") {
		std::uint64_t saved = Keeper(options.store, options.flavor).save();
		std::printf("saved %llu records\n", static_cast<unsigned long long>(saved));
		return 0;
	}
	if (command == "reconcile") {
		Keeper(options.store, options.flavor).reconcile_now();
		return 0;
	}
	if (command == "adopt") {
		ima::Bytes list = ima::read_file(options.adopt_file);
		/* A file that is not a list is refused before the store is touched. */
		ima::count_sha1_records(list);
		std::uint64_t adopted =
			Keeper(options.store, options.flavor).adopt(list, !options.adopt_unverified);
		std::printf("adopted %llu records\n", static_cast<unsigned long long>(adopted));
		return 0;
	}
	if (command == "log")
		return print_log(options);
	if (command == "count")
		return print_count(options);
	if (command == "boots")
		return print_boots(options);
	if (command == "verify")
		return verify(options);
	if (command == "fsck")
		return fsck(options);
	if (command == "mount")
		return serve_fuse_view(options.store, options.mountpoint);
	throw UsageError("unknown command '" + command + "'");
}

} // namespace

int main(int argc, char **argv)
{
	try {
		return run_command(parse_command_line(argc, argv));
	} catch (const UsageError &e) {
		std::fprintf(stderr, "ima-keeper: %s (ima-keeper --help tells more)\n", e.what());
		return kExitUsage;
	} catch (const StoreCorrupted &e) {
		std::fflush(stdout);
		std::fprintf(stderr, "ima-keeper: %s\n", e.what());
		return kExitStoreCorrupted;
	} catch (const StoreNotDurable &e) {
		std::fflush(stdout);
		std::fprintf(stderr,
			     "ima-keeper: %s: the store may not be on disk as written; the next "
			     "start settles its last group by PCR 10 (written again if the kernel "
			     "still holds its records, as it does after a failed fsync)\n",
			     e.what());
		return kExitNotDurable;
	} catch (const std::exception &e) {
		std::fflush(stdout);
		std::fprintf(stderr, "ima-keeper: %s\n", e.what());
		return kExitFailure;
	}
}
