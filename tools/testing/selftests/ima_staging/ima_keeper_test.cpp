// SPDX-License-Identifier: GPL-2.0
/*
 * ima-keeper (tools/ima_keeper), run as a program the way a system runs it:
 * saves with both flavors, thresholds, the full log from any record, count,
 * verify, the FUSE view, one keeper per store, a crash at every point of a
 * save (with identical records too), a torn last write, a corrupted store,
 * a full disk, and a keeper without CAP_SYS_ADMIN.
 *
 * Every check of the full log compares it with a model of the list IMA
 * would show had nothing been deleted (lib/keeper.h) and replays it to PCR
 * 10. The tests share one store on a tmpfs of their own and run in order;
 * each starts by measuring files, so that it has records to move.
 *
 * Needs a kernel with CONFIG_IMA_STAGING (and CONFIG_FUSE_FS for the view),
 * a TPM, the measuring policy on /measure, ima-keeper in $PATH, and nothing
 * deleted from the list before the program starts.
 *
 * With --no-tpm the boot must have no TPM (the keeper-notpm suite): the
 * full log is then checked against the model only, there being no PCR to
 * replay it to, and the keeper settles interrupted saves by bytes.
 */
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <functional>
#include <poll.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <utility>

#include "ktap.h"
#include "lib/agent.h"
#include "lib/kernel.h"
#include "lib/ima.h"
#include "lib/keeper.h"
#include "lib/options.h"
#include "lib/require.h"
#include "lib/staging.h"

using namespace ima;
using namespace std::chrono_literals;

namespace {

const std::string kStoreMount = "/tmp/keeper";
const std::string kStore = kStoreMount + "/store";
/* The log of this boot: every test runs in one boot. */
const std::string kLog = kStore + "/logs/000001";
const std::string kStoreData = kLog + "/binary_runtime_measurements";
const std::string kStoreJournal = kLog + "/journal";
const std::string kStoreCheckpoints = kLog + "/sha256_checkpoints";
const std::string kStoreReplays = kLog + "/pcr10_replays";
const std::string kViewDir = "/tmp/keeper-view";
const std::string kFiller = kStoreMount + "/filler";
constexpr std::size_t kJournalEntry = 96;
/* The checkpoints file (tools/ima_keeper/checkpoints.h). */
constexpr std::size_t kCheckpointInterval = 65536;
constexpr std::size_t kCheckpointsHeader = 16;
constexpr std::size_t kCheckpointSlot = 64;
constexpr std::size_t kReplaysHeader = 16;
constexpr std::size_t kReplaySlot = 80;
/* ima-keeper's exit status for a store that does not check out. */
constexpr int kStoreCorruptedExit = 3;
constexpr int kNotDurableExit = 4;

const std::vector<std::string> kFaultPoints = {
	"staged",	"begun",     "torn-data", "data-written", "checkpoints-written",
	"torn-journal", "committed", "deleted",
};

LogModel &model()
{
	static LogModel model;

	return model;
}

/* The store on a tmpfs of its own (the disk-full test fills it) and the model. */
void set_up()
{
	require_staging();
	if (!command_exists(std::string(kKeeperProgram)))
		ktap::skip("no " + std::string(kKeeperProgram) + " in $PATH");
	if (!path_exists(kStoreMount)) {
		if (::mkdir(kStoreMount.c_str(), 0700))
			throw_errno("mkdir " + kStoreMount);
		if (::mount("tmpfs", kStoreMount.c_str(), "tmpfs", 0, "size=16m"))
			throw_errno("mount a tmpfs on " + kStoreMount);
	}
	if (!model().started())
		model().start();
}

std::vector<std::string> flavors()
{
	if (booted_with_flush_htable())
		return {"prompt"};
	return {"prompt", "n"};
}

void add_files(std::map<std::string, Bytes> &files, const std::string &dir,
	       const std::string &prefix)
{
	for (const std::string &name : list_directory(dir)) {
		struct stat st;

		if (::stat((dir + "/" + name).c_str(), &st))
			throw_errno("stat " + dir + "/" + name);
		if (S_ISDIR(st.st_mode))
			add_files(files, dir + "/" + name, prefix + name + "/");
		else
			files[prefix + name] = read_file(dir + "/" + name);
	}
}

/* The files of the store, to show that a failed command changed nothing. */
std::map<std::string, Bytes> store_files()
{
	std::map<std::string, Bytes> files;

	if (path_exists(kStore))
		add_files(files, kStore, "");
	return files;
}

/* The kernel's records, staged then current: a failed save deletes none. */
Bytes kernel_records()
{
	Bytes records = read_binary_list_bytes("sha1", true);

	append(records, read_binary_list_bytes("sha1"));
	return records;
}

/* A file no kernel measured, numbered @number. */
std::string made_up_name(std::size_t number)
{
	return "/made-up/file-" + std::to_string(number);
}

/* @count records of made-up files, as a binary sha1 list. */
Bytes made_up_list(std::size_t count)
{
	Bytes list;

	for (std::size_t i = 0; i < count; i++) {
		std::string name = made_up_name(i);

		append_binary_record(list, make_ima_ng_record({"sha256", hash(HashAlgo::sha256,
									     as_bytes(name)),
							       name},
							      HashAlgo::sha1));
	}
	return list;
}

/* Replays @sha1_list for every bank the library computes; problems or "". */
std::string replay_problems(const Bytes &sha1_list)
{
	std::vector<Record> records = parse_binary_list(sha1_list, 20);
	std::string problems;

	for (const std::string &bank : replayable_banks()) {
		HashAlgo algo = *hash_algo_from_name(bank);
		PcrReplay replay(algo);

		for (const Record &record : records)
			replay.extend(algo == HashAlgo::sha1 ? record : with_template_digest(record, algo));
		if (replay.value() != read_tpm_pcr(bank, kImaPcr))
			problems += bank + ": the full log does not replay to PCR 10; ";
	}
	return problems;
}

/* The committed groups of the current log, as "ima-keeper boots" counts them. */
std::size_t groups_in_current_log()
{
	const std::string boots = run_keeper(kStore, {"boots"}).out_text();
	const std::size_t line = boots.find(kLog + ": ");
	const std::size_t in = boots.find(" records in ", line);

	if (line == std::string::npos || in == std::string::npos)
		throw std::runtime_error("ima-keeper boots does not count the groups of " + kLog +
					 ": " + boots);
	return std::stoul(boots.substr(in + std::string_view(" records in ").size()));
}

/*
 * What is wrong with the replays file after a keeper completed a save that
 * emptied the kernel's list, or "": a slot for each group of the current
 * log, in the bank decisions use (sha256 when the TPM has it), the last one
 * what the TPM's PCR 10 holds.
 */
std::string replays_problems()
{
	const std::string bank = path_exists("/sys/class/tpm/tpm0/pcr-sha256") ? "sha256" : "sha1";
	const Bytes replays = read_file(kStoreReplays);
	const std::size_t groups = groups_in_current_log();
	const Bytes pcr = read_tpm_pcr(bank, 10);
	const std::size_t value_at = replays.size() - kReplaySlot + 40;

	if (read_measurement_count() != 0)
		return "the kernel's list is not empty: PCR 10 holds more than the store; ";
	if (replays.size() != kReplaysHeader + groups * kReplaySlot || groups == 0)
		return std::to_string(replays.size()) + " bytes of " + kStoreReplays + " for " +
		       std::to_string(groups) + " groups; ";
	if (std::string(replays.begin() + 8, replays.begin() + 8 + bank.size()) != bank)
		return kStoreReplays + " is not in the " + bank + " bank; ";
	if (Bytes(replays.begin() + static_cast<std::ptrdiff_t>(value_at),
		  replays.begin() + static_cast<std::ptrdiff_t>(value_at + pcr.size())) != pcr)
		return "the last slot of " + kStoreReplays + " is not PCR 10 (" + bank + "); ";
	return "";
}

/*
 * "ima-keeper log" (all records, binary and ascii) checked against the model
 * and, with a TPM, PCR 10.
 */
void expect_full_log_is_the_model()
{
	KeeperRun log = run_keeper(kStore, {"log"});
	KeeperRun ascii = run_keeper(kStore, {"log", "--format", "ascii"});

	ASSERT_EQ(log.exit_code, 0);
	ASSERT_EQ(ascii.exit_code, 0);
	EXPECT_EQ(model().check(log.out, ascii.out_text()), "");
	if (!no_tpm_expected())
		EXPECT_EQ(replay_problems(log.out), "");
}

/* After a save: nothing in the kernel but records measured since. */
void expect_kernel_emptied()
{
	EXPECT_EQ(read_binary_list_bytes("sha1", true).size(), 0u);
	EXPECT_EQ(read_measurement_count(), 0ul);
}

KeeperRun save(const std::string &flavor, const KeeperEnv &env = {})
{
	return run_keeper(kStore, {"save", "--flavor", flavor}, env);
}

bool contains(const std::string &text, std::string_view part)
{
	return text.find(part) != std::string::npos;
}


/* The size of the current sha1 list; huge while a keeper holds the files. */
std::size_t current_list_size()
{
	OpenResult list = try_open(ima_path(list_file_name(ListFormat::binary, "sha1")), O_RDONLY);

	if (list.error == EBUSY)
		return SIZE_MAX;
	if (list.error)
		throw std::system_error(list.error, std::generic_category(), "open the sha1 list");
	return read_all(list.fd.get()).size();
}

void flip_byte(const std::string &path, off_t offset)
{
	UniqueFd fd = open_or_throw(path, O_RDWR);
	std::uint8_t byte;

	if (::pread(fd.get(), &byte, 1, offset) != 1)
		throw_errno("pread " + path);
	byte ^= 0x5a;
	if (::pwrite(fd.get(), &byte, 1, offset) != 1)
		throw_errno("pwrite " + path);
}

/* Fills the store's file system; returns how many bytes it took. */
std::size_t fill_store_disk()
{
	UniqueFd fd = open_or_throw(kFiller, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	std::vector<char> chunk(4096, 'x');
	std::size_t total = 0;

	for (;;) {
		ssize_t written = ::write(fd.get(), chunk.data(), chunk.size());

		if (written <= 0)
			break;
		total += static_cast<std::size_t>(written);
	}
	if (errno != ENOSPC)
		throw_errno("filling " + kFiller);
	return total;
}

} // namespace

KTAP_TEST(help_and_bad_usage_change_nothing)
{
	set_up();
	model().measure(2);
	KeeperRun help = run_keeper(kStore, {"--help"});
	EXPECT_EQ(help.exit_code, 0);
	for (std::string_view part : {"NAME", "SYNOPSIS", "DESCRIPTION", " run ", " save ",
				      " log ", " count", " verify", " mount ", "EXIT STATUS"})
		EXPECT_TRUE(contains(help.out_text(), part));

	const std::vector<std::vector<std::string>> bad_usages = {
		{}, {"bogus"}, {"save", "--flavor", "x"}, {"save", "--from", "1"},
		{"log", "--from", "-1"}, {"log", "--from", "1x"}, {"log", "--format", "hex"},
		{"run", "--max-records", "ten"}, {"mount"}, {"count", "extra"},
	};
	ListState lists = capture_lists();
	std::map<std::string, Bytes> files = store_files();
	for (const std::vector<std::string> &args : bad_usages) {
		ktap::ScopedContext context("ima-keeper " + command_line(args));
		KeeperRun run = run_keeper(kStore, args);

		EXPECT_EQ(run.exit_code, 2);
		EXPECT_TRUE(contains(run.err, "ima-keeper: "));
	}
	EXPECT_EQ(lists_changed_since(lists), "");
	EXPECT_TRUE(store_files() == files);
}

KTAP_TEST(save_moves_every_record_to_the_store)
{
	set_up();
	for (const std::string &flavor : flavors()) {
		ktap::ScopedContext context("--flavor " + flavor);

		model().measure(15);
		KeeperRun run = save(flavor);
		ASSERT_EQ(run.exit_code, 0);
		expect_kernel_emptied();
		expect_full_log_is_the_model();
		/* The store alone is the whole log now, a list evmctl validates. */
		EXPECT_TRUE(read_file(kStoreData) == model().log());
		for (const std::string &bank : replayable_banks()) {
			EvmctlResult evmctl = evmctl_validate(read_file(kStoreData), bank,
							      read_tpm_pcrs(bank));
			EXPECT_TRUE(evmctl.validated);
			if (!evmctl.validated)
				ktap::note(evmctl.command, ": ", evmctl.output);
		}
	}
	if (!booted_with_flush_htable())
		return;
	/* The kernel refuses N with ima_flush_htable: the keeper says so first. */
	model().measure(2);
	ListState lists = capture_lists();
	std::map<std::string, Bytes> files = store_files();
	KeeperRun refused = save("n");
	EXPECT_EQ(refused.exit_code, 1);
	EXPECT_TRUE(contains(refused.err, "ima_flush_htable"));
	EXPECT_EQ(lists_changed_since(lists), "");
	EXPECT_TRUE(store_files() == files);
}

KTAP_TEST(log_from_any_record_equals_the_never_deleted_list)
{
	set_up();
	model().measure(3);
	ASSERT_EQ(save("prompt").exit_code, 0);
	model().measure(6);
	expect_full_log_is_the_model();

	/* The model's bytes, as the kernel showed them before any save. */
	const Bytes &log = model().log();
	const std::string &ascii = model().ascii();
	const std::vector<std::size_t> bounds = sha1_record_bounds(log);
	const std::vector<std::size_t> lines = line_bounds(ascii);
	std::size_t total = bounds.size() - 1;
	ASSERT_EQ(lines.size(), bounds.size());
	for (std::size_t from : {std::size_t(0), std::size_t(1), total / 2, total - 7, total - 6,
				 total - 1, total}) {
		ktap::ScopedContext context("--from " + std::to_string(from));
		KeeperRun binary = run_keeper(kStore, {"log", "--from", std::to_string(from)});
		EXPECT_EQ(binary.exit_code, 0);
		EXPECT_TRUE(binary.out == Bytes(log.begin() + static_cast<std::ptrdiff_t>(bounds[from]),
						log.end()));
		KeeperRun text = run_keeper(kStore, {"log", "--from", std::to_string(from),
						     "--format", "ascii"});
		EXPECT_EQ(text.exit_code, 0);
		EXPECT_EQ(text.out_text(), ascii.substr(lines[from]));
	}
	/* The records still in the kernel print as the kernel prints them. */
	std::string kernel_ascii = read_text_file(ima_path(list_file_name(ListFormat::ascii, "sha1")));
	KeeperRun last = run_keeper(kStore, {"log", "--from", std::to_string(total - 6), "--format",
					     "ascii"});
	EXPECT_EQ(last.out_text(), kernel_ascii);

	KeeperRun count = run_keeper(kStore, {"count"});
	EXPECT_EQ(count.exit_code, 0);
	EXPECT_EQ(count.out_text(), std::to_string(total) + "\n");
	KeeperRun beyond = run_keeper(kStore, {"log", "--from", std::to_string(total + 1)});
	EXPECT_EQ(beyond.exit_code, 1);
	EXPECT_TRUE(contains(beyond.err, "only " + std::to_string(total) + " records"));
	EXPECT_TRUE(beyond.out.empty());
}

KTAP_TEST(verify_replays_the_full_log_to_pcr10)
{
	set_up();
	model().measure(4);
	ASSERT_EQ(save("prompt").exit_code, 0);
	model().measure(2);
	expect_full_log_is_the_model();

	KeeperRun verify = run_keeper(kStore, {"verify"});
	EXPECT_EQ(verify.exit_code, 0);
	EXPECT_TRUE(contains(verify.out_text(),
			     "verified: " + std::to_string(model().records().size()) + " records"));
	for (const std::string &bank : replayable_banks())
		EXPECT_TRUE(contains(verify.out_text(), "PCR 10 " + bank + ": matches"));

	/* Without the saved records, the kernel's list alone does not match. */
	TempDir empty("keeper_empty_store");
	KeeperRun partial = run_keeper(empty.path(), {"verify"});
	EXPECT_EQ(partial.exit_code, 1);
	EXPECT_TRUE(contains(partial.out_text(), "DOES NOT MATCH"));
	EXPECT_TRUE(contains(partial.out_text(), "NOT VERIFIED"));
}

KTAP_TEST(adopt_starts_an_empty_store_with_records_saved_before)
{
	set_up();
	model().measure(3);
	ASSERT_EQ(save("prompt").exit_code, 0);
	model().measure(2);
	expect_full_log_is_the_model();

	/* A second store taking over from the first one's records. */
	TempDir other("keeper_adopting_store");
	std::string store = other.file("store");
	KeeperRun adopt = run_keeper(store, {"adopt", kStoreData});
	EXPECT_EQ(adopt.exit_code, 0);
	EXPECT_TRUE(read_file(store + "/logs/000001/binary_runtime_measurements") ==
		    read_file(kStoreData));
	EXPECT_TRUE(run_keeper(store, {"log"}).out == model().log());
	EXPECT_EQ(run_keeper(store, {"verify"}).exit_code, 0);
	/* The same list again: there is nothing left to adopt. */
	KeeperRun again = run_keeper(store, {"adopt", kStoreData});
	EXPECT_EQ(again.exit_code, 0);
	EXPECT_EQ(again.out_text(), "adopted 0 records\n");
	EXPECT_TRUE(read_file(store + "/logs/000001/binary_runtime_measurements") ==
		    read_file(kStoreData));

	/*
	 * A store with other records, records this boot's kernel never
	 * deleted (PCR 10 says so), records still in the kernel, not a list.
	 */
	TempFile other_list("keeper_other_list");
	other_list.write(made_up_list(1));
	TempFile current("keeper_current");
	current.write(read_binary_list_bytes("sha1"));
	TempFile garbage("keeper_garbage");
	garbage.write(std::string_view("not a measurement list"));
	TempDir fresh("keeper_fresh_store");
	const std::vector<std::pair<std::string, std::string>> refusals = {
		{store, other_list.path()}, {fresh.file("store"), other_list.path()},
		{fresh.file("store"), current.path()}, {fresh.file("store"), garbage.path()},
	};
	for (const auto &[target, file] : refusals) {
		ktap::ScopedContext context("adopt " + file + " into " + target);
		ListState lists = capture_lists();
		const std::string target_data = target + "/logs/000001/binary_runtime_measurements";
		Bytes before = path_exists(target_data) ? read_file(target_data) : Bytes();
		KeeperRun refused = run_keeper(target, {"adopt", file});

		EXPECT_EQ(refused.exit_code, 1);
		ktap::note(refused.err.substr(0, refused.err.empty() ? 0 : refused.err.size() - 1));
		EXPECT_EQ(lists_changed_since(lists), "");
		EXPECT_TRUE((path_exists(target_data) ? read_file(target_data) : Bytes()) == before);
	}
}

/*
 * A long list is adopted in groups of 10000 records: a record is found by
 * reading one group. Made-up records, which no PCR holds: not verified.
 */
KTAP_TEST(adopt_stores_a_long_list_in_groups)
{
	set_up();
	TempDir other("keeper_adopting_long_list");
	std::string store = other.file("store");
	TempFile list("keeper_long_list");
	list.write(made_up_list(20001));

	/* Made up: PCR 10 refuses them, --unverified takes them. */
	KeeperRun refused = run_keeper(store, {"adopt", list.path()});
	EXPECT_EQ(refused.exit_code, 1);
	EXPECT_TRUE(contains(refused.err, "do not replay to PCR 10"));
	KeeperRun adopt = run_keeper(store, {"adopt", "--unverified", list.path()});
	EXPECT_EQ(adopt.exit_code, 0);
	EXPECT_TRUE(contains(adopt.err, "adopted 20001 records as 3 groups"));
	std::uint64_t kernel = parse_binary_list(kernel_records(), 20).size();
	EXPECT_EQ(run_keeper(store, {"count"}).out_text(), std::to_string(20001 + kernel) + "\n");
	for (std::size_t from : {0, 9999, 10000, 20000}) {
		ktap::ScopedContext context("--from " + std::to_string(from));
		std::vector<Record> served = parse_binary_list(
			run_keeper(store, {"log", "--from", std::to_string(from)}).out, 20);

		ASSERT_EQ(served.size(), 20001 - from + kernel);
		EXPECT_EQ(served.front().ima_ng->file_name, made_up_name(from));
	}
	EXPECT_TRUE(contains(run_keeper(store, {"boots"}).out_text(),
			     "20001 records in 3 groups, the current boot's log"));
	KeeperRun unknown = run_keeper(store, {"log", "--boot",
					       "00000000-0000-4000-8000-000000000000"});
	EXPECT_EQ(unknown.exit_code, 1);
	EXPECT_TRUE(contains(unknown.err, "no log of the boot 00000000-0000-4000-8000-000000000000"));
}

/* The records of @list that begin at or after each checkpoint of its first @records records. */
std::vector<std::size_t> records_at_checkpoints(ByteView list, std::size_t records)
{
	std::vector<std::size_t> bounds = sha1_record_bounds(list);
	std::vector<std::size_t> found;
	std::size_t record = 0;

	for (std::size_t at = kCheckpointInterval; at < bounds[records]; at += kCheckpointInterval) {
		while (bounds[record] < at)
			record++;
		found.push_back(record);
	}
	return found;
}

void store_le32(Bytes &bytes, std::size_t offset, std::uint32_t value)
{
	for (std::size_t i = 0; i < 4; i++)
		bytes[offset + i] = static_cast<std::uint8_t>(value >> (8 * i));
}

void store_le64(Bytes &bytes, std::size_t offset, std::uint64_t value)
{
	for (std::size_t i = 0; i < 8; i++)
		bytes[offset + i] = static_cast<std::uint8_t>(value >> (8 * i));
}

/*
 * Changes the checkpoint slot at @offset of @path with @change and gives it
 * a checksum that checks out: a slot that is wrong, not damaged.
 */
void rewrite_slot(const std::string &path, std::size_t offset,
		  const std::function<void(Bytes &)> &change)
{
	constexpr std::size_t kChecksumOffset = 56;
	Bytes file = read_file(path);
	Bytes slot(file.begin() + static_cast<std::ptrdiff_t>(offset),
		   file.begin() + static_cast<std::ptrdiff_t>(offset + kCheckpointSlot));

	change(slot);
	Bytes checksum = hash(HashAlgo::sha256, ByteView(slot).first(kChecksumOffset));
	std::copy(checksum.begin(), checksum.begin() + (kCheckpointSlot - kChecksumOffset),
		  slot.begin() + kChecksumOffset);
	std::copy(slot.begin(), slot.end(), file.begin() + static_cast<std::ptrdiff_t>(offset));
	write_file(path, file);
}

/* "log --from @from" of @store begins with @list from its record @from on. */
void expect_log_from(const std::string &store, ByteView list, std::size_t from)
{
	ktap::ScopedContext context("--from " + std::to_string(from));
	ByteView expected = list.subspan(sha1_record_bounds(list)[from]);
	KeeperRun log = run_keeper(store, {"log", "--from", std::to_string(from)});

	ASSERT_EQ(log.exit_code, 0);
	ASSERT_GE(log.out.size(), expected.size());
	EXPECT_TRUE(std::ranges::equal(ByteView(log.out).first(expected.size()), expected));
}

/*
 * log --from K reads the group that holds K from the checkpoint before K
 * and checks those bytes against the group's sha256: a damaged checkpoint
 * or a missing checkpoints file sends it back to the whole group, damaged
 * bytes it serves are refused, damaged bytes before the checkpoint are not
 * read (the first reader of those bytes refuses them).
 */
KTAP_TEST(log_from_k_checks_the_group_from_the_checkpoint_before_k)
{
	set_up();
	TempDir other("keeper_checkpoints");
	std::string store = other.file("store");
	std::string data = store + "/logs/000001/binary_runtime_measurements";
	std::string checkpoints = store + "/logs/000001/sha256_checkpoints";
	TempFile list_file("keeper_checkpoints_list");
	const Bytes list = made_up_list(20000);
	list_file.write(list);
	ASSERT_EQ(run_keeper(store, {"adopt", "--unverified", list_file.path()}).exit_code, 0);

	/* Two groups of 10,000 records, about 1 MB each. */
	const std::vector<std::size_t> bounds = sha1_record_bounds(list);
	const std::vector<std::size_t> first = records_at_checkpoints(list, 10000);
	const std::vector<std::size_t> second = records_at_checkpoints(
		ByteView(list).subspan(bounds[10000]), 10000);
	ASSERT_GE(first.size(), 10u);
	EXPECT_EQ(read_file(checkpoints).size(),
		  kCheckpointsHeader + (first.size() + second.size()) * kCheckpointSlot);

	std::size_t last = first.back();
	for (std::size_t from : {std::size_t(0), first[0] - 1, first[0], first[0] + 1, last - 1, last,
				 last + 1, std::size_t(9999), std::size_t(10000),
				 10000 + second.back(), std::size_t(19999)})
		expect_log_from(store, list, from);
	KeeperRun text = run_keeper(store, {"log", "--from", std::to_string(last + 1), "--format",
					    "ascii"});
	EXPECT_EQ(text.exit_code, 0);
	/* Line for line the ascii log from the start (the kernel never showed these records). */
	const std::string all = run_keeper(store, {"log", "--format", "ascii"}).out_text();
	const std::vector<std::size_t> all_lines = line_bounds(all);
	ASSERT_GT(all_lines.size(), last + 1);
	EXPECT_EQ(text.out_text(), all.substr(all_lines[last + 1]));

	const Bytes saved_checkpoints = read_file(checkpoints);
	std::size_t last_slot = kCheckpointsHeader + (first.size() - 1) * kCheckpointSlot;
	{
		ktap::ScopedContext context("a damaged checkpoint");
		flip_byte(checkpoints, static_cast<off_t>(last_slot + 30));
		expect_log_from(store, list, last + 1);
		write_file(checkpoints, saved_checkpoints);
	}
	/* Slots whose checksum checks out but whose content is wrong. */
	const std::vector<std::pair<std::string, std::function<void(Bytes &)>>> wrong_slots = {
		{"the next record named", [](Bytes &slot) { store_le32(slot, 12, load_le32(slot, 12) + 1); }},
		{"an offset 64 bytes on", [](Bytes &slot) { store_le64(slot, 16, load_le64(slot, 16) + 64); }},
		{"an offset 1 byte on", [](Bytes &slot) { store_le64(slot, 16, load_le64(slot, 16) + 1); }},
		{"another sha256 state", [](Bytes &slot) { slot[24] ^= 1; }},
	};
	for (const auto &[what, change] : wrong_slots) {
		ktap::ScopedContext context("a checkpoint with " + what);
		rewrite_slot(checkpoints, last_slot, change);
		expect_log_from(store, list, last + 1);
		write_file(checkpoints, saved_checkpoints);
	}
	{
		ktap::ScopedContext context("the last two checkpoints swapped");
		Bytes swapped = saved_checkpoints;
		auto slot = swapped.begin() + static_cast<std::ptrdiff_t>(last_slot);
		std::swap_ranges(slot - kCheckpointSlot, slot, slot);
		write_file(checkpoints, swapped);
		expect_log_from(store, list, last + 1);
		write_file(checkpoints, saved_checkpoints);
	}
	{
		ktap::ScopedContext context("no checkpoints file");
		if (::unlink(checkpoints.c_str()))
			throw_errno("unlink " + checkpoints);
		expect_log_from(store, list, last + 1);
		write_file(checkpoints, saved_checkpoints);
	}
	{
		ktap::ScopedContext context("a damaged byte served");
		off_t served = static_cast<off_t>(bounds[last] + 5);
		flip_byte(data, served);
		KeeperRun log = run_keeper(store, {"log", "--from", std::to_string(last)});
		EXPECT_EQ(log.exit_code, kStoreCorruptedExit);
		EXPECT_TRUE(contains(log.err, "group 0"));
		EXPECT_TRUE(contains(log.err, "sha256"));
		expect_log_from(store, list, 10000);
		flip_byte(data, served);
	}
	/* The checkpoint of record last resumes the sha256 at this block. */
	off_t block = static_cast<off_t>(bounds[last] / 64 * 64);
	{
		ktap::ScopedContext context("a damaged byte before the checkpoint's block");
		flip_byte(data, block - 1);
		expect_log_from(store, list, last);
		EXPECT_EQ(run_keeper(store, {"log", "--from", std::to_string(last - 1)}).exit_code,
			  kStoreCorruptedExit);
		EXPECT_EQ(run_keeper(store, {"log"}).exit_code, kStoreCorruptedExit);
		flip_byte(data, block - 1);
	}
	{
		ktap::ScopedContext context("a damaged byte in the checkpoint's block");
		flip_byte(data, block);
		EXPECT_EQ(run_keeper(store, {"log", "--from", std::to_string(last)}).exit_code,
			  kStoreCorruptedExit);
		flip_byte(data, block);
	}
	expect_log_from(store, list, 0);
}

/* The checkpoints file is the one a keeper writes anew from the data. */
void expect_checkpoints_as_written_anew()
{
	const Bytes kept = read_file(kStoreCheckpoints);

	if (::unlink(kStoreCheckpoints.c_str()))
		throw_errno("unlink " + kStoreCheckpoints);
	KeeperRun reconcile = run_keeper(kStore, {"reconcile"});
	EXPECT_EQ(reconcile.exit_code, 0);
	EXPECT_TRUE(contains(reconcile.err, "wrote " + kStoreCheckpoints + " anew from the data"));
	EXPECT_TRUE(read_file(kStoreCheckpoints) == kept);
}

/*
 * A keeper that opens the store to save makes the checkpoints file match
 * the data again: after a crash that left the slots of a group it did not
 * commit, after a keeper that did not write it (no file), and after slots
 * past the committed groups.
 */
KTAP_TEST(a_save_rebuilds_the_checkpoints_of_the_store)
{
	set_up();
	/* 1500 records of 88 bytes or more: a group with two checkpoints. */
	model().measure(1500);
	EXPECT_EQ(save("prompt", {.fault = "checkpoints-written", .without_cap_sys_admin = false})
			  .exit_code,
		  kKilledExit);
	KeeperRun next = save("prompt");
	ASSERT_EQ(next.exit_code, 0);
	EXPECT_TRUE(contains(next.err, "bytes of checkpoints past the committed groups"));
	const Bytes checkpoints = read_file(kStoreCheckpoints);
	ASSERT_GE(checkpoints.size(), kCheckpointsHeader + 2 * kCheckpointSlot);
	EXPECT_EQ((checkpoints.size() - kCheckpointsHeader) % kCheckpointSlot, 0u);
	expect_full_log_is_the_model();
	expect_checkpoints_as_written_anew();

	std::vector<Record> records = model().records();
	ASSERT_GE(records.size(), 1500u);
	std::size_t from = records.size() - 100;
	std::vector<Record> tail(records.begin() + static_cast<std::ptrdiff_t>(from), records.end());
	if (::unlink(kStoreCheckpoints.c_str()))
		throw_errno("unlink " + kStoreCheckpoints);
	KeeperRun log = run_keeper(kStore, {"log", "--from", std::to_string(from)});
	EXPECT_EQ(log.exit_code, 0);
	EXPECT_TRUE(log.out == serialize_binary_list(tail));

	model().measure(2);
	KeeperRun rebuilt = save("prompt");
	ASSERT_EQ(rebuilt.exit_code, 0);
	EXPECT_TRUE(contains(rebuilt.err, "anew from the data"));
	EXPECT_TRUE(read_file(kStoreCheckpoints) == checkpoints);

	Bytes stale = checkpoints;
	append(stale, Bytes(kCheckpointSlot, 0x77));
	write_file(kStoreCheckpoints, stale);
	expect_full_log_is_the_model();
	model().measure(2);
	KeeperRun trimmed = save("prompt");
	ASSERT_EQ(trimmed.exit_code, 0);
	EXPECT_TRUE(contains(trimmed.err, "64 bytes of checkpoints past the committed groups"));
	EXPECT_TRUE(read_file(kStoreCheckpoints) == checkpoints);
	expect_full_log_is_the_model();
}

KTAP_TEST(thresholds_and_sigusr1_trigger_saves)
{
	set_up();
	const std::size_t by_name_before = model().expected_by_name();
	for (const std::string &flavor : flavors()) {
		ktap::ScopedContext context("--flavor " + flavor);
		{
			BackgroundKeeper keeper(kStore, {"run", "--flavor", flavor, "--max-records",
							 "20", "--interval-ms", "100"});
			ASSERT_TRUE(keeper.wait_for_err("keeping", 30s));
			for (int i = 0; i < 6; i++) {
				model().measure_while_saving(10);
				std::this_thread::sleep_for(300ms);
			}
			EXPECT_TRUE(eventually([] { return read_measurement_count() < 20; }, 30s));
			EXPECT_EQ(keeper.stop(), 0);
			EXPECT_GE(count_of(keeper.err(), "saved group"), 2u);
			expect_full_log_is_the_model();
		}
		{
			BackgroundKeeper keeper(kStore, {"run", "--flavor", flavor, "--max-records",
							 "0", "--max-bytes", "3000", "--interval-ms",
							 "100"});
			ASSERT_TRUE(keeper.wait_for_err("keeping", 30s));
			model().measure_while_saving(40);
			EXPECT_TRUE(eventually([] { return current_list_size() < 3000; }, 30s));
			EXPECT_EQ(keeper.stop(), 0);
			EXPECT_GE(count_of(keeper.err(), "saved group"), 1u);
			expect_full_log_is_the_model();
		}
		{
			BackgroundKeeper keeper(kStore, {"run", "--flavor", flavor, "--max-records",
							 "0", "--interval-ms", "600000"});
			ASSERT_TRUE(keeper.wait_for_err("keeping", 30s));
			model().measure(5);
			std::this_thread::sleep_for(500ms);
			EXPECT_EQ(count_of(keeper.err(), "saved group"), 0u);
			keeper.signal(SIGUSR1);
			EXPECT_TRUE(keeper.wait_for_err("saved group", 30s));
			EXPECT_EQ(read_measurement_count(), 0ul);
			EXPECT_EQ(keeper.stop(), 0);
			expect_full_log_is_the_model();
		}
	}
	/*
	 * Of the 105 records of a flavor, those a keeper saved before they
	 * could be read are expected by name; the last 5, measured while no
	 * threshold could trigger a save, never are.
	 */
	const std::size_t by_name = model().expected_by_name() - by_name_before;
	ktap::note(by_name, " records a keeper saved before they could be read: expected by name");
	EXPECT_LE(by_name, flavors().size() * 100);
}

/*
 * Another process holding a measurement file blocks every save (EBUSY): the
 * keeper names it, and a running keeper tries again, waiting longer each
 * time, and saves once the file is closed.
 */
KTAP_TEST(busy_files_name_their_holders_and_the_keeper_retries)
{
	set_up();
	model().measure(3);
	Pipe release;
	ChildProcess holder = ChildProcess::fork_and_run([&release]() {
		release.write_end.reset();
		UniqueFd held = open_or_throw(ima_path("ascii_runtime_measurements"), O_RDONLY);
		std::uint8_t byte;

		/* Holds the file until the pipe closes. */
		return static_cast<int>(::read(release.read_end.get(), &byte, 1));
	});
	release.read_end.reset();
	const std::string named = "pid " + std::to_string(holder.pid()) + " (ima_keeper_test)";

	EXPECT_TRUE(eventually([&] {
		KeeperRun run = save("prompt");
		return run.exit_code == 1 && contains(run.err, named);
	}, 30s));
	KeeperRun blocked = save("prompt");
	EXPECT_EQ(blocked.exit_code, 1);
	EXPECT_TRUE(contains(blocked.err, named));
	ktap::note(blocked.err.substr(0, blocked.err.size() ? blocked.err.size() - 1 : 0));
	{
		BackgroundKeeper keeper(kStore, {"run", "--max-records", "1", "--interval-ms", "100"});
		EXPECT_TRUE(keeper.wait_for_err("trying again in 200 ms", 30s));
		EXPECT_TRUE(keeper.wait_for_err("trying again in 400 ms", 30s));
		/* SIGHUP does not end it. */
		keeper.signal(SIGHUP);
		EXPECT_TRUE(keeper.wait_for_err("SIGHUP: nothing to reload", 30s));
		release.write_end.reset();
		EXPECT_EQ(holder.wait(), 0);
		EXPECT_TRUE(keeper.wait_for_err("saved group", 60s));
		EXPECT_EQ(keeper.stop(), 0);
	}
	expect_kernel_emptied();
	expect_full_log_is_the_model();
}

/* The bytes waiting in the pipe read by @read_end. */
int pipe_queued(int read_end)
{
	int queued = 0;

	if (::ioctl(read_end, FIONREAD, &queued))
		throw_errno("FIONREAD");
	return queued;
}

/* The state letter of process @pid ("S" sleeping, "Z" exited, ...). */
std::string process_state(pid_t pid)
{
	std::string stat = read_text_file("/proc/" + std::to_string(pid) + "/stat");
	std::size_t end = stat.rfind(')');

	return end == std::string::npos || end + 2 >= stat.size() ? "?" : stat.substr(end + 2, 1);
}

/*
 * A reader that stalls never holds up the keeper: "ima-keeper log" writing
 * into a pipe nobody reads let the store's lock go once it took its
 * snapshot, so saves go on, and it prints that snapshot in the end. A
 * process that holds the lock (a reader stopped while it takes its
 * snapshot) is named, the keeper tries again, and SIGTERM still stops it.
 */
KTAP_TEST(a_stalled_reader_never_holds_up_saves_or_a_stop)
{
	set_up();
	/* More saved than a pipe holds, so that the reader blocks on it. */
	model().measure(1000);
	ASSERT_EQ(save("prompt").exit_code, 0);
	expect_full_log_is_the_model();
	const Bytes snapshot = model().log();
	Pipe out;
	/* One page, far less than the log: the reader blocks writing into it. */
	ASSERT_GT(::fcntl(out.write_end.get(), F_SETPIPE_SZ, 4096), 0);
	PreparedCommand log_command({std::string(kKeeperProgram), "--store", kStore, "log"});
	ChildProcess reader = ChildProcess::spawn(log_command, {out.write_end.get(), -1});
	out.write_end.reset();
	/* Stalled: it wrote, sleeps, and writes no more. */
	int queued = 0;
	bool stalled = eventually([&] {
		int before = queued;

		queued = pipe_queued(out.read_end.get());
		return queued > 0 && queued == before && process_state(reader.pid()) == "S";
	}, 30s);
	ktap::note("the stalled reader's pipe holds ", queued, " bytes of the ", snapshot.size(),
		   " it prints");
	ASSERT_TRUE(stalled);
	{
		BackgroundKeeper keeper(kStore, {"run", "--max-records", "0", "--interval-ms", "100"});
		ASSERT_TRUE(keeper.wait_for_err("keeping", 30s));
		model().measure(5);
		keeper.signal(SIGUSR1);
		EXPECT_TRUE(keeper.wait_for_err("saved group", 30s));
		keeper.signal(SIGTERM);
		EXPECT_TRUE(keeper.wait_for_err("stopping (signal", 10s));
	}
	EXPECT_EQ(read_all(out.read_end.get()), snapshot);
	EXPECT_EQ(reader.wait(), 0);
	expect_full_log_is_the_model();

	{
		BackgroundKeeper keeper(kStore, {"run", "--max-records", "0", "--interval-ms", "100"});
		ASSERT_TRUE(keeper.wait_for_err("keeping", 30s));
		Pipe held;
		Pipe release;
		ChildProcess holder = ChildProcess::fork_and_run([&held, &release]() {
			held.read_end.reset();
			release.write_end.reset();
			UniqueFd store = open_or_throw(kStore, O_RDONLY | O_DIRECTORY);
			std::uint8_t byte = 1;

			if (::flock(store.get(), LOCK_SH) || ::write(held.write_end.get(), &byte, 1) != 1)
				return 1;
			/* Holds the lock until the pipe closes. */
			return static_cast<int>(::read(release.read_end.get(), &byte, 1));
		});
		held.write_end.reset();
		release.read_end.reset();
		ASSERT_EQ(read_exact(held.read_end.get(), 1).size(), 1u);
		const std::string named = "pid " + std::to_string(holder.pid()) + " (ima_keeper_test)";

		model().measure(2);
		keeper.signal(SIGUSR1);
		EXPECT_TRUE(keeper.wait_for_err("trying again in 200 ms", 30s));
		EXPECT_TRUE(contains(keeper.err(), named));
		ktap::note(keeper.err().substr(0, keeper.err().size() - 1));
		keeper.signal(SIGTERM);
		EXPECT_TRUE(keeper.wait_for_err("stopping (signal", 10s));
		release.write_end.reset();
		EXPECT_EQ(holder.wait(), 0);
	}
	ASSERT_EQ(save("prompt").exit_code, 0);
	expect_kernel_emptied();
	expect_full_log_is_the_model();
}

KTAP_TEST(a_second_keeper_refuses_and_changes_nothing)
{
	set_up();
	BackgroundKeeper first(kStore, {"run", "--max-records", "0", "--interval-ms", "600000"});
	ASSERT_TRUE(first.wait_for_err("keeping", 30s));
	model().measure(3);

	ListState lists = capture_lists();
	std::map<std::string, Bytes> files = store_files();
	for (const std::vector<std::string> &args :
	     {std::vector<std::string>{"save"}, {"run"}, {"reconcile"}}) {
		ktap::ScopedContext context("ima-keeper " + command_line(args));
		KeeperRun second = run_keeper(kStore, args);

		EXPECT_EQ(second.exit_code, 1);
		EXPECT_TRUE(contains(second.err, "another keeper is running"));
	}
	/* One keeper per system deletes records, whatever its store. */
	const std::string other = kStoreMount + "/other-store";
	for (const std::vector<std::string> &args :
	     {std::vector<std::string>{"save"}, {"reconcile"}, {"run"}}) {
		ktap::ScopedContext context("ima-keeper --store " + other + " " + command_line(args));
		KeeperRun second = run_keeper(other, args);

		EXPECT_EQ(second.exit_code, 1);
		EXPECT_TRUE(contains(second.err, "another keeper is running on this system"));
		EXPECT_TRUE(contains(second.err, "/run/lock/ima-keeper.lock"));
		EXPECT_FALSE(path_exists(other));
	}
	EXPECT_EQ(lists_changed_since(lists), "");
	EXPECT_TRUE(store_files() == files);
	/* Readers do not need the keeper's lock. */
	expect_full_log_is_the_model();

	EXPECT_EQ(first.stop(), 0);
	EXPECT_EQ(save("prompt").exit_code, 0);
	expect_full_log_is_the_model();
}

/*
 * For each flavor and point of a save: @before measures records, a save is
 * killed at the point, @after measures more. Readers see every record once
 * before any repair, and the next save moves every record, once.
 */
void crash_at_every_point(const std::function<void()> &before, const std::function<void()> &after)
{
	int settled = 0;

	for (const std::string &flavor : flavors()) {
		for (const std::string &point : kFaultPoints) {
			ktap::ScopedContext context("--flavor " + flavor + ", killed at " + point);

			if (point == "staged" && flavor == "n")
				continue; /* N stages nothing */
			before();
			KeeperRun crashed = save(flavor, {.fault = point, .without_cap_sys_admin = false});
			EXPECT_EQ(crashed.exit_code, kKilledExit);
			after();
			expect_full_log_is_the_model();

			KeeperRun next = save(flavor);
			EXPECT_EQ(next.exit_code, 0);
			if (next.exit_code)
				ktap::note(next.describe());
			/*
			 * A pending group is settled by PCR 10, never by bytes;
			 * without a TPM by bytes, and the keeper says so.
			 */
			if (contains(next.err, "rolled it back") || contains(next.err, "recorded that")) {
				EXPECT_TRUE(contains(next.err, no_tpm_expected() ? "(no TPM)"
										 : "by PCR 10"));
				settled++;
			}
			EXPECT_FALSE(contains(next.err, "does not replay to PCR 10"));
			expect_kernel_emptied();
			expect_full_log_is_the_model();
			EXPECT_TRUE(read_file(kStoreData) == model().log());
			EXPECT_EQ(read_file(kStoreJournal).size() % kJournalEntry, 0u);
			expect_checkpoints_as_written_anew();
			if (!no_tpm_expected())
				EXPECT_EQ(replays_problems(), "");
		}
	}
	/* A kill after the deletion leaves a group pending: some were settled. */
	EXPECT_TRUE(settled > 0);
}

KTAP_TEST(a_crash_at_any_point_loses_nothing_and_saves_nothing_twice)
{
	set_up();
	crash_at_every_point([] { model().measure(4); }, [] { model().measure(1); });
}

/*
 * Identical records: violations of one file, which IMA never deduplicates.
 * A group of them is saved, the save is killed, and the same violations
 * come again: after a deletion the kernel's list begins with the very
 * bytes of the group it deleted. Whether the group was deleted is settled
 * by PCR 10 (the store with or without it, followed by the kernel's
 * lists), by readers before any repair and by the next save; comparing
 * bytes would roll the deleted group back and lose its records.
 */
KTAP_TEST(identical_records_survive_a_crash_at_any_point)
{
	set_up();
	std::string file = model().measure_violations(1);
	ASSERT_EQ(save("prompt").exit_code, 0);
	crash_at_every_point([&file] { model().measure_violations(2, file); },
			     [&file] { model().measure_violations(2, file); });
}

/*
 * Measures files "<prefix><n>" from another process, one every few ms,
 * until @stop is closed, and writes their names to @names. Not a thread:
 * a fork of this program (the keeper's) would hold a file the thread is
 * writing open for writing while it is read, and IMA would record an
 * open_writers violation.
 */
ChildProcess measure_in_background(const std::string &prefix, Pipe &stop, Pipe &names)
{
	return ChildProcess::fork_and_run([&prefix, &stop, &names] {
		stop.write_end.reset();
		names.read_end.reset();
		for (int i = 0;; i++) {
			pollfd stopped = {stop.read_end.get(), POLLIN, 0};

			if (::poll(&stopped, 1, 0) > 0)
				return 0;
			std::string path = prefix + std::to_string(i);
			write_file(path, as_bytes(path + "\n"));
			UniqueFd reader = open_or_throw(path, O_RDONLY);
			read_all(reader.get());
			write_all(names.write_end.get(), as_bytes(path + "\n"));
			std::this_thread::sleep_for(5ms);
		}
	});
}

/*
 * The same while files are measured all along: the kernel's list grows
 * while the keeper reads it and PCR 10, and only the prefixes the PCR can
 * hold decide.
 */
KTAP_TEST(identical_records_are_settled_while_files_are_measured)
{
	set_up();
	std::string file = model().measure_violations(1);
	ASSERT_EQ(save("prompt").exit_code, 0);
	for (const std::string &flavor : flavors()) {
		ktap::ScopedContext context("--flavor " + flavor);

		model().measure_violations(2, file);
		KeeperRun crashed = save(flavor, {.fault = "deleted", .without_cap_sys_admin = false});
		EXPECT_EQ(crashed.exit_code, kKilledExit);
		model().measure_violations(2, file);

		Pipe stop;
		Pipe names;
		ChildProcess measurer = measure_in_background(
			std::string(kMeasureDir) + "/settled-" + flavor + "-", stop, names);
		stop.read_end.reset();
		names.write_end.reset();
		KeeperRun next = save(flavor);
		stop.write_end.reset();
		EXPECT_EQ(measurer.wait(), 0);
		Bytes names_read = read_all(names.read_end.get());
		std::string measured(names_read.begin(), names_read.end());
		std::size_t files = 0;
		for (std::size_t at = 0, end; (end = measured.find('\n', at)) != std::string::npos;
		     at = end + 1, files++)
			model().expect(measured.substr(at, end - at));
		ktap::note(files, " files measured while the keeper settled the group");
		EXPECT_GT(files, 0u);
		EXPECT_EQ(next.exit_code, 0);
		EXPECT_TRUE(contains(next.err, "was deleted from the kernel (by PCR 10"));
		if (next.exit_code)
			ktap::note(next.describe());

		EXPECT_EQ(save(flavor).exit_code, 0);
		expect_full_log_is_the_model();
	}
}

/*
 * ESTALE (a reboot or kexec began) leaves the group saved: a reboot ends
 * the kernel's copy, a kexec carries it on. As after a kexec, the kernel
 * still has the records here: the next save finds them staged (prompt) and
 * deletes them, or PCR 10 shows they were not deleted (N) and the group is
 * rolled back and saved again. Either way once.
 */
KTAP_TEST(estale_keeps_the_group_until_the_next_save_settles_it)
{
	set_up();
	for (const std::string &flavor : flavors()) {
		ktap::ScopedContext context("--flavor " + flavor);

		model().measure(3);
		std::size_t saved_before = read_file(kStoreData).size();
		KeeperRun refused = save(flavor, {.fault = "estale", .without_cap_sys_admin = false});
		EXPECT_EQ(refused.exit_code, 1);
		EXPECT_TRUE(contains(refused.err, "only on a kexec soft reboot"));
		EXPECT_GT(read_file(kStoreData).size(), saved_before);
		expect_full_log_is_the_model();

		KeeperRun next = save(flavor);
		EXPECT_EQ(next.exit_code, 0);
		EXPECT_TRUE(contains(next.err, flavor == "prompt" ? "still staged: saving it again"
								 : "by PCR 10"));
		ktap::note(next.err.substr(0, next.err.empty() ? 0 : next.err.size() - 1));
		expect_kernel_emptied();
		expect_full_log_is_the_model();
		EXPECT_TRUE(read_file(kStoreData) == model().log());
	}
}

/*
 * A store of an older keeper, with one log at its top, is converted into
 * logs/000001 by the first keeper that starts; readers refuse it until
 * then, and change nothing. A log whose creation a crash interrupted is
 * removed.
 */
KTAP_TEST(a_single_log_store_is_converted_by_the_keeper)
{
	set_up();
	model().measure(2);
	ASSERT_EQ(save("prompt").exit_code, 0);
	for (std::string name : {"binary_runtime_measurements", "journal"})
		if (::rename((kLog + "/" + name).c_str(), (kStore + "/" + name).c_str()))
			throw_errno("move " + kLog + "/" + name);
	/* Keepers of that layout wrote no checkpoints, and kept no PCR 10 replays. */
	if (::unlink(kStoreCheckpoints.c_str()) ||
	    (::unlink(kStoreReplays.c_str()) && errno != ENOENT) || ::rmdir(kLog.c_str()) ||
	    ::rmdir((kStore + "/logs").c_str()))
		throw_errno("remove " + kLog);
	std::map<std::string, Bytes> files = store_files();

	KeeperRun refused = run_keeper(kStore, {"count"});
	EXPECT_EQ(refused.exit_code, 1);
	EXPECT_TRUE(contains(refused.err, "single-log layout"));
	EXPECT_TRUE(store_files() == files);

	model().measure(1);
	KeeperRun run = save("prompt");
	EXPECT_EQ(run.exit_code, 0);
	EXPECT_TRUE(contains(run.err, "moved the log of the single-log layout to " + kLog));
	EXPECT_TRUE(contains(run.err, "wrote " + kStoreCheckpoints + " anew from the data"));
	if (!no_tpm_expected())
		EXPECT_TRUE(contains(run.err, " to " + kStoreReplays));
	expect_full_log_is_the_model();
	EXPECT_TRUE(read_file(kStoreData) == model().log());
	EXPECT_FALSE(path_exists(kStore + "/journal"));

	/* What a crash left of a log being created is removed; readers ignore it. */
	const std::string draft = kStore + "/logs/.new-000002";
	if (::mkdir(draft.c_str(), 0700))
		throw_errno("mkdir " + draft);
	write_file(draft + "/journal", Bytes(kJournalEntry / 2, 0xcd));
	expect_full_log_is_the_model();
	model().measure(1);
	run = save("prompt");
	EXPECT_EQ(run.exit_code, 0);
	EXPECT_TRUE(contains(run.err, "removed the log .new-000002 whose creation was interrupted"));
	EXPECT_FALSE(path_exists(draft));
	expect_full_log_is_the_model();
}

/*
 * A save that finds a group the kernel still holds rolls it back: the
 * journal says so first, then the group's bytes are cut. Killed between
 * the two, the next start cuts them and saves the records again.
 */
KTAP_TEST(a_crash_during_a_rollback_loses_nothing)
{
	set_up();
	if (booted_with_flush_htable())
		ktap::skip("a group is rolled back when N did not happen; ima_flush_htable refuses N");
	/* A group with checkpoints (see a_save_rebuilds_the_checkpoints_of_the_store). */
	model().measure(1500);
	ASSERT_EQ(save("n", {.fault = "committed", .without_cap_sys_admin = false}).exit_code,
		  kKilledExit);
	KeeperRun rolling = save("n", {.fault = "rolled-back", .without_cap_sys_admin = false});
	ASSERT_EQ(rolling.exit_code, kKilledExit);
	/* Readers see every record once, the group's bytes past the end ignored. */
	expect_full_log_is_the_model();

	KeeperRun next = save("n");
	EXPECT_EQ(next.exit_code, 0);
	EXPECT_TRUE(contains(next.err, "uncommitted bytes"));
	EXPECT_TRUE(contains(next.err, "bytes of checkpoints past the committed groups"));
	if (next.exit_code)
		ktap::note(next.describe());
	expect_kernel_emptied();
	expect_full_log_is_the_model();
	EXPECT_TRUE(read_file(kStoreData) == model().log());
	expect_checkpoints_as_written_anew();
}

KTAP_TEST(a_torn_last_write_is_removed_on_start)
{
	set_up();
	model().measure(3);
	ASSERT_EQ(save("prompt").exit_code, 0);

	/*
	 * What a power cut in the middle of a save leaves: the group's begun
	 * entry, half of its bytes, half of its saved entry.
	 */
	model().measure(2);
	ASSERT_EQ(save("prompt", {.fault = "torn-data", .without_cap_sys_admin = false}).exit_code,
		  kKilledExit);
	Bytes torn_journal = read_file(kStoreJournal);
	append(torn_journal, Bytes(kJournalEntry / 2, 0xcd));
	write_file(kStoreJournal, torn_journal);

	expect_full_log_is_the_model();
	KeeperRun run = save("prompt");
	EXPECT_EQ(run.exit_code, 0);
	EXPECT_TRUE(contains(run.err, "torn journal entry"));
	EXPECT_TRUE(contains(run.err, "uncommitted bytes"));
	EXPECT_TRUE(contains(run.err, "it began (its journal entry at offset"));
	EXPECT_EQ(read_file(kStoreJournal).size() % kJournalEntry, 0u);
	EXPECT_TRUE(read_file(kStoreData) == model().log());
	expect_full_log_is_the_model();

	/* An append whose entry the file system extended the file for, then lost. */
	Bytes zeroed = read_file(kStoreJournal);
	append(zeroed, Bytes(kJournalEntry, 0));
	write_file(kStoreJournal, zeroed);
	model().measure(1);
	run = save("prompt");
	EXPECT_EQ(run.exit_code, 0);
	EXPECT_TRUE(contains(run.err, "torn journal entry (96 bytes"));
	expect_full_log_is_the_model();
	EXPECT_TRUE(read_file(kStoreData) == model().log());
}

/*
 * A power cut inside a journal entry that crosses a sector boundary leaves
 * the sector before the boundary written and the one after it zero: the
 * keeper takes that last entry for the torn write it is, not for damage.
 * Here it is the entry that says the kernel deleted a group: the group
 * stays pending until the next save settles it by PCR 10.
 */
KTAP_TEST(a_journal_entry_torn_at_a_sector_boundary_is_a_torn_write)
{
	constexpr std::size_t kSector = 512;
	auto last_entry_crosses = [] {
		std::size_t size = read_file(kStoreJournal).size();

		return size >= kJournalEntry && (size - kJournalEntry) / kSector != (size - 1) / kSector;
	};

	set_up();
	/* Each save adds three entries: within 16 more saves the last one crosses. */
	for (int i = 0; i < 17; i++) {
		model().measure(1);
		ASSERT_EQ(save("prompt").exit_code, 0);
		if (last_entry_crosses())
			break;
	}
	ASSERT_TRUE(last_entry_crosses());
	Bytes journal = read_file(kStoreJournal);
	std::size_t last = journal.size() - kJournalEntry;
	std::size_t boundary = (last / kSector + 1) * kSector;
	std::fill(journal.begin() + static_cast<std::ptrdiff_t>(boundary), journal.end(), 0);
	write_file(kStoreJournal, journal);
	ktap::note("journal entry ", last / kJournalEntry, " (bytes ", last, " to ",
		   last + kJournalEntry - 1, ") torn at byte ", boundary);

	expect_full_log_is_the_model();
	model().measure(1);
	KeeperRun run = save("prompt");
	EXPECT_EQ(run.exit_code, 0);
	EXPECT_TRUE(contains(run.err, "torn journal entry (96 bytes at offset " + std::to_string(last)));
	ktap::note(run.err.substr(0, run.err.size() ? run.err.size() - 1 : 0));
	expect_kernel_emptied();
	expect_full_log_is_the_model();
	EXPECT_TRUE(read_file(kStoreData) == model().log());
}

/*
 * A saved entry made durable and acted upon (the kernel deleted the group)
 * whose first sector is lost later reads as torn too. The group's bytes
 * are all there, so the keeper keeps the group as saved and pending, and
 * PCR 10 settles that the kernel deleted it: dropping it as a save that
 * never committed would lose its records.
 */
KTAP_TEST(a_torn_saved_entry_keeps_a_group_whose_bytes_are_all_there)
{
	constexpr std::size_t kSector = 512;
	auto crosses = [](std::size_t entry) {
		std::size_t first = entry * kJournalEntry;

		return first / kSector != (first + kJournalEntry - 1) / kSector;
	};
	auto next_saved_entry = [] { return read_file(kStoreJournal).size() / kJournalEntry + 1; };

	set_up();
	/* Until the next save's saved entry, after its begun one, crosses a boundary. */
	for (int i = 0; i < 17; i++) {
		model().measure(1);
		ASSERT_EQ(save("prompt").exit_code, 0);
		if (crosses(next_saved_entry()))
			break;
	}
	const std::size_t saved_entry = next_saved_entry();
	ASSERT_TRUE(crosses(saved_entry));
	/* Killed once the kernel deleted the group, before recording that. */
	model().measure(2);
	ASSERT_EQ(save("prompt", {.fault = "deleted", .without_cap_sys_admin = false}).exit_code,
		  kKilledExit);
	Bytes journal = read_file(kStoreJournal);
	ASSERT_EQ(journal.size(), (saved_entry + 1) * kJournalEntry);
	const std::size_t at = saved_entry * kJournalEntry;
	const std::size_t boundary = (at / kSector + 1) * kSector;
	std::fill(journal.begin() + static_cast<std::ptrdiff_t>(at),
		  journal.begin() + static_cast<std::ptrdiff_t>(boundary), 0);
	write_file(kStoreJournal, journal);
	ktap::note("the saved entry ", saved_entry, " (bytes ", at, " to ", at + kJournalEntry - 1,
		   ") lost its bytes before ", boundary);

	expect_full_log_is_the_model();
	KeeperRun run = save("prompt");
	EXPECT_EQ(run.exit_code, 0);
	EXPECT_TRUE(contains(run.err, "its bytes are all there"));
	ktap::note(run.err.substr(0, run.err.size() ? run.err.size() - 1 : 0));
	expect_kernel_emptied();
	expect_full_log_is_the_model();
	EXPECT_TRUE(read_file(kStoreData) == model().log());
}

/* A way to damage the store, and what the refusal must say. */
struct StoreDamage {
	std::string what;
	std::function<void()> apply;
	std::vector<std::string> message;
};

/*
 * Applies each damage in turn: every command refuses the store, saying the
 * message, and changes neither the kernel's lists nor the store. The store
 * is restored after each.
 */
void expect_every_command_refuses(const std::vector<StoreDamage> &damages)
{
	const Bytes journal = read_file(kStoreJournal);
	const Bytes data = read_file(kStoreData);

	for (const StoreDamage &damage : damages) {
		ktap::ScopedContext context(damage.what);

		damage.apply();
		ListState lists = capture_lists();
		std::map<std::string, Bytes> files = store_files();
		for (const std::vector<std::string> &args :
		     {std::vector<std::string>{"save"}, {"log"}, {"count"}, {"verify"}}) {
			KeeperRun run = run_keeper(kStore, args);

			EXPECT_EQ(run.exit_code, kStoreCorruptedExit);
			for (const std::string &part : damage.message)
				EXPECT_TRUE(contains(run.err, part));
			if (!run.err.empty())
				ktap::note(command_line(args), ": ", run.err.substr(0, run.err.size() - 1));
		}
		EXPECT_EQ(lists_changed_since(lists), "");
		EXPECT_TRUE(store_files() == files);
		write_file(kStoreData, data);
		write_file(kStoreJournal, journal);
	}
}

/*
 * Saved bytes that the journal does not account for are not a torn write:
 * treating them as uncommitted would destroy the records. Every command
 * refuses, naming the file, and nothing changes.
 */
KTAP_TEST(a_missing_or_short_journal_is_refused_and_changes_nothing)
{
	set_up();
	model().measure(3);
	ASSERT_EQ(save("prompt").exit_code, 0);
	model().measure(2);
	ASSERT_EQ(save("prompt").exit_code, 0);
	model().measure(1);
	const Bytes journal = read_file(kStoreJournal);
	const Bytes data = read_file(kStoreData);

	/* A save writes a begun, a saved and a deleted entry. */
	const std::size_t without_last_group = journal.size() - 3 * kJournalEntry;
	const std::vector<StoreDamage> damages = {
		{"the journal removed",
		 [] {
			 if (::unlink(kStoreJournal.c_str()))
				 throw_errno("unlink " + kStoreJournal);
		 },
		 {"store corrupted", "the journal " + kStoreJournal + " is missing",
		  std::to_string(data.size()) + " bytes"}},
		{"the journal cut before the last group",
		 [journal, without_last_group] {
			 write_file(kStoreJournal, ByteView(journal).first(without_last_group));
		 },
		 {"store corrupted", kStoreData, "the journal is short"}},
		{"the journal emptied",
		 [] { write_file(kStoreJournal, Bytes()); },
		 {"store corrupted", kStoreData, "the journal is short"}},
		{"bytes appended to the data file",
		 [data] {
			 Bytes more = data;
			 append(more, Bytes(37, 0xab));
			 write_file(kStoreData, more);
		 },
		 {"store corrupted", "37 bytes of " + kStoreData, "the journal is short"}},
	};
	expect_every_command_refuses(damages);
	ASSERT_EQ(save("prompt").exit_code, 0);
	expect_full_log_is_the_model();
}

/* A disk that fills up after D: the message says the records were deleted. */
KTAP_TEST(a_full_disk_after_the_deletion_says_so)
{
	set_up();
	model().measure(3);
	KeeperRun run = save("prompt", {.fault = "full-after-delete", .without_cap_sys_admin = false});
	EXPECT_EQ(run.exit_code, 1);
	EXPECT_TRUE(contains(run.err, "no space left"));
	EXPECT_TRUE(contains(run.err, "the kernel deleted the"));
	EXPECT_FALSE(contains(run.err, "nothing was deleted"));
	ktap::note(run.err.substr(0, run.err.size() ? run.err.size() - 1 : 0));
	expect_full_log_is_the_model();

	run = save("prompt");
	EXPECT_EQ(run.exit_code, 0);
	EXPECT_TRUE(contains(run.err, "was deleted from the kernel (by PCR 10"));
	expect_kernel_emptied();
	expect_full_log_is_the_model();
}

KTAP_TEST(a_corrupted_store_is_refused_naming_group_and_offset)
{
	set_up();
	model().measure(3);
	ASSERT_EQ(save("prompt").exit_code, 0);
	model().measure(2);

	const Bytes data = read_file(kStoreData);
	const std::vector<StoreDamage> damages = {
		{"a flipped byte in journal entry 1",
		 [] { flip_byte(kStoreJournal, kJournalEntry + 20); },
		 {"store corrupted", "journal entry 1", "offset 96", "checksum"}},
		{"a data file cut short",
		 [data] { write_file(kStoreData, ByteView(data).first(data.size() / 2)); },
		 {"store corrupted", "the file ends at byte " + std::to_string(data.size() / 2)}},
	};
	expect_every_command_refuses(damages);
	ASSERT_EQ(save("prompt").exit_code, 0);
	expect_full_log_is_the_model();
}

/* Bytes @offset.. of the view's file @name, read with one pread(); throws on an error. */
Bytes view_bytes_from(const std::string &name, std::size_t offset, std::size_t size)
{
	UniqueFd fd = open_or_throw(kViewDir + "/" + name, O_RDONLY);
	Bytes bytes(size);
	ssize_t got = ::pread(fd.get(), bytes.data(), bytes.size(), static_cast<off_t>(offset));

	if (got < 0)
		throw_errno("pread " + name + " at " + std::to_string(offset));
	bytes.resize(static_cast<std::size_t>(got));
	return bytes;
}

/* The errno of a read of the view's file @name at @offset, 0 if it succeeds. */
int view_read_error_at(const std::string &name, std::size_t offset)
{
	try {
		view_bytes_from(name, offset, 64);
	} catch (const std::system_error &e) {
		return e.code().value();
	}
	return 0;
}

/* "N groups, R records" of what fsck says of the store's last log. */
std::string fsck_summary()
{
	std::string out = run_keeper(kStore, {"fsck"}).out_text();
	std::size_t at = out.rfind(": ");

	return at == std::string::npos ? out : out.substr(at + 2, out.find(", 0 damaged", at) - at - 2);
}

/* A byte of @path flipped until repair() or destruction: no later test sees it. */
class DamagedByte {
public:
	DamagedByte(std::string path, off_t offset) : path_(std::move(path)), offset_(offset)
	{
		flip_byte(path_, offset_);
	}
	DamagedByte(const DamagedByte &) = delete;
	DamagedByte &operator=(const DamagedByte &) = delete;
	~DamagedByte() { repair(); }
	void repair()
	{
		if (std::exchange(damaged_, false))
			flip_byte(path_, offset_);
	}

private:
	std::string path_;
	off_t offset_;
	bool damaged_ = true;
};

/*
 * A byte of an old group damaged (a bad sector): the keeper goes on
 * saving; the view serves every byte but the group's, where reads fail
 * with EIO; log --from past it serves; fsck names the group and what it
 * covers, and changes nothing.
 */
KTAP_TEST(a_damaged_group_is_refused_only_to_its_readers)
{
	set_up();
	if (!path_exists("/dev/fuse"))
		ktap::skip("no /dev/fuse (CONFIG_FUSE_FS)");
	/* The groups earlier tests saved, and where this test's first one begins. */
	ASSERT_EQ(save("prompt").exit_code, 0);
	const std::string groups_before = fsck_summary();
	const std::size_t start = read_file(kStoreData).size();
	const std::size_t first_record = parse_binary_list(read_file(kStoreData), 20).size();
	model().measure(3);
	ASSERT_EQ(save("prompt").exit_code, 0);
	const std::size_t end = read_file(kStoreData).size();
	const std::size_t records = parse_binary_list(read_file(kStoreData), 20).size() - first_record;
	model().measure(2);
	ASSERT_EQ(save("prompt").exit_code, 0);
	model().measure(1);
	const Bytes binary = run_keeper(kStore, {"log"}).out;
	const std::string ascii = run_keeper(kStore, {"log", "--format", "ascii"}).out_text();
	const std::vector<std::size_t> lines = line_bounds(ascii);
	ASSERT_GT(lines.size(), first_record + records);
	const std::size_t ascii_start = lines[first_record];
	const std::size_t ascii_end = lines[first_record + records];
	ASSERT_TRUE(end > start && binary.size() > end && ascii.size() > ascii_end);
	ktap::note("the damaged group: records ", first_record, " to ", first_record + records,
		   ", bytes ", start, " to ", end, " (", groups_before, " before it)");

	DamagedByte damaged(kStoreData, static_cast<off_t>(start + 10));
	std::map<std::string, Bytes> files = store_files();
	KeeperRun check = run_keeper(kStore, {"fsck"});
	EXPECT_EQ(check.exit_code, kStoreCorruptedExit);
	ktap::note("fsck: ", check.out_text());
	EXPECT_TRUE(contains(check.out_text(),
			     "(" + std::to_string(records) + " records from record " +
				     std::to_string(first_record) + " of the log, bytes " +
				     std::to_string(start) + " to " + std::to_string(end) + " of " +
				     kStoreData + ") is damaged"));
	EXPECT_TRUE(contains(check.out_text(), "sha256"));
	EXPECT_EQ(count_of(check.out_text(), ") is damaged:"), 1u);
	EXPECT_TRUE(contains(check.out_text(), ", 1 damaged"));
	EXPECT_TRUE(store_files() == files);

	::mkdir(kViewDir.c_str(), 0700);
	{
		const std::string bin = "binary_runtime_measurements";
		const std::string asc = "ascii_runtime_measurements";
		BackgroundKeeper view(kStore, {"mount", kViewDir});
		ASSERT_TRUE(eventually([&] { return path_exists(kViewDir + "/" + bin); }, 30s));
		EXPECT_EQ(view_read_error_at(bin, start), EIO);
		EXPECT_EQ(view_read_error_at(bin, end - 1), EIO);
		EXPECT_TRUE(view_bytes_from(bin, 0, start) ==
			    Bytes(binary.begin(), binary.begin() + static_cast<std::ptrdiff_t>(start)));
		EXPECT_TRUE(view_bytes_from(bin, end, binary.size()) ==
			    Bytes(binary.begin() + static_cast<std::ptrdiff_t>(end), binary.end()));
		EXPECT_EQ(view_read_error_at(asc, ascii_start), EIO);
		EXPECT_TRUE(view_bytes_from(asc, ascii_end, ascii.size()) ==
			    to_bytes(ascii.substr(ascii_end)));
		EXPECT_EQ(view.stop(), 0);
	}

	model().measure(2);
	EXPECT_EQ(save("prompt").exit_code, 0);
	/*
	 * A save killed after the deletion leaves its group pending: readers
	 * and the next save settle it by PCR 10 before and after it, kept
	 * beside the log, without reading the damaged group.
	 */
	model().measure(2);
	EXPECT_EQ(save(flavors().back(), {.fault = "deleted", .without_cap_sys_admin = false})
			  .exit_code,
		  kKilledExit);
	KeeperRun pending_tail =
		run_keeper(kStore, {"log", "--from", std::to_string(first_record + records)});
	EXPECT_EQ(pending_tail.exit_code, 0);
	if (pending_tail.exit_code)
		ktap::note(pending_tail.describe());
	KeeperRun settled = save("prompt");
	EXPECT_EQ(settled.exit_code, 0);
	if (!no_tpm_expected())
		EXPECT_TRUE(contains(settled.err, "was deleted from the kernel (by PCR 10"));
	if (settled.exit_code)
		ktap::note(settled.describe());
	KeeperRun tail = run_keeper(kStore, {"log", "--from", std::to_string(first_record + records)});
	EXPECT_EQ(tail.exit_code, 0);
	EXPECT_TRUE(tail.out == pending_tail.out);
	KeeperRun whole = run_keeper(kStore, {"log"});
	EXPECT_EQ(whole.exit_code, kStoreCorruptedExit);
	EXPECT_FALSE(contains(whole.err, "move"));

	/* Repaired, the full log checks out against the model: the tail was its end. */
	damaged.repair();
	EXPECT_EQ(run_keeper(kStore, {"fsck"}).exit_code, 0);
	expect_full_log_is_the_model();
	Bytes repaired = run_keeper(kStore, {"log"}).out;
	ASSERT_TRUE(repaired.size() > end);
	EXPECT_TRUE(tail.out ==
		    Bytes(repaired.begin() + static_cast<std::ptrdiff_t>(end), repaired.end()));
}

/*
 * PCR 10 after each group is kept beside the log (pcr10_replays): after a
 * save that emptied the kernel's list, its last slot is what the TPM holds.
 * A damaged slot, or a missing file, is written again by the next keeper
 * from the groups, as it was.
 */
KTAP_TEST(pcr10_after_each_group_is_kept_and_written_again)
{
	set_up();
	if (no_tpm_expected())
		ktap::skip("needs a TPM (keeper-notpm: the keeper keeps no replays without one)");
	model().measure(3);
	ASSERT_EQ(save("prompt").exit_code, 0);
	ASSERT_EQ(read_measurement_count(), 0ul);
	const Bytes replays = read_file(kStoreReplays);
	const std::size_t groups = groups_in_current_log();
	ktap::note(groups, " groups, ", replays.size(), " bytes of ", kStoreReplays);
	ASSERT_EQ(replays_problems(), "");
	const std::size_t value_at = replays.size() - kReplaySlot + 40;

	for (const bool remove : {false, true}) {
		ktap::ScopedContext context(remove ? "the file removed" : "its last slot damaged");
		if (remove)
			ASSERT_EQ(::unlink(kStoreReplays.c_str()), 0);
		else
			flip_byte(kStoreReplays, static_cast<off_t>(value_at));
		KeeperRun next = save("prompt");
		EXPECT_EQ(next.exit_code, 0);
		EXPECT_TRUE(contains(next.err, "PCR 10 after " +
						       std::to_string(remove ? groups : 1) +
						       (remove && groups > 1 ? " groups" : " group")));
		ktap::note(next.err.substr(0, next.err.empty() ? 0 : next.err.size() - 1));
		EXPECT_TRUE(read_file(kStoreReplays) == replays);
	}
	/* A slot that checks out, but another group's: bound to its group, it is replaced. */
	if (groups >= 2) {
		Bytes moved = replays;
		std::copy(replays.end() - 2 * kReplaySlot, replays.end() - kReplaySlot,
			  moved.end() - kReplaySlot);
		write_file(kStoreReplays, moved);
		KeeperRun next = save("prompt");
		EXPECT_EQ(next.exit_code, 0);
		EXPECT_TRUE(contains(next.err, "PCR 10 after 1 group"));
		EXPECT_TRUE(read_file(kStoreReplays) == replays);
	}
	expect_full_log_is_the_model();
}

/* --lose-records: the test that deletes records behind the keeper's back may run. */
bool records_may_be_lost = false;

/*
 * Records deleted from the kernel that no store holds: every keeper start
 * says the log followed by the kernel's lists does not replay to PCR 10,
 * and saving goes on. After it no full log of this boot verifies: the
 * keeper-lost suite runs it in a boot of its own.
 */
KTAP_TEST(records_deleted_behind_the_keepers_back_are_named_at_every_start)
{
	if (!records_may_be_lost)
		ktap::skip("deletes records no store keeps, which every later test would "
			   "see: only with --lose-records, in a boot of its own (keeper-lost)");
	set_up();
	if (no_tpm_expected())
		ktap::skip("needs a TPM");
	const std::string lost = "does not replay to PCR 10";
	model().measure(2);
	KeeperRun before = save("prompt");
	EXPECT_EQ(before.exit_code, 0);
	EXPECT_FALSE(contains(before.err, lost));

	model().measure(3);
	if (flavors().back() == "n") {
		EXPECT_EQ(send_request(original_request_file(), "2\n"), 0);
	} else {
		EXPECT_EQ(send_request(staged_request_file(), "A\n"), 0);
		EXPECT_EQ(send_request(staged_request_file(), "D\n"), 0);
	}
	for (int start = 0; start < 2; start++) {
		ktap::ScopedContext context("start " + std::to_string(start + 1));
		model().measure(1);
		KeeperRun after = save("prompt");
		EXPECT_EQ(after.exit_code, 0);
		EXPECT_TRUE(contains(after.err, lost));
		ktap::note(after.err.substr(0, after.err.empty() ? 0 : after.err.size() - 1));
		expect_kernel_emptied();
	}
	EXPECT_EQ(run_keeper(kStore, {"verify"}).exit_code, 1);
}

/* The files the signing test creates: tmpfs, owned by the uid the guest's policy measures. */
const std::string kSignedDir = "/tmp/keeper_signed";
constexpr uid_t kSignedOwner = 4242;
const std::string kSigningKey = "/opt/ima_staging/ima-signing-key.pem";

/*
 * The template fields of the booted template (ima_template_fmt=, else
 * ima_template=; the built-in templates by their formats).
 */
std::vector<std::string> booted_template_fields()
{
	KernelCmdline cmdline = KernelCmdline::from_proc();
	std::string format = cmdline.value("ima_template_fmt").value_or(
		cmdline.value("ima_template").value_or(std::string(kImaNgTemplate)));
	const std::map<std::string, std::string> builtin = {
		{"ima", "d|n"}, {"ima-ng", "d-ng|n-ng"}, {"ima-sig", "d-ng|n-ng|sig"},
		{"ima-buf", "d-ng|n-ng|buf"}, {"ima-modsig", "d-ng|n-ng|sig|d-modsig|modsig"},
		{"evm-sig", "d-ng|n-ng|evmsig|xattrnames|xattrlengths|xattrvalues|iuid|igid|imode"}};
	std::vector<std::string> fields;

	if (auto known = builtin.find(format); known != builtin.end())
		format = known->second;
	for (std::size_t at = 0, end; at <= format.size(); at = end + 1) {
		end = std::min(format.find('|', at), format.size());
		fields.push_back(format.substr(at, end - at));
	}
	return fields;
}

/* Field @index of @record's template data (u32 length, then the bytes, for each). */
Bytes template_field(const Record &record, std::size_t index)
{
	const Bytes &data = record.template_data;
	std::size_t at = 0;

	for (std::size_t i = 0;; i++) {
		if (at + 4 > data.size())
			throw std::runtime_error("template data ends before field " +
						 std::to_string(index));
		std::size_t length = load_le32(data, at);
		if (at + 4 + length > data.size())
			throw std::runtime_error("template field " + std::to_string(i) + " overruns");
		if (i == index)
			return Bytes(data.begin() + static_cast<std::ptrdiff_t>(at + 4),
				     data.begin() + static_cast<std::ptrdiff_t>(at + 4 + length));
		at += 4 + length;
	}
}

/*
 * Signed files (evmctl ima_sign with a test key: security.ima on tmpfs)
 * are recorded with their signatures in the sig field: the keeper saves
 * and serves those records byte for byte as the kernel showed them, in
 * both formats, from any record on.
 */
KTAP_TEST(signed_files_keep_their_signatures)
{
	set_up();
	const std::vector<std::string> fields = booted_template_fields();
	const auto sig = std::ranges::find(fields, "sig");
	if (sig == fields.end())
		ktap::skip("the booted template has no sig field (keeper-ima-sig and "
			   "keeper-custom-fmt sign files)");
	::mkdir(kSignedDir.c_str(), 0700);
	std::vector<std::string> signed_files;
	for (int i = 0; i < 3; i++) {
		const std::string path = kSignedDir + "/signed-" + std::to_string(::getpid()) + "-" +
					 std::to_string(i);
		write_file(path, as_bytes("signed file " + path + "\n"));
		/* Signed first: evmctl reads the file, which is measured once owned so. */
		CommandResult signing = run_command({"evmctl", "ima_sign", "--hashalgo", "sha256",
						     "--key", kSigningKey, path});
		if (signing.exit_code)
			ktap::note("evmctl ima_sign: ", signing.output);
		ASSERT_EQ(signing.exit_code, 0);
		ASSERT_EQ(::chown(path.c_str(), kSignedOwner, kSignedOwner), 0);
		read_file(path);
		signed_files.push_back(path);
	}
	model().take(signed_files);
	const std::vector<Record> kernel = read_binary_list("sha1");
	ASSERT_GE(kernel.size(), signed_files.size());
	const std::size_t sig_index = static_cast<std::size_t>(sig - fields.begin());
	for (std::size_t i = kernel.size() - signed_files.size(); i < kernel.size(); i++) {
		const Bytes signature = template_field(kernel[i], sig_index);
		/* A signature v2 header (type 3, version 2) and an RSA-2048 signature. */
		EXPECT_GT(signature.size(), 256u);
		EXPECT_EQ(signature.empty() ? 0 : signature[0], 3);
	}
	ASSERT_EQ(save("prompt").exit_code, 0);
	expect_full_log_is_the_model();
	const std::vector<std::size_t> bounds = sha1_record_bounds(model().log());
	const std::size_t first = bounds.size() - 1 - signed_files.size();
	KeeperRun from = run_keeper(kStore, {"log", "--from", std::to_string(first)});
	EXPECT_EQ(from.exit_code, 0);
	EXPECT_TRUE(from.out == Bytes(model().log().begin() +
					      static_cast<std::ptrdiff_t>(bounds.at(first)),
				      model().log().end()));
}

/* The kind of each entry of the journal @path (the u32 at offset 4). */
std::vector<std::uint32_t> journal_kinds(const std::string &path)
{
	const Bytes journal = read_file(path);
	std::vector<std::uint32_t> kinds;

	for (std::size_t at = 0; at + kJournalEntry <= journal.size(); at += kJournalEntry)
		kinds.push_back(load_le32(journal, at + 4));
	return kinds;
}

/*
 * The disk fails the fsync of a group's saved entry: nothing is deleted,
 * the keeper exits 4, and the next save finds the kernel still holding the
 * group's records (by PCR 10 with N, staged with prompt): it rolls the
 * group back and writes it again, whatever the store's copy reads back as.
 */
KTAP_TEST(a_failed_fsync_deletes_nothing_and_the_next_save_writes_again)
{
	set_up();
	model().measure(3);
	ASSERT_EQ(save("prompt").exit_code, 0);
	for (const std::string &flavor : flavors()) {
		ktap::ScopedContext context("--flavor " + flavor);

		model().measure(3);
		ListState lists = capture_lists();
		KeeperRun failed = save(flavor, {.fault = "fsync-journal",
						 .without_cap_sys_admin = false});
		EXPECT_EQ(failed.exit_code, kNotDurableExit);
		EXPECT_TRUE(contains(failed.err, "fsync " + kStoreJournal));
		EXPECT_TRUE(contains(failed.err, "settles its last group by PCR 10"));
		/* N leaves the lists as they were; A moved the records to the staged list. */
		if (flavor == "n")
			EXPECT_EQ(lists_changed_since(lists), "");
		else
			EXPECT_EQ(read_measurement_count(), 0ul);
		expect_full_log_is_the_model();

		KeeperRun next = save(flavor);
		EXPECT_EQ(next.exit_code, 0);
		ktap::note("the next save: ", next.err);
		/*
		 * The kernel still holds the records (staged with prompt): the
		 * group is taken back and written again, never trusted as it
		 * reads back.
		 */
		EXPECT_TRUE(contains(next.err, flavor == "n" ? "rolled it back"
							     : "still staged: saving it again"));
		/* The journal ends: rolled back (3), begun again (4), saved (1), deleted (2). */
		const std::vector<std::uint32_t> kinds = journal_kinds(kStoreJournal);
		ASSERT_GE(kinds.size(), 4u);
		EXPECT_EQ(std::vector<std::uint32_t>(kinds.end() - 4, kinds.end()),
			  (std::vector<std::uint32_t>{3, 4, 1, 2}));
		expect_kernel_emptied();
		expect_full_log_is_the_model();
		EXPECT_TRUE(read_file(kStoreData) == model().log());
		if (!no_tpm_expected())
			EXPECT_EQ(replays_problems(), "");
	}
}

KTAP_TEST(a_full_disk_deletes_nothing)
{
	set_up();
	for (const std::string &flavor : flavors()) {
		ktap::ScopedContext context("--flavor " + flavor);

		/* More than the page a file may still have room in. */
		model().measure(100);
		std::size_t filled = fill_store_disk();
		Bytes kernel = kernel_records();
		std::map<std::string, Bytes> files = store_files();
		files.erase("filler");

		KeeperRun run = save(flavor);
		EXPECT_EQ(run.exit_code, 1);
		EXPECT_TRUE(contains(run.err, "no space left"));
		EXPECT_TRUE(contains(run.err, "nothing was deleted from the kernel"));
		/* Prompt staged the records, but every one is still in the kernel. */
		EXPECT_TRUE(kernel_records() == kernel);
		std::map<std::string, Bytes> after = store_files();
		after.erase("filler");
		EXPECT_TRUE(after == files);
		expect_full_log_is_the_model();
		ktap::note("filled the store's disk with ", filled, " bytes: ", run.err);

		if (::unlink(kFiller.c_str()))
			throw_errno("unlink " + kFiller);
		EXPECT_EQ(save(flavor).exit_code, 0);
		expect_kernel_emptied();
		expect_full_log_is_the_model();
	}
}

KTAP_TEST(without_cap_sys_admin_the_keeper_says_so_and_changes_nothing)
{
	set_up();
	model().measure(2);
	ListState lists = capture_lists();
	std::map<std::string, Bytes> files = store_files();

	for (const std::vector<std::string> &args :
	     {std::vector<std::string>{"save"}, {"run"}, {"reconcile"}}) {
		ktap::ScopedContext context("ima-keeper " + command_line(args));
		KeeperRun run = run_keeper(kStore, args, {.fault = "", .without_cap_sys_admin = true});

		EXPECT_EQ(run.exit_code, 1);
		EXPECT_TRUE(contains(run.err, "CAP_SYS_ADMIN"));
		ktap::note(run.err.substr(0, run.err.size() ? run.err.size() - 1 : 0));
	}
	EXPECT_EQ(lists_changed_since(lists), "");
	EXPECT_TRUE(store_files() == files);
	expect_full_log_is_the_model();
}

KTAP_TEST(fuse_view_shows_the_full_log_and_evmctl_validates_it)
{
	set_up();
	if (!path_exists("/dev/fuse"))
		ktap::skip("no /dev/fuse (CONFIG_FUSE_FS)");
	model().measure(3);
	ASSERT_EQ(save("prompt").exit_code, 0);
	model().measure(4);
	::mkdir(kViewDir.c_str(), 0700);

	BackgroundKeeper view(kStore, {"mount", kViewDir});
	const std::string binary = kViewDir + "/binary_runtime_measurements";
	ASSERT_TRUE(eventually([&] { return path_exists(binary); }, 30s));

	Bytes shown = read_file(binary);
	EXPECT_EQ(model().check(shown, read_text_file(kViewDir + "/ascii_runtime_measurements")), "");
	EXPECT_TRUE(shown == run_keeper(kStore, {"log"}).out);
	EXPECT_EQ(read_text_file(kViewDir + "/ascii_runtime_measurements"),
		  run_keeper(kStore, {"log", "--format", "ascii"}).out_text());
	EXPECT_EQ(read_text_file(kViewDir + "/runtime_measurements_count"),
		  std::to_string(model().records().size()) + "\n");
	EXPECT_EQ(list_directory(kViewDir),
		  (std::vector<std::string>{"ascii_runtime_measurements",
					    "binary_runtime_measurements",
					    "runtime_measurements_count"}));
	EXPECT_EQ(try_open(binary, O_WRONLY).error, EROFS);

	/* An agent pointed at the view: evmctl reads it as it reads securityfs. */
	for (const std::string &bank : replayable_banks()) {
		TempFile pcrs("keeper_pcrs");
		pcrs.write(format_evmctl_pcrs(read_tpm_pcrs(bank)));
		EvmctlResult evmctl = run_evmctl_ima_measurement(binary, bank, pcrs.path());
		EXPECT_TRUE(evmctl.validated);
		if (!evmctl.validated)
			ktap::note(evmctl.command, ": ", evmctl.output);
	}
	/* Records measured and saved later show up in the next open. */
	model().measure(2);
	ASSERT_EQ(save("prompt").exit_code, 0);
	EXPECT_EQ(model().check(read_file(binary),
				read_text_file(kViewDir + "/ascii_runtime_measurements")),
		  "");

	EXPECT_EQ(view.stop(), 0);
	EXPECT_FALSE(path_exists(binary));
}

/* The last @count lines of @text. */
std::string last_lines(const std::string &text, std::size_t count)
{
	std::size_t at = text.size();

	for (std::size_t found = 0; found <= count && at > 0; at--)
		if (text[at - 1] == '\n' && ++found > count)
			break;
	return text.substr(at);
}

/*
 * For the records still in the kernel, "log --format ascii" and the view's
 * ascii file show what the kernel's ascii list shows, byte for byte,
 * whatever the template: the template suites boot with ima-sig, the
 * legacy ima template and a custom format.
 */
KTAP_TEST(log_and_view_show_the_kernels_ascii_lines)
{
	set_up();
	if (!path_exists("/dev/fuse"))
		ktap::skip("no /dev/fuse (CONFIG_FUSE_FS)");
	ktap::note("template: ", KernelCmdline::from_proc().value("ima_template").value_or("default"),
		   ", format: ", KernelCmdline::from_proc().value("ima_template_fmt").value_or("none"));
	model().measure(3);
	::mkdir(kViewDir.c_str(), 0700);
	BackgroundKeeper view(kStore, {"mount", kViewDir});
	const std::string view_ascii = kViewDir + "/ascii_runtime_measurements";
	ASSERT_TRUE(eventually([&] { return path_exists(view_ascii); }, 30s));

	const std::string kernel_file = ima_path("ascii_runtime_measurements");
	std::string kernel, logged, viewed;
	/* Nothing else measures meanwhile; read again if something did. */
	for (int attempt = 0; attempt < 5; attempt++) {
		kernel = read_text_file(kernel_file);
		logged = run_keeper(kStore, {"log", "--format", "ascii"}).out_text();
		viewed = read_text_file(view_ascii);
		if (read_text_file(kernel_file) == kernel)
			break;
	}
	std::size_t lines = static_cast<std::size_t>(std::count(kernel.begin(), kernel.end(), '\n'));
	ASSERT_GE(lines, 3u);
	EXPECT_EQ(last_lines(logged, lines), kernel);
	EXPECT_EQ(last_lines(viewed, lines), kernel);
	ktap::note("first kernel line: ", kernel.substr(0, kernel.find('\n')));
	EXPECT_EQ(view.stop(), 0);
}

/* Copies @in to a new file with sendfile(), as busybox cat does; its bytes. */
Bytes copy_with_sendfile(int in)
{
	TempFile copy("keeper_sendfile");
	UniqueFd out = open_or_throw(copy.path(), O_WRONLY | O_TRUNC);

	for (;;) {
		ssize_t sent = ::sendfile(out.get(), in, nullptr, 1 << 20);

		if (sent < 0)
			throw_errno("sendfile");
		if (sent == 0)
			break;
	}
	return read_file(copy.path());
}

/*
 * The view serves agents the way securityfs does. rust-keylime opens the
 * log once and, at every quote, reads on from its last offset: a
 * descriptor held open sees the records measured and saved since, and its
 * offsets hold. busybox cat copies with sendfile(), which reads through the
 * page cache and so stops at the file's size.
 */
KTAP_TEST(the_view_serves_a_held_fd_and_sendfile)
{
	set_up();
	if (!path_exists("/dev/fuse"))
		ktap::skip("no /dev/fuse (CONFIG_FUSE_FS)");
	model().measure(2);
	::mkdir(kViewDir.c_str(), 0700);
	BackgroundKeeper view(kStore, {"mount", kViewDir});
	const std::string binary = kViewDir + "/binary_runtime_measurements";
	const std::string ascii = kViewDir + "/ascii_runtime_measurements";
	ASSERT_TRUE(eventually([&] { return path_exists(binary); }, 30s));

	UniqueFd held_binary = open_or_throw(binary, O_RDONLY);
	UniqueFd held_ascii = open_or_throw(ascii, O_RDONLY);
	UniqueFd held_count = open_or_throw(kViewDir + "/runtime_measurements_count", O_RDONLY);
	Bytes binary_before = read_all(held_binary.get());
	Bytes ascii_before = read_all(held_ascii.get());
	EXPECT_TRUE(binary_before == run_keeper(kStore, {"log"}).out);
	EXPECT_TRUE(read_all(held_count.get()) ==
		    to_bytes(std::to_string(parse_binary_list(binary_before, 20).size()) + "\n"));

	model().measure(2);
	ASSERT_EQ(save("prompt").exit_code, 0);
	model().measure(1);
	Bytes binary_full = run_keeper(kStore, {"log"}).out;
	Bytes ascii_full = run_keeper(kStore, {"log", "--format", "ascii"}).out;

	/* The held descriptors read on: the same bytes at the same offsets. */
	Bytes binary_more = read_all(held_binary.get());
	Bytes ascii_more = read_all(held_ascii.get());
	EXPECT_GT(binary_more.size(), 0u);
	Bytes binary_joined = binary_before;
	append(binary_joined, binary_more);
	EXPECT_TRUE(binary_joined == binary_full);
	Bytes ascii_joined = ascii_before;
	append(ascii_joined, ascii_more);
	EXPECT_TRUE(ascii_joined == ascii_full);
	ASSERT_EQ(::lseek(held_binary.get(), static_cast<off_t>(binary_before.size()), SEEK_SET),
		  static_cast<off_t>(binary_before.size()));
	EXPECT_TRUE(read_all(held_binary.get()) == binary_more);
	/* The held count file counts anew on a read from 0, as securityfs's does. */
	ASSERT_EQ(::lseek(held_count.get(), 0, SEEK_SET), 0);
	EXPECT_TRUE(read_all(held_count.get()) ==
		    to_bytes(std::to_string(parse_binary_list(binary_full, 20).size()) + "\n"));

	/* The size is the content's, so sendfile() copies all of it. */
	struct stat st {};
	ASSERT_EQ(::stat(binary.c_str(), &st), 0);
	EXPECT_EQ(static_cast<std::size_t>(st.st_size), binary_full.size());
	UniqueFd fresh = open_or_throw(binary, O_RDONLY);
	EXPECT_TRUE(copy_with_sendfile(fresh.get()) == binary_full);
	UniqueFd fresh_ascii = open_or_throw(ascii, O_RDONLY);
	EXPECT_TRUE(copy_with_sendfile(fresh_ascii.get()) == ascii_full);

	held_binary.reset();
	held_ascii.reset();
	held_count.reset();
	fresh.reset();
	fresh_ascii.reset();
	EXPECT_EQ(view.stop(), 0);
	expect_full_log_is_the_model();
}

/*
 * Makes the journal give the first group of @journal an ascii size of
 * @delta bytes more, in every entry of the group, with checksums that check
 * out: a journal that is wrong, not damaged.
 */
void change_first_ascii_size(const std::string &journal, std::int32_t delta)
{
	constexpr std::uint32_t kBootEntry = 5;
	Bytes file = read_file(journal);
	std::optional<std::uint64_t> first;

	for (std::size_t at = 0; at + kJournalEntry <= file.size(); at += kJournalEntry) {
		ByteView entry = ByteView(file).subspan(at, kJournalEntry);

		if (load_le32(entry, 4) == kBootEntry)
			continue;
		if (!first)
			first = load_le64(entry, 8);
		if (load_le64(entry, 8) != *first)
			continue;
		store_le32(file, at + 44, static_cast<std::uint32_t>(load_le32(entry, 44) + delta));
		Bytes checksum = hash(HashAlgo::sha256, ByteView(file).subspan(at, 80));
		std::copy(checksum.begin(), checksum.begin() + 16,
			  file.begin() + static_cast<std::ptrdiff_t>(at + 80));
	}
	write_file(journal, file);
}

/*
 * The ascii view places each group by the size the journal gives it: a
 * group whose text does not fill its place exactly is refused (EIO), not
 * served shifting the groups after it; the binary view still serves.
 */
KTAP_TEST(the_view_refuses_a_group_whose_ascii_size_is_wrong)
{
	set_up();
	if (!path_exists("/dev/fuse"))
		ktap::skip("no /dev/fuse (CONFIG_FUSE_FS)");
	model().measure(3);
	ASSERT_EQ(save("prompt").exit_code, 0);
	model().measure(2);
	ASSERT_EQ(save("prompt").exit_code, 0);
	std::vector<std::string> logs = list_directory(kStore + "/logs");
	ASSERT_FALSE(logs.empty());
	const std::string journal = kStore + "/logs/" + logs.back() + "/journal";
	const Bytes original = read_file(journal);
	const Bytes binary_log = run_keeper(kStore, {"log"}).out;

	change_first_ascii_size(journal, -1);
	::mkdir(kViewDir.c_str(), 0700);
	{
		BackgroundKeeper view(kStore, {"mount", kViewDir});
		const std::string binary = kViewDir + "/binary_runtime_measurements";
		ASSERT_TRUE(eventually([&] { return path_exists(binary); }, 30s));
		UniqueFd ascii = open_or_throw(kViewDir + "/ascii_runtime_measurements", O_RDONLY);
		EXPECT_EQ(read_until_error(ascii.get(), 4096).error, EIO);
		UniqueFd held = open_or_throw(binary, O_RDONLY);
		EXPECT_TRUE(read_all(held.get()) == binary_log);
		ascii.reset();
		held.reset();
		EXPECT_EQ(view.stop(), 0);
	}
	write_file(journal, original);
	expect_full_log_is_the_model();
}

/*
 * A view killed outright leaves its mount behind, on which every access
 * fails with ENOTCONN, a new mount too: the next view detaches it, so
 * that its service starts again.
 */
KTAP_TEST(a_view_that_died_is_replaced_by_the_next_one)
{
	set_up();
	if (!path_exists("/dev/fuse"))
		ktap::skip("no /dev/fuse (CONFIG_FUSE_FS)");
	::mkdir(kViewDir.c_str(), 0700);
	const std::string binary = kViewDir + "/binary_runtime_measurements";
	{
		BackgroundKeeper view(kStore, {"mount", kViewDir});

		ASSERT_TRUE(eventually([&] { return path_exists(binary); }, 30s));
		view.signal(SIGKILL);
		EXPECT_EQ(view.stop(), kKilledExit);
	}
	struct stat st;
	EXPECT_NE(::stat(kViewDir.c_str(), &st), 0);
	EXPECT_EQ(errno, ENOTCONN);

	model().measure(2);
	BackgroundKeeper view(kStore, {"mount", kViewDir});
	ASSERT_TRUE(eventually([&] { return path_exists(binary); }, 30s));
	EXPECT_TRUE(view.wait_for_err("detached the mount a view that died left on " + kViewDir, 30s));
	EXPECT_EQ(model().check(read_file(binary),
				read_text_file(kViewDir + "/ascii_runtime_measurements")),
		  "");
	EXPECT_EQ(view.stop(), 0);
}

KTAP_TEST(a_kernel_without_staging_is_a_clear_error)
{
	if (!ima_securityfs_available())
		ktap::skip("no IMA securityfs");
	if (ima_staging_configured())
		ktap::skip("this kernel has staging: the keeper-nostaging suite checks this");
	TempDir store("keeper_store");
	KeeperRun run = run_keeper(store.path(), {"save"});
	EXPECT_EQ(run.exit_code, 1);
	EXPECT_TRUE(contains(run.err, "no IMA measurement staging"));
	EXPECT_TRUE(contains(run.err, "CONFIG_IMA_STAGING"));
	EXPECT_EQ(list_directory(store.path()), std::vector<std::string>());
}

/*
 * Booted without a TPM (the keeper-notpm suite): verify has no PCR to
 * replay the full log to, says so and changes nothing; count and log
 * serve the full log all the same.
 */
KTAP_TEST(without_a_tpm_verify_is_a_clear_error)
{
	if (!no_tpm_expected())
		ktap::skip("needs a boot without a TPM: the keeper-notpm suite checks this");
	set_up();
	model().measure(3);
	ASSERT_EQ(save("prompt").exit_code, 0);
	model().measure(2);

	std::map<std::string, Bytes> files = store_files();
	ListState lists = capture_lists();
	KeeperRun verify = run_keeper(kStore, {"verify"});
	EXPECT_EQ(verify.exit_code, 1);
	EXPECT_TRUE(contains(verify.err, "no TPM"));
	EXPECT_TRUE(contains(verify.err, "nothing to verify against"));
	EXPECT_TRUE(store_files() == files);
	EXPECT_EQ(lists_changed_since(lists), "");

	expect_full_log_is_the_model();
	KeeperRun count = run_keeper(kStore, {"count"});
	EXPECT_EQ(count.exit_code, 0);
	EXPECT_EQ(count.out_text(), std::to_string(model().records().size()) + "\n");
}

int main(int argc, char **argv)
{
	std::vector<char *> args(argv, argv + argc + 1);

	if (take_flag_option(args, "--no-tpm"))
		expect_no_tpm();
	records_may_be_lost = take_flag_option(args, "--lose-records");
	return ktap::run(static_cast<int>(args.size() - 1), args.data());
}
