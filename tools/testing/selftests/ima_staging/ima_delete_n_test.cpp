// SPDX-License-Identifier: GPL-2.0
/*
 * Staging and deleting N: "N" written to an original measurement file
 * deletes the N oldest records of the current list; and the attestation
 * agent that computes N from a TPM quote of PCR 10.
 *
 * Needs what ima_prompt_test needs. On a kernel booted with
 * ima_flush_htable, N is refused: only that is tested there.
 */
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <optional>
#include <system_error>
#include <thread>
#include <unistd.h>

#include "ktap.h"
#include "lib/agent.h"
#include "lib/generator.h"
#include "lib/ima.h"
#include "lib/memory.h"
#include "lib/options.h"
#include "lib/readers.h"
#include "lib/require.h"
#include "lib/staging.h"

using namespace ima;

namespace {

const std::string kUlongMax = "18446744073709551615";

/*
 * Agent rounds racing one generator: enough to see records appended after
 * a quote kept while the quoted ones go. The stress suite runs the long,
 * crowded version.
 */
constexpr int kRounds = 4;

/* Requests an original file rejects, and how. */
const std::vector<std::pair<std::string, int>> kBadNumberRequests = {
	{"0\n", EINVAL},
	{"00\n", EINVAL},
	{"-1\n", EINVAL},
	{"+5\n", EINVAL},
	{" 5\n", EINVAL},
	{"5 \n", EINVAL},
	{"5x\n", EINVAL},
	{"0x10\n", EINVAL},
	{"1e3\n", EINVAL},
	{"5", EINVAL},				/* no newline */
	{"5\n\n", EINVAL},
	{std::string("1\0\n", 3), EINVAL},	/* embedded NUL */
	{"A\n", EINVAL},
	{"D\n", EINVAL},
	{"\n", EINVAL},
	{std::string(), EINVAL},
	{"18446744073709551616\n", ERANGE},	/* 2^64 */
	{"99999999999999999999\n", ERANGE},
	{"0" + kUlongMax + "\n", EINVAL},	/* 22 bytes */
	{kUlongMax + "\n", ENOENT},		/* 21 bytes: a valid request */
};

/* For tests that delete with N: not possible with ima_flush_htable. */
void require_n()
{
	require_staging();
	if (booted_with_flush_htable())
		ktap::skip("ima_flush_htable refuses N");
}

UniqueFd open_original_writer(const std::string &name = original_request_file())
{
	return open_or_throw(ima_path(name), O_WRONLY);
}

/* The current lists of @before without their @n oldest records. */
std::map<std::string, Bytes, std::less<>> without_oldest(const ListState &before, std::size_t n)
{
	std::map<std::string, Bytes, std::less<>> lists;

	for (const auto &[algo, bytes] : before.current) {
		std::vector<Record> records = parse_binary_list(bytes, *digest_size_by_name(algo));
		records.erase(records.begin(), records.begin() + n);
		lists[algo] = serialize_binary_list(records);
	}
	return lists;
}

/* Makes sure the current list holds at least @n records. */
void ensure_records(std::size_t n)
{
	while (read_measurement_count() < n)
		create_measurement();
}

/*
 * An agent that keeps a reader of the current list open on one fd and
 * deletes with N on another: the reader, @extra bytes into the third
 * record, gets at most the rest of that record, then ESTALE (which
 * consumes nothing) until it seeks to 0, which reads the new list. It
 * never skips a record nor sees one twice.
 */
void check_reader_across_n(ListFormat format, std::size_t extra)
{
	const std::string path = ima_path(list_file_name(format, "sha1"));

	ensure_records(6);
	UniqueFd reader = open_or_throw(path, O_RDONLY);
	UniqueFd writer = open_original_writer();
	Bytes before = read_file(path);
	std::size_t two = leading_records_size(format, before, 2);
	std::size_t three = leading_records_size(format, before, 3);
	auto at = [&](std::size_t offset) { return before.begin() + static_cast<long>(offset); };

	ASSERT_EQ(read_exact(reader.get(), two + extra), Bytes(before.begin(), at(two + extra)));
	ASSERT_EQ(save_and_delete_oldest(writer.get(), 2), 0);

	ReadsUntilError rest = read_until_error(reader.get(), kSmallReads);
	EXPECT_EQ(errno_name(rest.error), "ESTALE");
	ASSERT_LE(rest.bytes.size(), three - two - extra);
	EXPECT_EQ(rest.bytes, Bytes(at(two + extra), at(two + extra + rest.bytes.size())));
	ReadsUntilError again = read_until_error(reader.get(), kSmallReads);
	EXPECT_EQ(errno_name(again.error), "ESTALE");
	EXPECT_EQ(again.bytes.size(), 0u);
	/*
	 * An offset into the changed list means nothing: no seek, no pread
	 * to another offset than where the reader stands (or 0).
	 */
	std::uint8_t byte;
	EXPECT_EQ(::lseek(reader.get(), 1, SEEK_SET), -1);
	EXPECT_EQ(errno_name(errno), "ESTALE");
	EXPECT_EQ(::pread(reader.get(), &byte, 1, static_cast<off_t>(three)), -1);
	EXPECT_EQ(errno_name(errno), "ESTALE");

	ASSERT_EQ(::lseek(reader.get(), 0, SEEK_SET), 0);
	EXPECT_EQ(read_all(reader.get()), read_file(path));
	EXPECT_EQ(check_invariant(), "");
}

/*
 * Rounds of readers racing N: the race is caught in some rounds only, so
 * the full tier runs several (--reader-rounds).
 */
std::uint64_t &reader_rounds()
{
	static std::uint64_t rounds = 4;

	return rounds;
}

/* The first @n lines of @text taken off. */
Bytes without_first_lines(const Bytes &text, std::size_t n)
{
	auto from = text.begin();

	while (n--)
		from = std::find(from, text.end(), '\n') + 1;
	return Bytes(from, text.end());
}

/* What a reader can see of the lists: the sha1 files and the count. */
struct ListViews {
	Bytes binary;
	Bytes ascii;
	Bytes count;
};


const std::string &binary_path()
{
	static const std::string path = ima_path(list_file_name(ListFormat::binary, "sha1"));
	return path;
}

const std::string &ascii_path()
{
	static const std::string path = ima_path(list_file_name(ListFormat::ascii, "sha1"));
	return path;
}

ListViews read_views()
{
	return {read_file(binary_path()), read_file(ascii_path()),
		to_bytes(read_text_file(ima_path("runtime_measurements_count")))};
}

ListViews without_oldest_views(const ListViews &before, std::size_t n)
{
	std::vector<Record> records = parse_binary_list(before.binary, 20);

	records.erase(records.begin(), records.begin() + static_cast<long>(n));
	return {serialize_binary_list(records), without_first_lines(before.ascii, n),
		to_bytes(std::to_string(records.size()) + "\n")};
}

/* A whole file read through a fresh fd, or nothing if a read met ESTALE. */
std::optional<Bytes> read_fresh(const std::string &path)
{
	UniqueFd fd = open_or_throw(path, O_RDONLY);
	ReadsUntilError all = read_until_error(fd.get(), 1 << 16);

	if (all.error == ESTALE)
		return std::nullopt;
	if (all.error)
		throw std::system_error(all.error, std::generic_category(), "read " + path);
	return std::move(all.bytes);
}

/* What the readers of one round of N saw. */
struct ReaderTally {
	unsigned long before = 0;
	unsigned long after = 0;
	unsigned long stale = 0;
	std::vector<std::string> between;	/* what was neither */

	void see(const std::string &what, const std::optional<Bytes> &got,
		 const Bytes &old_view, const Bytes &new_view)
	{
		if (!got)
			stale++;
		else if (*got == old_view)
			before++;
		else if (*got == new_view)
			after++;
		else if (between.size() < 5)
			between.push_back(ktap::str(what, ": ", got->size(), " bytes, before ",
						    old_view.size(), ", after ", new_view.size()));
		else
			between.push_back(what);
	}
};

/*
 * One round: two threads re-read the lists from fresh fds, in tight loops,
 * while N deletes all but @kept records of @length: one the current lists
 * and the count, the other the staged lists (empty before and after). They
 * go on for a few loops after N returned.
 */
ReaderTally race_readers_with_n(std::size_t length, std::size_t kept)
{
	ensure_records(length);
	const ListViews before = read_views();
	const std::size_t n = parse_binary_list(before.binary, 20).size() - kept;
	const ListViews after = without_oldest_views(before, n);
	const Bytes no_list;
	const std::string staged_binary = ima_path(list_file_name(ListFormat::binary, "sha1", true));
	const std::string staged_ascii = ima_path(list_file_name(ListFormat::ascii, "sha1", true));
	const std::string count_path = ima_path("runtime_measurements_count");
	std::atomic<int> started = 0;
	std::atomic<bool> n_done = false;
	ReaderTally current_tally, staged_tally;

	/* Runs @read_once until N is done, then three more times. */
	auto reader_loop = [&](auto read_once) {
		return std::thread([&, read_once]() {
			started++;
			for (int after_n = 0; after_n < 3;) {
				read_once();
				if (n_done)
					after_n++;
			}
		});
	};
	UniqueFd writer = open_original_writer();
	std::thread current = reader_loop([&]() {
		current_tally.see("binary", read_fresh(binary_path()), before.binary, after.binary);
		current_tally.see("ascii", read_fresh(ascii_path()), before.ascii, after.ascii);
		current_tally.see("count", to_bytes(read_text_file(count_path)), before.count,
				  after.count);
	});
	std::thread staged = reader_loop([&]() {
		staged_tally.see("staged binary", read_fresh(staged_binary), no_list, no_list);
		staged_tally.see("staged ascii", read_fresh(staged_ascii), no_list, no_list);
	});
	while (started < 2)
		std::this_thread::yield();
	int n_result = save_and_delete_oldest(writer.get(), n);
	n_done = true;
	current.join();
	staged.join();
	EXPECT_EQ(n_result, 0);

	current_tally.before += staged_tally.before;
	current_tally.after += staged_tally.after;
	current_tally.stale += staged_tally.stale;
	current_tally.between.insert(current_tally.between.end(), staged_tally.between.begin(),
				     staged_tally.between.end());
	return current_tally;
}

} // namespace

/*
 * Every read of either list sees it as it was before N or after it: never
 * an empty or partial current list while N walks, never a current record
 * in the staged files, never a count in between.
 */
KTAP_TEST(readers_see_the_list_before_or_after_n_never_between)
{
	require_n();
	unsigned long between = 0;

	for (std::uint64_t round_number = 1; round_number <= reader_rounds(); round_number++) {
		ktap::ScopedContext context("round " + std::to_string(round_number));
		ReaderTally tally = race_readers_with_n(3000, 10);

		ktap::note("round ", round_number, ": ", tally.before, " reads before N, ",
			   tally.after, " after, ", tally.stale, " ESTALE, ",
			   tally.between.size(), " in between");
		for (std::size_t i = 0; i < tally.between.size() && i < 5; i++)
			ktap::note("  in between: ", tally.between[i]);
		between += tally.between.size();
		EXPECT_GT(tally.after, 0u);
	}
	EXPECT_EQ(between, 0ul);
	EXPECT_EQ(check_invariant(), "");
}

/* The suites boot with other templates: check that they are in effect. */
KTAP_TEST(records_have_the_booted_templates)
{
	EXPECT_EQ(check_booted_templates(), "");
}

KTAP_TEST(a_reader_on_another_fd_gets_estale_after_n_never_a_skip)
{
	require_n();
	for (ListFormat format : {ListFormat::binary, ListFormat::ascii}) {
		for (std::size_t extra : {0, 5}) {
			ktap::ScopedContext context(
				ktap::str(format == ListFormat::binary ? "binary" : "ascii",
					  " list, ", extra, " bytes into the third record"));
			check_reader_across_n(format, extra);
		}
	}
}

/*
 * N changes the current lists of every algorithm, not only sha1: a reader
 * partway through any of them, binary or ascii, gets ESTALE.
 */
KTAP_TEST(a_reader_of_every_current_list_file_gets_estale_after_n)
{
	require_n();
	ensure_records(3);
	std::vector<PartwayReader> readers = open_partway_readers(false);
	UniqueFd writer = open_original_writer();

	ASSERT_EQ(save_and_delete_oldest(writer.get(), 1), 0);
	expect_every_reader_stale(readers);
	EXPECT_EQ(check_invariant(), "");
}

KTAP_TEST(delete_the_oldest_record)
{
	require_n();
	ensure_records(3);
	UniqueFd fd = open_original_writer();
	ListState before = capture_lists();

	ASSERT_EQ(save_and_delete_oldest(fd.get(), 1), 0);
	ListState after = capture_lists();
	EXPECT_EQ(after.current, without_oldest(before, 1));
	EXPECT_EQ(after.count, before.count - 1);
	EXPECT_EQ(after.staged_records(), 0u);
	EXPECT_EQ(check_invariant(), "");
}

/* The fd N was written to is rewound: its next read is the new list. */
KTAP_TEST(n_rewinds_the_file_it_was_written_to)
{
	require_n();
	ensure_records(4);
	UniqueFd fd = open_or_throw(ima_path(original_request_file()), O_RDWR);
	Bytes list = read_all(fd.get());
	ASSERT_GT(list.size(), 0u);
	EXPECT_EQ(read_all(fd.get()).size(), 0u);

	ASSERT_EQ(save_and_delete_oldest(fd.get(), 2), 0);
	EXPECT_EQ(read_all(fd.get()), read_binary_list_bytes("sha1"));
	EXPECT_EQ(check_invariant(), "");
}

KTAP_TEST(delete_every_record)
{
	require_n();
	ensure_records(2);
	UniqueFd fd = open_original_writer();
	ListState before = capture_lists();

	ASSERT_EQ(save_and_delete_oldest(fd.get(), before.count), 0);
	ListState after = capture_lists();
	EXPECT_EQ(after.count, 0ul);
	for (const auto &[algo, bytes] : after.current)
		EXPECT_EQ(bytes.size(), 0u);
	EXPECT_EQ(check_invariant(), "");
}

KTAP_TEST(delete_more_than_every_record_fails_with_enoent)
{
	require_n();
	ensure_records(2);
	UniqueFd fd = open_original_writer();
	ListState before = capture_lists();

	EXPECT_EQ(write_request(fd.get(), std::to_string(before.count + 1) + "\n"), ENOENT);
	EXPECT_EQ(lists_changed_since(before), "");
}

KTAP_TEST(bad_numbers_fail_and_change_nothing)
{
	require_n();
	ensure_records(2);
	UniqueFd fd = open_original_writer();
	ListState before = capture_lists();

	for (const auto &[request, error] : kBadNumberRequests) {
		ktap::ScopedContext context("request of " + std::to_string(request.size()) +
					    " bytes: " + to_hex(as_bytes(request)));
		EXPECT_EQ(write_request(fd.get(), request), error);
	}
	EXPECT_EQ(lists_changed_since(before), "");
}

KTAP_TEST(n_on_a_staged_file_fails_with_einval)
{
	require_n();
	ensure_records(2);
	ListState before = capture_lists();

	for (const std::string &algo : list_algos())
		for (ListFormat format : {ListFormat::binary, ListFormat::ascii}) {
			std::string name = list_file_name(format, algo, true);

			ktap::ScopedContext context(name);
			EXPECT_EQ(send_request(name, "1\n"), EINVAL);
		}
	EXPECT_EQ(lists_changed_since(before), "");
}

KTAP_TEST(n_while_records_are_staged_fails_with_eexist)
{
	require_n();
	ensure_records(2);
	UniqueFd staged = open_or_throw(ima_path(staged_request_file()), O_RDWR);
	UniqueFd original = open_original_writer();

	ASSERT_EQ(write_request(staged.get(), "A\n"), 0);
	create_measurement();
	ListState before = capture_lists();
	EXPECT_EQ(write_request(original.get(), "1\n"), EEXIST);
	EXPECT_EQ(lists_changed_since(before), "");

	saved_store().append(read_staged_lists());
	ASSERT_EQ(write_request(staged.get(), "D\n"), 0);
	EXPECT_EQ(check_invariant(), "");
}

KTAP_TEST(n_through_every_original_file_acts_on_one_list)
{
	require_n();
	for (const std::string &algo : list_algos())
		for (ListFormat format : {ListFormat::binary, ListFormat::ascii}) {
			std::string name = list_file_name(format, algo);
			ktap::ScopedContext context(name);

			ensure_records(2);
			UniqueFd fd = open_original_writer(name);
			ListState before = capture_lists();
			ASSERT_EQ(save_and_delete_oldest(fd.get(), 1), 0);
			EXPECT_EQ(capture_lists().current, without_oldest(before, 1));
		}
	EXPECT_EQ(check_invariant(), "");
}

KTAP_TEST(n_is_refused_with_flush_htable)
{
	require_staging();
	if (!booted_with_flush_htable())
		ktap::skip("needs a boot with ima_flush_htable");
	ensure_records(2);
	UniqueFd fd = open_original_writer();
	ListState before = capture_lists();

	EXPECT_EQ(write_request(fd.get(), "1\n"), EINVAL);
	EXPECT_EQ(write_request(fd.get(), std::to_string(before.count) + "\n"), EINVAL);
	EXPECT_EQ(lists_changed_since(before), "");
}

KTAP_TEST(agent_deletes_what_the_quote_covers)
{
	require_n();
	AttestationKey key;
	UniqueFd fd = open_original_writer();

	ensure_records(3);
	AgentRound round = agent_round(fd.get(), key);
	ktap::note("quote covered ", round.quoted, " records, ", round.left, " left");
	EXPECT_GT(round.quoted, 0u);
	/* The saved records are exactly those the quote covers. */
	EXPECT_EQ(pcr_composite_digest(replay_pcr(
			  parse_binary_list(saved_store().saved("sha256"), 32), HashAlgo::sha256)),
		  round.quoted_digest);
	EXPECT_EQ(check_invariant(), "");
}

KTAP_TEST(agent_rounds_race_a_measurement_generator)
{
	require_n();
	AttestationKey key;
	const unsigned long records_before = saved_store().records() + read_measurement_count();
	std::size_t deleted = 0, kept_after_quote = 0;

	MeasurementGenerator generator;
	for (int round_number = 1; round_number <= kRounds; round_number++) {
		ktap::ScopedContext context("round " + std::to_string(round_number));
		UniqueFd fd = open_original_writer();
		AgentRound round = agent_round(fd.get(), key);
		fd.reset();

		deleted += round.quoted;
		kept_after_quote += round.left;
		EXPECT_EQ(pcr_composite_digest(replay_pcr(
				  parse_binary_list(saved_store().saved("sha256"), 32),
				  HashAlgo::sha256)),
			  round.quoted_digest);
		generator.pause();
		EXPECT_EQ(check_invariant(), "");
		generator.resume();
	}
	unsigned long created = generator.stop();

	ktap::note(kRounds, " rounds: ", created, " records created meanwhile, ", deleted,
		   " deleted, ", kept_after_quote, " found appended after their quote");
	EXPECT_GT(deleted, 0u);
	EXPECT_EQ(saved_store().records() + read_measurement_count(), records_before + created);
	EXPECT_EQ(check_invariant(), "");
	EXPECT_EQ(check_invariant_with_evmctl(), "");
}

/* A record deleted with N leaves its digest: its file is not measured again. */
KTAP_TEST(hash_table_across_n)
{
	require_n();
	const std::string before = std::string(kMeasureDir) + "/hash-before-n";

	measure_file(before, "measured before N\n");
	ASSERT_EQ(occurrences(before), 1u);
	UniqueFd writer = open_original_writer();
	ASSERT_EQ(save_and_delete_oldest(writer.get(), read_measurement_count()), 0);
	ASSERT_EQ(occurrences(before), 0u);

	measure_again(before, "measured before N\n");
	EXPECT_EQ(occurrences(before), 0u);
	/* positive control: a file never measured is recorded, once */
	const std::string fresh = std::string(kMeasureDir) + "/hash-fresh-after-n";
	measure_file(fresh, "never measured before\n");
	EXPECT_EQ(occurrences(fresh), 1u);
	EXPECT_EQ(check_invariant(), "");
}

/*
 * N gives the deleted records' memory back, all but their digests. Only the
 * records measured here are deleted: the current list is emptied first.
 */
KTAP_TEST(n_gives_back_most_of_the_records_memory)
{
	require_n();
	require_memory_figures();
	UniqueFd writer = open_original_writer();
	if (unsigned long count = read_measurement_count())
		ASSERT_EQ(save_and_delete_oldest(writer.get(), count), 0);

	expect_deletion_gives_memory_back([&]() {
		ASSERT_EQ(save_and_delete_oldest(writer.get(), kMemoryRecords), 0);
	});
}

KTAP_TEST(invariant_holds_at_the_end)
{
	require_staging();
	ktap::note(saved_store().records(), " records saved and deleted, ",
		   read_measurement_count(), " in the current list");
	EXPECT_EQ(check_invariant(), "");
	EXPECT_EQ(check_invariant_with_evmctl(), "");
}

int main(int argc, char **argv)
{
	std::vector<char *> args(argv, argv + argc + 1);

	if (take_flag_option(args, "--no-memory-figures"))
		leave_memory_figures_out();
	if (!take_number_options(args, {{"--reader-rounds", &reader_rounds()}}) ||
	    reader_rounds() == 0) {
		std::fprintf(stderr,
			     "usage: %s [--reader-rounds N] [--no-memory-figures] [-t TEST]... [-l]\n",
			     argv[0]);
		return 2;
	}
	return ktap::run(static_cast<int>(args.size() - 1), args.data());
}
