// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark: what reading ima-keeper's store costs when it is large. A store
 * of --records N made-up ima-ng records (default 1,000,000), adopted in
 * groups of 10,000 (the size "ima-keeper run" saves by default), is read
 * with count, log --from the last record (with the group's checkpoints
 * and without them), log --from the middle and the FUSE view (its size,
 * its last bytes, the whole file). Each figure is the median wall time of
 * three runs and the peak resident memory of the command (or of the view's
 * process), printed, never asserted; the tests check that the answers are
 * right. A command's peak counts what this program had resident when it
 * forked it (Linux keeps the high-water mark across exec): an empty
 * command shows that part.
 *
 *   ima_keeper_scale [--records N]
 */
#include <algorithm>
#include <chrono>
#include <malloc.h>
#include <cstring>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "ktap.h"
#include "lib/ima.h"
#include "lib/keeper.h"
#include "lib/require.h"
#include "lib/staging.h"

using namespace ima;
using namespace std::chrono_literals;

namespace {

const std::string kStore = "/tmp/scale-store";
const std::string kList = "/tmp/scale-list";
const std::string kViewDir = "/tmp/scale-view";
unsigned long records_in_store = 1000000;

struct Timed {
	int exit_code = -1;
	double ms = 0;
	long max_rss_kb = 0;
	std::size_t out_size = 0;
	/* Up to kKeptOutput bytes: more would add to the next command's peak. */
	Bytes out;
};

constexpr std::size_t kKeptOutput = 1 << 20;

/* Runs @argv with its stdout in a file; wall time and peak RSS (wait4). */
Timed run_timed(const std::vector<std::string> &argv)
{
	TempFile out("scale_out");
	UniqueFd out_fd = open_or_throw(out.path(), O_WRONLY | O_TRUNC);
	PreparedCommand command(argv);
	auto start = std::chrono::steady_clock::now();
	pid_t pid = ::fork();

	if (pid < 0)
		throw_errno("fork");
	if (pid == 0) {
		::dup2(out_fd.get(), STDOUT_FILENO);
		::execve(command.path(), command.argv(), command.envp());
		::_exit(127);
	}
	int status = 0;
	struct rusage usage = {};
	while (::wait4(pid, &status, 0, &usage) < 0)
		if (errno != EINTR)
			throw_errno("wait4");
	Timed timed;
	timed.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
							     start).count();
	timed.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	timed.max_rss_kb = usage.ru_maxrss;
	struct stat st;
	if (::fstat(out_fd.get(), &st))
		throw_errno("stat " + out.path());
	timed.out_size = static_cast<std::size_t>(st.st_size);
	if (timed.out_size <= kKeptOutput)
		timed.out = read_file(out.path());
	return timed;
}

/* Three runs: the median time, the largest peak, the last output. */
Timed run_keeper_timed(const std::vector<std::string> &args)
{
	std::vector<std::string> argv = {std::string(kKeeperProgram), "--store", kStore};
	std::vector<double> times;
	Timed timed;
	long max_rss_kb = 0;

	argv.insert(argv.end(), args.begin(), args.end());
	for (int i = 0; i < 3; i++) {
		timed = run_timed(argv);
		times.push_back(timed.ms);
		max_rss_kb = std::max(max_rss_kb, timed.max_rss_kb);
	}
	std::sort(times.begin(), times.end());
	timed.ms = times[1];
	timed.max_rss_kb = max_rss_kb;
	return timed;
}

void report(const std::string &what, const Timed &timed)
{
	ktap::note("figure: ", what, ": ", static_cast<long>(timed.ms + 0.5), " ms, ",
		   (timed.max_rss_kb + 512) / 1024, " MB peak RSS");
}

/* The records of the store: made-up files, each its own digest. */
Bytes made_up_list(unsigned long count)
{
	Bytes list;

	for (unsigned long i = 0; i < count; i++) {
		std::string name = "/scale/file-" + std::to_string(i);
		ImaNgEvent event{"sha256", hash(HashAlgo::sha256, as_bytes(name)), name};

		append_binary_record(list, make_ima_ng_record(event, HashAlgo::sha1));
	}
	return list;
}

long status_kb(pid_t pid, const std::string &field)
{
	std::string status = read_text_file("/proc/" + std::to_string(pid) + "/status");
	std::size_t at = status.find(field + ":");

	if (at == std::string::npos)
		throw std::runtime_error("no " + field + " in /proc/" + std::to_string(pid) + "/status");
	return std::stol(status.substr(at + field.size() + 1));
}

double ms_since(std::chrono::steady_clock::time_point start)
{
	return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
		.count();
}

/* The last @size bytes of @path, through a fresh open. */
Bytes read_tail(const std::string &path, std::size_t size)
{
	UniqueFd fd = open_or_throw(path, O_RDONLY);
	struct stat st;

	if (::fstat(fd.get(), &st))
		throw_errno("stat " + path);
	if (static_cast<std::size_t>(st.st_size) < size)
		throw std::runtime_error(path + " has only " + std::to_string(st.st_size) + " bytes");
	std::size_t at = static_cast<std::size_t>(st.st_size) - size;
	Bytes tail(size);
	if (::pread(fd.get(), tail.data(), size, static_cast<off_t>(at)) != static_cast<ssize_t>(size))
		throw_errno("pread " + path);
	return tail;
}

void view_figures(std::uint64_t total, const Bytes &last_record)
{
	::mkdir(kViewDir.c_str(), 0700);
	BackgroundKeeper view(kStore, {"mount", kViewDir});
	const std::string binary = kViewDir + "/binary_runtime_measurements";
	const std::string ascii = kViewDir + "/ascii_runtime_measurements";
	std::this_thread::sleep_for(100ms);
	for (int i = 0; i < 300 && !path_exists(binary); i++)
		std::this_thread::sleep_for(100ms);
	ASSERT_TRUE(path_exists(binary));

	auto start = std::chrono::steady_clock::now();
	Bytes tail = read_tail(binary, last_record.size());
	ktap::note("figure: view: open, size and last record of binary_runtime_measurements: ",
		   static_cast<long>(ms_since(start) + 0.5), " ms");
	EXPECT_TRUE(tail == last_record);

	start = std::chrono::steady_clock::now();
	std::size_t bytes = 0;
	{
		UniqueFd fd = open_or_throw(binary, O_RDONLY);
		std::vector<char> buffer(1 << 17);
		ssize_t got;

		while ((got = ::read(fd.get(), buffer.data(), buffer.size())) > 0)
			bytes += static_cast<std::size_t>(got);
	}
	double whole_ms = ms_since(start);
	ktap::note("figure: view: reading all of binary_runtime_measurements (", bytes / 1000000,
		   " MB): ", static_cast<long>(whole_ms + 0.5), " ms");

	start = std::chrono::steady_clock::now();
	std::string first_text = read_text_file(kViewDir + "/runtime_measurements_count");
	ktap::note("figure: view: runtime_measurements_count: ",
		   static_cast<long>(ms_since(start) + 0.5), " ms");
	EXPECT_EQ(first_text, std::to_string(total) + "\n");

	start = std::chrono::steady_clock::now();
	Bytes ascii_tail = read_tail(ascii, 64);
	ktap::note("figure: view: first size and tail of ascii_runtime_measurements (group sizes "
		   "from the journal): ", static_cast<long>(ms_since(start) + 0.5), " ms");
	start = std::chrono::steady_clock::now();
	EXPECT_TRUE(read_tail(ascii, 64) == ascii_tail);
	ktap::note("figure: view: again: ", static_cast<long>(ms_since(start) + 0.5), " ms");
	ktap::note("figure: view: peak RSS of the view's process: ",
		   status_kb(view.pid(), "VmHWM") / 1024, " MB");
	EXPECT_EQ(view.stop(), 0);
}

} // namespace

KTAP_TEST(reading_a_large_store)
{
	require_staging();
	if (!command_exists(std::string(kKeeperProgram)))
		ktap::skip("no " + std::string(kKeeperProgram) + " in $PATH");

	if (path_exists(kStore))
		throw std::runtime_error(kStore + " exists: the benchmark starts from an empty store");
	auto start = std::chrono::steady_clock::now();
	{
		Bytes list = made_up_list(records_in_store);

		write_file(kList, list);
		ktap::note(records_in_store, " made-up records (", list.size() / 1000000,
			   " MB) in ", static_cast<long>(ms_since(start) / 1000), " s");
	}
	/* Made-up records: no PCR 10 they could replay to. */
	Timed adopt = run_timed(
		{std::string(kKeeperProgram), "--store", kStore, "adopt", "--unverified", kList});
	ASSERT_EQ(adopt.exit_code, 0);
	report("adopt " + std::to_string(records_in_store) + " records", adopt);
	::unlink(kList.c_str());
	/* What the list took goes back to the system before the next forks. */
	::malloc_trim(0);
	report("an empty command (what a fork of this program starts with)",
	       run_timed({"/bin/true"}));

	std::uint64_t kernel = read_binary_list("sha1").size();
	std::uint64_t total = records_in_store + kernel;
	Timed count = run_keeper_timed({"count"});
	EXPECT_EQ(count.exit_code, 0);
	EXPECT_EQ(std::string(count.out.begin(), count.out.end()), std::to_string(total) + "\n");
	report("count", count);

	Timed last = run_keeper_timed({"log", "--from", std::to_string(records_in_store - 1)});
	EXPECT_EQ(last.exit_code, 0);
	std::vector<Record> served = parse_binary_list(last.out, 20);
	EXPECT_EQ(served.size(), kernel + 1);
	if (!served.empty() && served.front().ima_ng)
		EXPECT_EQ(served.front().ima_ng->file_name,
			  "/scale/file-" + std::to_string(records_in_store - 1));
	report("log --from " + std::to_string(records_in_store - 1) + " (the last stored record)",
	       last);
	{
		/* What the checkpoints save: the whole group checked, as a reader without them. */
		std::string checkpoints = kStore + "/logs/000001/sha256_checkpoints";
		std::string aside = checkpoints + ".aside";

		if (::rename(checkpoints.c_str(), aside.c_str()))
			throw_errno("rename " + checkpoints);
		Timed whole = run_keeper_timed({"log", "--from", std::to_string(records_in_store - 1)});
		if (::rename(aside.c_str(), checkpoints.c_str()))
			throw_errno("rename " + aside);
		EXPECT_EQ(whole.exit_code, 0);
		EXPECT_TRUE(whole.out == last.out);
		report("log --from " + std::to_string(records_in_store - 1) +
			       " without sha256_checkpoints (its whole group checked)",
		       whole);
	}

	Timed end = run_keeper_timed({"log", "--from", std::to_string(total)});
	EXPECT_EQ(end.exit_code, 0);
	EXPECT_TRUE(end.out.empty());
	report("log --from " + std::to_string(total) + " (nothing to print)", end);

	Timed half = run_keeper_timed({"log", "--from", std::to_string(records_in_store / 2)});
	EXPECT_EQ(half.exit_code, 0);
	report("log --from " + std::to_string(records_in_store / 2) + " (" +
		       std::to_string(half.out_size / 1000000) + " MB printed)",
	       half);

	Bytes last_record = serialize_binary_list({served.empty() ? Record() : served.back()});
	ASSERT_TRUE(path_exists("/dev/fuse"));
	view_figures(total, last_record);
}

int main(int argc, char **argv)
{
	std::vector<char *> args = {argv[0]};

	for (int i = 1; i < argc; i++) {
		if (i + 1 < argc && std::strcmp(argv[i], "--records") == 0)
			records_in_store = std::stoul(argv[++i]);
		else
			args.push_back(argv[i]);
	}
	args.push_back(nullptr);
	return ktap::run(static_cast<int>(args.size()) - 1, args.data());
}
