// SPDX-License-Identifier: GPL-2.0
/*
 * Stress: an attestation agent stages and deletes records round after round,
 * alternating the two flavors (A, read the _staged lists, save, D; and read
 * the oldest records, save, N), while measurement generators keep adding
 * records and reader processes keep opening and reading every measurement
 * file. The readers make the agent's write opens fail with EBUSY and the
 * agent makes theirs fail: every errno any party sees is counted and must
 * be one the contract allows there. At the end, the saved groups and the
 * current list replay to PCR 10 and the record counts add up.
 *
 * Needs what ima_prompt_test needs. On a kernel booted with
 * ima_flush_htable every round is a prompt round (N is refused there).
 *
 *	ima_stress_test [--rounds N] [-t TEST]...
 */
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <utility>

#include "ktap.h"
#include "lib/generator.h"
#include "lib/ima.h"
#include "lib/options.h"
#include "lib/require.h"
#include "lib/staging.h"

using namespace ima;

namespace {

constexpr int kGenerators = 4;
constexpr int kReaders = 3;
constexpr std::uint64_t kDefaultRounds = 100;
/* The agent waits up to this long between rounds, as a periodic agent does. */
constexpr int kMaxRoundIntervalMs = 200;
/* Rounds between checks of the invariant with the generators paused. */
constexpr int kCheckEvery = 10;
/* How long readers may keep the agent from opening a file for write. */
constexpr auto kWriterOpenDeadline = std::chrono::seconds(120);
constexpr auto kWriterOpenRetryPause = std::chrono::microseconds(500);
/*
 * After each file, a reader pauses this many times as long as it held the
 * file open, plus up to kReaderMaxJitterUs: with kReaders readers, all of
 * them are idle a good part of the time, and the agent gets in.
 */
constexpr int kReaderIdleFactor = 3;
constexpr int kReaderMaxJitterUs = 2000;

/* Situations in which a party makes a call, and the errnos the contract allows there. */
const std::map<std::string, std::set<int>, std::less<>> kAllowedErrnos = {
	/* EBUSY while the agent holds a file open for write. */
	{"reader open", {0, EBUSY}},
	{"reader read", {0}},
	/* EBADMSG stands for a list that did not parse or verify. */
	{"reader content", {0}},
	/* EBUSY while a reader holds a file open. */
	{"agent open", {0, EBUSY}},
	/* The writer's own opens and reads. */
	{"agent read", {0}},
	/* ENOENT if no record was added since the last deletion. */
	{"agent A", {0, ENOENT}},
	/* ENOMEM leaves the records staged: the agent tries again. */
	{"agent D", {0, ENOMEM}},
	{"agent N", {0}},
};

/* How often each errno (0 for success) was seen, per situation. */
class ErrnoTally {
public:
	void add(const std::string &situation, int error) { counts_[situation][error]++; }

	void merge(const ErrnoTally &other)
	{
		for (const auto &[situation, errors] : other.counts_)
			for (const auto &[error, count] : errors)
				counts_[situation][error] += count;
	}

	/* "situation\terrno\tcount" lines, to send from a child. */
	std::string serialize() const
	{
		std::string text;

		for (const auto &[situation, errors] : counts_)
			for (const auto &[error, count] : errors)
				text += situation + "\t" + std::to_string(error) + "\t" +
					std::to_string(count) + "\n";
		return text;
	}

	static ErrnoTally parse(std::string_view text);

	unsigned long count(const std::string &situation, int error) const
	{
		auto errors = counts_.find(situation);

		if (errors == counts_.end())
			return 0;
		auto found = errors->second.find(error);
		return found == errors->second.end() ? 0 : found->second;
	}

	const std::map<std::string, std::map<int, unsigned long>> &counts() const
	{
		return counts_;
	}

private:
	std::map<std::string, std::map<int, unsigned long>> counts_;
};

ErrnoTally ErrnoTally::parse(std::string_view text)
{
	ErrnoTally tally;

	while (!text.empty()) {
		std::size_t newline = text.find('\n');
		std::string line(text.substr(0, newline));
		std::size_t first = line.find('\t');
		std::size_t second = line.find('\t', first + 1);

		if (first == std::string::npos || second == std::string::npos)
			throw std::runtime_error("bad tally line '" + line + "'");
		tally.counts_[line.substr(0, first)][std::stoi(line.substr(first + 1))] +=
			std::stoul(line.substr(second + 1));
		text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
	}
	return tally;
}

bool errno_allowed(const std::string &situation, int error)
{
	auto allowed = kAllowedErrnos.find(situation);

	return allowed != kAllowedErrnos.end() && allowed->second.count(error);
}

/* "EBUSY x12, success x3" */
std::string describe_errors(const std::map<int, unsigned long> &errors)
{
	std::string text;

	for (const auto &[error, count] : errors)
		text += (text.empty() ? "" : ", ") + (error ? errno_name(error) : "success") +
			" x" + std::to_string(count);
	return text;
}

/* Prints every situation's errnos and fails the test for each one not allowed. */
void check_tally(const ErrnoTally &tally)
{
	for (const auto &[situation, errors] : tally.counts()) {
		ktap::note(situation, ": ", describe_errors(errors));
		for (const auto &[error, count] : errors)
			if (!errno_allowed(situation, error))
				ktap::fail_at(__FILE__, __LINE__,
					      situation + ": " + errno_name(error) + " x" +
						      std::to_string(count) +
						      " is not an outcome the contract allows");
	}
}

/* Every measurement file, and the symlinks to the sha1 files. */
std::vector<std::string> every_measurement_file()
{
	std::vector<std::string> names = all_list_files();

	for (ListFormat format : {ListFormat::binary, ListFormat::ascii})
		for (bool staged : {false, true})
			names.push_back(list_symlink_name(format, staged));
	return names;
}

bool is_staged_file(const std::string &name)
{
	return name.ends_with(kStagedSuffix);
}

bool is_binary_file(const std::string &name)
{
	return name.starts_with("binary_");
}

/* The algorithm of a list file name ("sha1" for the symlinks). */
std::string file_algo(const std::string &name)
{
	for (const std::string &algo : list_algos())
		if (name == list_file_name(ListFormat::binary, algo, is_staged_file(name)) ||
		    name == list_file_name(ListFormat::ascii, algo, is_staged_file(name)))
			return algo;
	return "sha1";
}

/*
 * What is wrong with @content read from @name, or an empty string: it must
 * parse, its template digests must verify, and no record may appear twice.
 */
std::string content_problem(const std::string &name, const Bytes &content)
{
	std::string algo = file_algo(name);
	std::vector<Record> records;

	try {
		if (is_binary_file(name))
			records = parse_binary_list(content, *digest_size_by_name(algo));
		else
			records = parse_ascii_list(std::string(content.begin(), content.end()));
	} catch (const ParseError &e) {
		return name + ": " + e.what();
	}
	std::optional<HashAlgo> hash_algo = hash_algo_from_name(algo);
	std::set<Bytes> digests;
	for (const Record &record : records) {
		if (hash_algo && !template_digest_matches(record, *hash_algo))
			return name + ": template digest does not verify: " + ktap::str(record);
		if (!record.is_violation() && !digests.insert(record.template_digest).second)
			return name + ": record listed twice: " + ktap::str(record);
	}
	return "";
}

/* Opens, reads, checks and closes @name, as a reader process does. */
void read_file_once(const std::string &name, ErrnoTally &tally)
{
	OpenResult opened = try_open(ima_path(name), O_RDONLY);
	Bytes content;

	tally.add("reader open", opened.error);
	if (opened.error)
		return;
	try {
		content = read_all(opened.fd.get());
	} catch (const std::system_error &e) {
		tally.add("reader read", e.code().value());
		return;
	}
	opened.fd.reset();
	tally.add("reader read", 0);
	std::string problem = content_problem(name, content);
	if (!problem.empty())
		std::fprintf(stderr, "reader %d: %s\n", ::getpid(), problem.c_str());
	tally.add("reader content", problem.empty() ? 0 : EBADMSG);
}

/* Reads every file once, pausing after each in proportion to the time it took. */
void read_every_file_once(const std::vector<std::string> &files, ErrnoTally &tally,
			  std::minstd_rand &random)
{
	std::uniform_int_distribution<int> jitter(0, kReaderMaxJitterUs);

	for (const std::string &name : files) {
		auto start = std::chrono::steady_clock::now();

		read_file_once(name, tally);
		auto busy = std::chrono::steady_clock::now() - start;
		std::this_thread::sleep_for(busy * kReaderIdleFactor +
					    std::chrono::microseconds(jitter(random)));
	}
}

/* The tally lives in the child, on the stack of this call. */
LoopingChild start_reader(unsigned seed)
{
	const std::vector<std::string> files = every_measurement_file();
	std::minstd_rand random(seed);
	ErrnoTally tally;

	return LoopingChild([&]() { read_every_file_once(files, tally, random); },
			    [&]() { return tally.serialize(); });
}

/* What the agent did. */
struct AgentFigures {
	std::uint64_t rounds = 0;
	unsigned long deleted = 0;
	unsigned long empty_rounds = 0;
};

/*
 * The kernel's runtime_measurements_count read before and after a request,
 * and how many records were added meanwhile: at least added_min (the
 * measurements the generators both began and completed in between), at
 * most added_max (those they began before it ended and had not completed
 * when it began, and the violations counted in between).
 */
struct CountWindow {
	unsigned long before = 0;
	unsigned long after = 0;
	unsigned long added_min = 0;
	unsigned long added_max = 0;

	/*
	 * Whether @left records leaving the current list agrees with the
	 * kernel's count: after = before + added - left.
	 */
	bool allows(std::size_t left) const
	{
		return before + added_min <= after + left && after + left <= before + added_max;
	}

	std::string describe() const
	{
		return ktap::str("runtime_measurements_count went from ", before, " to ", after,
				 " while ", added_min, " to ", added_max, " records were added");
	}
};

/* The generators' progress, summed. */
using ProgressProbe = std::function<GeneratorProgress()>;

class Agent {
public:
	explicit Agent(ProgressProbe progress) : progress_(std::move(progress)) {}

	/* One round; returns how many records it deleted. */
	std::size_t prompt_round(const std::string &staged_file);
	std::size_t n_round(const std::string &original_file);

	ErrnoTally &tally() { return tally_; }
	/* Requests whose window was exact: no measurement could have been added. */
	unsigned long exact_windows() const { return exact_windows_; }

private:
	/* Counts @error; throws if the contract does not allow it in @situation. */
	void outcome(const std::string &situation, int error);
	UniqueFd open_writer(const std::string &name);
	std::map<std::string, Bytes, std::less<>> read_own_staged_lists();
	std::size_t read_own_current_count();
	/* Writes @request to @fd, and reads the kernel's count around it. */
	int counted_request(int fd, std::string_view request, CountWindow &window);
	/* Throws unless the kernel's count agrees with @left records leaving its list. */
	void check_count(std::string_view request, const CountWindow &window, std::size_t left);

	ProgressProbe progress_;
	ErrnoTally tally_;
	unsigned long exact_windows_ = 0;
};

void Agent::outcome(const std::string &situation, int error)
{
	tally_.add(situation, error);
	if (!errno_allowed(situation, error))
		throw std::system_error(error, std::generic_category(), situation);
}

/* Opens @name for write, trying again while readers keep the agent out. */
UniqueFd Agent::open_writer(const std::string &name)
{
	auto deadline = std::chrono::steady_clock::now() + kWriterOpenDeadline;

	for (;;) {
		OpenResult opened = try_open(ima_path(name), O_WRONLY);

		outcome("agent open", opened.error);
		if (!opened.error)
			return std::move(opened.fd);
		if (std::chrono::steady_clock::now() > deadline)
			throw std::runtime_error("readers kept the agent from opening " + name +
						 " for write for " +
						 std::to_string(kWriterOpenDeadline.count()) + " s");
		std::this_thread::sleep_for(kWriterOpenRetryPause);
	}
}

/* Reads through fresh opens, which the writer may make while it excludes others. */
std::map<std::string, Bytes, std::less<>> Agent::read_own_staged_lists()
{
	try {
		std::map<std::string, Bytes, std::less<>> lists = read_staged_lists();

		outcome("agent read", 0);
		return lists;
	} catch (const std::system_error &e) {
		outcome("agent read", e.code().value());
		throw;
	}
}

std::size_t Agent::read_own_current_count()
{
	try {
		std::size_t count = read_binary_list("sha1").size();

		outcome("agent read", 0);
		return count;
	} catch (const std::system_error &e) {
		outcome("agent read", e.code().value());
		throw;
	}
}

int Agent::counted_request(int fd, std::string_view request, CountWindow &window)
{
	GeneratorProgress outer_before = progress_();
	unsigned long violations_before = read_violation_count();
	window.before = read_measurement_count();
	GeneratorProgress inner_before = progress_();
	int error = write_request(fd, request);
	GeneratorProgress inner_after = progress_();
	window.after = read_measurement_count();
	unsigned long violations_after = read_violation_count();
	GeneratorProgress outer_after = progress_();

	window.added_min = inner_after.completed > inner_before.begun
				   ? inner_after.completed - inner_before.begun
				   : 0;
	window.added_max = outer_after.begun - outer_before.completed +
			   (violations_after - violations_before);
	return error;
}

void Agent::check_count(std::string_view request, const CountWindow &window, std::size_t left)
{
	exact_windows_ += window.added_min == window.added_max;
	if (!window.allows(left))
		throw std::runtime_error(ktap::str(request.substr(0, 1), " took ", left,
						   " records off the current list, but ",
						   window.describe()));
}

std::size_t Agent::prompt_round(const std::string &staged_file)
{
	UniqueFd fd = open_writer(staged_file);
	CountWindow window;
	int error = counted_request(fd.get(), "A\n", window);

	outcome("agent A", error);
	if (error) {
		check_count("A", window, 0);
		return 0;
	}
	std::map<std::string, Bytes, std::less<>> group = read_own_staged_lists();
	std::size_t staged = parse_binary_list(group.at("sha1"), 20).size();
	check_count("A", window, staged);
	do {
		error = counted_request(fd.get(), "D\n", window);
		outcome("agent D", error);
		check_count("D", window, 0);
	} while (error == ENOMEM);
	saved_store().append(group);
	return staged;
}

std::size_t Agent::n_round(const std::string &original_file)
{
	UniqueFd fd = open_writer(original_file);
	std::size_t n = read_own_current_count();

	if (n == 0)
		return 0;
	/* Reads the n oldest records of every list, writes n, saves them if that worked. */
	std::map<std::string, Bytes, std::less<>> group = read_oldest_records(n);
	CountWindow window;
	int error = counted_request(fd.get(), std::to_string(n) + "\n", window);
	outcome("agent N", error);
	check_count("N", window, n);
	saved_store().append(group);
	return n;
}

std::vector<std::string> files_named(bool staged)
{
	std::vector<std::string> names;

	for (const std::string &name : all_list_files())
		if (is_staged_file(name) == staged)
			names.push_back(name);
	return names;
}

/* The parties' processes, stopped and reaped on destruction if not stopped before. */
struct Crowd {
	std::vector<MeasurementGenerator> generators;
	std::vector<LoopingChild> readers;

	void pause_generators()
	{
		for (MeasurementGenerator &generator : generators)
			generator.pause();
	}

	void resume_generators()
	{
		for (MeasurementGenerator &generator : generators)
			generator.resume();
	}

	GeneratorProgress progress() const
	{
		GeneratorProgress sum;

		for (const MeasurementGenerator &generator : generators)
			sum += generator.progress();
		return sum;
	}
};

/* What the end checks need from the rounds. */
struct StressRun {
	bool done = false;
	unsigned long records_at_start = 0;
	unsigned long violations_at_start = 0;
	unsigned long created = 0;
	AgentFigures agent;
};

StressRun &stress_run()
{
	static StressRun run;

	return run;
}

/* How many rounds the agent runs (--rounds). */
std::uint64_t &rounds()
{
	static std::uint64_t agent_rounds = kDefaultRounds;

	return agent_rounds;
}

/* Runs the agent's rounds; a failing round is reported and ends them. */
void run_rounds(Agent &agent, Crowd &crowd, AgentFigures &figures)
{
	const std::vector<std::string> staged_files = files_named(true);
	const std::vector<std::string> original_files = files_named(false);
	std::minstd_rand random(static_cast<unsigned>(rounds()));
	std::uniform_int_distribution<int> interval(0, kMaxRoundIntervalMs);

	for (std::uint64_t round = 1; round <= rounds(); round++) {
		bool prompt = round % 2 == 1 || booted_with_flush_htable();
		const std::vector<std::string> &files = prompt ? staged_files : original_files;
		const std::string &file = files[(round / 2) % files.size()];

		try {
			std::size_t deleted = prompt ? agent.prompt_round(file) : agent.n_round(file);
			figures.deleted += deleted;
			figures.empty_rounds += deleted == 0;
		} catch (const std::exception &e) {
			ktap::fail_at(__FILE__, __LINE__,
				      ktap::str("round ", round, " (", prompt ? "A/D" : "N", " on ",
						file, "): ", e.what()));
			return;
		}
		figures.rounds = round;
		if (round % kCheckEvery == 0) {
			crowd.pause_generators();
			std::string problems = check_invariant();
			crowd.resume_generators();
			if (!problems.empty())
				ktap::fail_at(__FILE__, __LINE__,
					      ktap::str("after round ", round, ": ", problems));
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(interval(random)));
	}
}

void require_stress_run()
{
	require_staging();
	if (!stress_run().done)
		ktap::skip("needs agent_rounds_race_generators_and_readers to run first");
}

} // namespace

KTAP_TEST(agent_rounds_race_generators_and_readers)
{
	require_staging();
	StressRun &run = stress_run();
	ASSERT_EQ(read_binary_list("sha1", true).size(), 0u);
	if (booted_with_flush_htable())
		ktap::note("ima_flush_htable: every round is a prompt round");

	/* The children first: they must not inherit the agent's files. */
	Crowd crowd;
	run.violations_at_start = read_violation_count();
	run.records_at_start = read_measurement_count();
	for (int i = 0; i < kGenerators; i++)
		crowd.generators.emplace_back();
	for (int i = 0; i < kReaders; i++)
		crowd.readers.push_back(start_reader(static_cast<unsigned>(i + 1)));

	auto start = std::chrono::steady_clock::now();
	Agent agent([&crowd]() { return crowd.progress(); });
	run_rounds(agent, crowd, run.agent);
	auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
		std::chrono::steady_clock::now() - start);

	for (MeasurementGenerator &generator : crowd.generators)
		run.created += generator.stop();
	ErrnoTally tally = agent.tally();
	for (LoopingChild &reader : crowd.readers)
		tally.merge(ErrnoTally::parse(reader.stop()));
	/* Only a round that failed between A and D leaves records staged. */
	delete_anything_staged();
	run.done = true;

	ktap::note(run.agent.rounds, " rounds in ", seconds.count(), " s, ",
		   run.agent.empty_rounds, " of them found nothing to delete; ",
		   agent.exact_windows(), " requests the kernel's count judged exactly");
	check_tally(tally);
	EXPECT_EQ(run.agent.rounds, rounds());
	EXPECT_GT(run.agent.deleted, 0ul);
	EXPECT_GT(run.created, 0ul);
	/* The readers did read while the agent worked. */
	EXPECT_GT(tally.count("reader read", 0), 0ul);
}

KTAP_TEST(record_counts_add_up)
{
	require_stress_run();
	const StressRun &run = stress_run();
	unsigned long violations = read_violation_count() - run.violations_at_start;
	unsigned long expected = run.records_at_start + run.created + violations;
	unsigned long current = read_measurement_count();
	unsigned long kept = saved_store().records() + current;
	long lost = static_cast<long>(expected) - static_cast<long>(kept);

	ktap::note("rounds ", run.agent.rounds, ", created ", run.created, ", deleted ",
		   saved_store().records(), ", lost ", lost);
	ktap::note(run.records_at_start, " records at start, ", violations, " violations since, ",
		   current, " in the current list");
	/*
	 * What the kernel's count says left the current list: the records it
	 * had at the start and those added since, less those it has now.
	 */
	ASSERT_LE(current, expected);
	EXPECT_EQ(saved_store().records(), expected - current);
	EXPECT_EQ(run.agent.deleted, expected - current);
	EXPECT_EQ(current, read_binary_list("sha1").size());
}

KTAP_TEST(no_record_twice_in_the_current_list)
{
	require_stress_run();
	std::vector<Record> current = read_binary_list("sha1");
	std::set<std::string> names;

	for (const Record &record : current) {
		if (record.is_violation() || !record.ima_ng)
			continue;
		if (!names.insert(record.ima_ng->file_name).second)
			ktap::fail_at(__FILE__, __LINE__, "listed twice: " + ktap::str(record));
	}
	/* positive control: a file never measured is recorded, once */
	EXPECT_EQ(occurrences(create_measurement()), 1u);
	if (booted_with_flush_htable())
		return;
	/* Without ima_flush_htable, no file is measured twice at all. */
	for (const Record &record : parse_binary_list(saved_store().saved("sha1"), 20)) {
		if (record.is_violation() || !record.ima_ng)
			continue;
		if (!names.insert(record.ima_ng->file_name).second)
			ktap::fail_at(__FILE__, __LINE__,
				      "saved and listed again: " + ktap::str(record));
	}
}

KTAP_TEST(saved_and_current_records_replay_to_pcr10)
{
	require_stress_run();
	EXPECT_EQ(check_invariant(), "");
	EXPECT_EQ(check_invariant_with_evmctl(), "");
}

int main(int argc, char **argv)
{
	std::vector<char *> args(argv, argv + argc + 1);

	if (!take_number_options(args, {{"--rounds", &rounds()}}) || rounds() == 0) {
		std::fprintf(stderr, "usage: %s [--rounds N] [-t TEST]... [-l]\n", argv[0]);
		return 2;
	}
	return ktap::run(static_cast<int>(args.size() - 1), args.data());
}
