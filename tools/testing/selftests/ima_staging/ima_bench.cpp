// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark of IMA measurement staging, run by "scripts/ima-staging bench"
 * on the bench kernel (CONFIG_LOCK_STAT, CONFIG_IMA_STAGING_BENCH), booted
 * without a TPM so that records are cheap to add.
 *
 *   ima_bench hold [--lengths L,...] [--repeat R] [--hashed-max H] [--read-max M]
 *	For each list length L, R times: fill the current list with L
 *	records (debugfs ima_staging_bench/add: made-up records appended by
 *	the kernel through ima_store_template(), duplicate check included;
 *	above H records, add_unhashed: the same records without the digest
 *	table, as after kexec), then time with lock_stat
 *	how long ima_extend_list_mutex is held by an append, by the locked
 *	walk to the L-th record (the design staging does not use), by "N"
 *	deleting the L oldest records (not with ima_flush_htable), and,
 *	after filling again, by "A" and "D". Also the memory the records
 *	hold and give back (Slab + VmallocUsed of /proc/meminfo), and the
 *	records per second of a plain read and of A + read + D (lists of M
 *	records at most: see drain()). The memory figures are given for
 *	hashed fills only.
 *
 *   ima_bench latency [--adds M] [--rounds R] [--prefill P]
 *	Measurements added from user space (opens of new files on /measure,
 *	timed one by one) on CPU 0 while CPU 1 does nothing, reads the list
 *	again and again, cycles through A + read + D and N, or walks the list
 *	under the lock; R rounds of M additions each, the list filled to P
 *	records before each (unhashed). lock_stat tells how long additions waited for
 *	ima_extend_list_mutex.
 *
 * Output on stdout: "sample,<metric>,<length>,<run>,<value>" lines, and
 * progress lines starting with "#".
 */
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <map>
#include <optional>
#include <sched.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/mount.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

#include "lib/generator.h"
#include "ima/ima_fs.h"
#include "lib/kernel.h"
#include "lib/staging.h"
#include "ima/sys.h"

using namespace ima;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char *kDebugfs = "/sys/kernel/debug";
constexpr const char *kBenchDir = "/sys/kernel/debug/ima_staging_bench";
constexpr const char *kLockStat = "/proc/lock_stat";
constexpr const char *kListMutex = "ima_extend_list_mutex";
constexpr unsigned long kAppendBatch = 10;

struct Options {
	std::vector<unsigned long> lengths = {1000, 10000, 100000, 1000000};
	int repeat = 3;
	unsigned long adds = 2000;
	int rounds = 3;
	unsigned long prefill = 100000;
	unsigned long hashed_max = 1000000;
	unsigned long read_max = 1000000;
};

double seconds_since(Clock::time_point start)
{
	return std::chrono::duration<double>(Clock::now() - start).count();
}

void progress(const std::string &text)
{
	std::printf("# %s\n", text.c_str());
	std::fflush(stdout);
}

void sample(const std::string &metric, unsigned long length, int run, double value)
{
	std::printf("sample,%s,%lu,%d,%.3f\n", metric.c_str(), length, run, value);
	std::fflush(stdout);
}

void write_text(const std::string &path, const std::string &text)
{
	UniqueFd fd = open_or_throw(path, O_WRONLY);
	ssize_t written = try_write(fd.get(), text);

	if (written < 0)
		throw std::system_error(static_cast<int>(-written), std::generic_category(),
					"write " + text + " to " + path);
}

void bench_add(unsigned long n)
{
	if (n)
		write_text(std::string(kBenchDir) + "/add", std::to_string(n) + "\n");
}

void bench_add_unhashed(unsigned long n)
{
	if (n)
		write_text(std::string(kBenchDir) + "/add_unhashed", std::to_string(n) + "\n");
}

void walk_locked(unsigned long n)
{
	write_text(std::string(kBenchDir) + "/walk_locked", std::to_string(n) + "\n");
}

unsigned long record_count()
{
	return read_measurement_count();
}

/* The lock_stat line of ima_extend_list_mutex; times in microseconds. */
struct LockHold {
	unsigned long acquisitions = 0;
	double min = 0, max = 0, total = 0;
	unsigned long contentions = 0;
	double wait_max = 0;
};

void lock_stat_clear()
{
	write_text(kLockStat, "0\n");
}

LockHold lock_hold()
{
	std::istringstream text(read_text_file(kLockStat));
	std::string line;

	while (std::getline(text, line)) {
		std::size_t colon = line.find(':');

		if (colon == std::string::npos)
			continue;
		std::string name = line.substr(0, colon);
		name.erase(0, name.find_first_not_of(' '));
		if (name != kListMutex)
			continue;
		std::istringstream fields(line.substr(colon + 1));
		std::vector<double> v;
		double x;

		while (fields >> x)
			v.push_back(x);
		if (v.size() < 12)
			throw std::runtime_error("short lock_stat line: " + line);
		return {static_cast<unsigned long>(v[7]), v[8], v[9], v[10],
			static_cast<unsigned long>(v[1]), v[3]};
	}
	return {};
}

/*
 * Slab plus VmallocUsed of /proc/meminfo, in bytes, once settled: what the
 * kernel frees after an RCU grace period (a bucket array the digest table
 * outgrew, in its resizing worker) is given time to go, so that the
 * figure counts what is held.
 */
long kernel_memory()
{
	std::this_thread::sleep_for(std::chrono::milliseconds(300));
	std::istringstream text(read_text_file("/proc/meminfo"));
	std::string key;
	long value, total = 0;
	std::string unit;

	while (text >> key >> value) {
		std::getline(text, unit);
		if (key == "Slab:" || key == "VmallocUsed:")
			total += value * 1024;
	}
	return total;
}

/*
 * Reads a list file to its end, discarding it; returns the bytes read.
 * A read() returns one seq_file page at most and resumes at the record
 * where the previous one stopped, so reading a list takes time linear in
 * its length (in 6.12 every read() walked from the head: quadratic).
 */
std::size_t drain(const std::string &name)
{
	UniqueFd fd = open_or_throw(ima_path(name), O_RDONLY);
	std::vector<char> buf(1 << 20);
	std::size_t total = 0;
	ssize_t n;

	while ((n = ::read(fd.get(), buf.data(), buf.size())) > 0)
		total += static_cast<std::size_t>(n);
	if (n < 0)
		throw_errno("read " + name);
	return total;
}

void request(int fd, std::string_view text)
{
	int error = write_request(fd, text);

	if (error)
		throw std::system_error(error, std::generic_category(),
					"request " + std::string(text.substr(0, text.size() - 1)));
}

bool flush_htable()
{
	return KernelCmdline::from_proc().has("ima_flush_htable");
}

void pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (::sched_setaffinity(0, sizeof(set), &set))
		throw_errno("sched_setaffinity");
}

/* The digest table as debugfs ima_staging_bench/htable shows it. */
struct DigestTable {
	double entries = 0;
	double buckets = 0;
	double rehashing = 0;
	double added_rehashing = 0;
};

DigestTable digest_table()
{
	std::map<std::string, double> fields;
	std::istringstream text(read_text_file(std::string(kBenchDir) + "/htable"));
	std::string name;
	double value;

	while (text >> name >> value)
		fields[name] = value;
	for (const char *want : {"entries", "buckets", "rehashing", "added_rehashing"})
		if (!fields.count(want))
			throw std::runtime_error(std::string("ima_staging_bench/htable has no ") + want);
	return {fields["entries"], fields["buckets"], fields["rehashing"], fields["added_rehashing"]};
}

/* --- hold ---------------------------------------------------------------- */

/* Mean hold time of one append over a batch of appends. */
double append_batch(bool hashed)
{
	lock_stat_clear();
	if (hashed)
		bench_add(kAppendBatch);
	else
		bench_add_unhashed(kAppendBatch);
	LockHold h = lock_hold();
	return h.total / static_cast<double>(h.acquisitions);
}

/*
 * The appends' hold time, with the state of the digest table they went
 * to: its size, and how many of them were added while it was being
 * resized. Two more batches right after the first, in the same state,
 * tell a spread that comes with the list and table from one that does
 * not; a batch of appends that skip the digest table (as after kexec)
 * tells what the table's lookup and insert add.
 */
void hold_append(unsigned long length, int run)
{
	DigestTable before = digest_table();

	lock_stat_clear();
	bench_add(kAppendBatch);
	LockHold h = lock_hold();
	DigestTable after = digest_table();
	sample("hold_append_us", length, run, h.total / static_cast<double>(h.acquisitions));
	sample("hold_append_max_us", length, run, h.max);
	sample("htable_entries", length, run, before.entries);
	sample("htable_buckets", length, run, before.buckets);
	sample("htable_appends_rehashing", length, run,
	       after.added_rehashing - before.added_rehashing);
	sample("htable_rehashing_after", length, run, after.rehashing);
	sample("hold_append_batch2_us", length, run, append_batch(true));
	sample("hold_append_batch3_us", length, run, append_batch(true));
	sample("hold_append_unhashed_us", length, run, append_batch(false));
}

void hold_walk_locked(unsigned long length, int run)
{
	lock_stat_clear();
	walk_locked(length);
	sample("hold_walk_locked_us", length, run, lock_hold().max);
}

void plain_read(unsigned long length, int run)
{
	unsigned long records = record_count();
	Clock::time_point start = Clock::now();

	drain(original_request_file());
	sample("read_plain_rps", length, run, records / seconds_since(start));
}

/*
 * What the records held since their fill when a deletion began, and what
 * it gave back, in bytes: summed over every deletion of a boot, they give
 * the share of memory given back over all fills, whichever fill grew the
 * digest table.
 */
void sample_deletion(unsigned long length, int run, long held, long returned)
{
	sample("mem_deletion_held_bytes", length, run, static_cast<double>(held));
	sample("mem_deletion_returned_bytes", length, run, static_cast<double>(returned));
}

/* Deletes the @length oldest records with N, then measures what it gave back. */
void delete_n(unsigned long length, int run, long before_fill, bool report_memory)
{
	long held = kernel_memory() - before_fill;
	UniqueFd fd = open_or_throw(ima_path(original_request_file()), O_WRONLY);

	lock_stat_clear();
	request(fd.get(), std::to_string(length) + "\n");
	LockHold h = lock_hold();
	sample("hold_N_us", length, run, h.max);
	sample("hold_N_total_us", length, run, h.total);
	sample("hold_N_acquisitions", length, run, static_cast<double>(h.acquisitions));
	long returned = held - (kernel_memory() - before_fill);
	if (report_memory) {
		sample("mem_returned_N_bytes_per_record", length, run,
		       static_cast<double>(returned) / static_cast<double>(length));
		sample_deletion(length, run, held, returned);
	}
}

/* A, read the staged list, D; times the three and the lock of A and D. */
void stage_read_delete(unsigned long length, int run, long before_fill, bool flush,
		       bool report_memory, bool read)
{
	unsigned long records = record_count();
	long held = kernel_memory() - before_fill;
	UniqueFd fd = open_or_throw(ima_path(staged_request_file()), O_WRONLY);
	double elapsed;


	lock_stat_clear();
	Clock::time_point start = Clock::now();
	request(fd.get(), "A\n");
	elapsed = seconds_since(start);
	sample("hold_A_us", length, run, lock_hold().max);

	start = Clock::now();
	if (read)
		drain(staged_request_file());
	lock_stat_clear();
	request(fd.get(), "D\n");
	elapsed += seconds_since(start);
	sample("hold_D_us", length, run, lock_hold().max);
	if (read)
		sample("stage_read_delete_rps", length, run, records / elapsed);

	long returned = held - (kernel_memory() - before_fill);
	if (report_memory) {
		sample(flush ? "mem_returned_D_flush_bytes_per_record"
			     : "mem_returned_D_bytes_per_record",
		       length, run, static_cast<double>(returned) / static_cast<double>(records));
		sample_deletion(length, run, held, returned);
	}
}

/*
 * Fills the current list with @length more records, hashed or not; returns
 * the memory before.
 */
long fill(unsigned long length, int run, bool hashed, bool measure)
{
	long before = kernel_memory();
	unsigned long count = record_count();
	Clock::time_point start = Clock::now();

	if (hashed)
		bench_add(length);
	else
		bench_add_unhashed(length);
	double elapsed = seconds_since(start);
	progress("  filled " + std::to_string(length) + (hashed ? " hashed" : " unhashed") +
		 " records in " + std::to_string(elapsed) + " s");
	if (measure) {
		long held = kernel_memory() - before;
		unsigned long added = record_count() - count;
		sample("mem_held_bytes_per_record", length, run,
		       static_cast<double>(held) / static_cast<double>(added));
		sample("fill_rps", length, run, added / elapsed);
	}
	return before;
}

/* One untimed round of every step, so that the first timed one is not the first. */
void warm_up(bool flush)
{
	constexpr unsigned long kRecords = 100;

	progress("warm-up");
	bench_add(kRecords);
	walk_locked(kRecords);
	drain(original_request_file());
	if (!flush) {
		UniqueFd fd = open_or_throw(ima_path(original_request_file()), O_WRONLY);
		request(fd.get(), std::to_string(kRecords) + "\n");
	}
	bench_add(kRecords);
	UniqueFd fd = open_or_throw(ima_path(staged_request_file()), O_WRONLY);
	request(fd.get(), "A\n");
	drain(staged_request_file());
	request(fd.get(), "D\n");
}

int run_hold(const Options &opt)
{
	bool flush = flush_htable();

	progress(std::string("hold: ima_flush_htable ") + (flush ? "set" : "not set"));
	warm_up(flush);
	for (unsigned long length : opt.lengths) {
		bool hashed = length <= opt.hashed_max;
		bool read = length <= opt.read_max;

		for (int run = 1; run <= opt.repeat; run++) {
			Clock::time_point start = Clock::now();

			progress("length " + std::to_string(length) + ", run " + std::to_string(run));
			long before = fill(length, run, hashed, hashed);
			hold_append(length, run);
			hold_walk_locked(length, run);
			if (read)
				plain_read(length, run);
			if (!flush) {
				delete_n(length, run, before, hashed);
				before = fill(length, run, hashed, false);
			}
			stage_read_delete(length, run, before, flush, hashed, read);
			progress("  done in " + std::to_string(seconds_since(start)) + " s");
		}
	}
	return 0;
}

/* --- latency ------------------------------------------------------------- */

/* Opens of new files on /measure, timed: the measurement is made at open. */
std::vector<double> timed_measurements(const std::vector<std::string> &paths)
{
	std::vector<double> us;

	us.reserve(paths.size());
	for (const std::string &path : paths) {
		Clock::time_point start = Clock::now();
		UniqueFd fd = open_or_throw(path, O_RDONLY);

		us.push_back(seconds_since(start) * 1e6);
	}
	return us;
}

std::vector<std::string> new_files(unsigned long count, const std::string &tag)
{
	std::vector<std::string> paths;

	for (unsigned long i = 0; i < count; i++) {
		std::string path = std::string(kMeasureDir) + "/lat-" + tag + "-" + std::to_string(i);

		write_file(path, as_bytes(path + "\n"));
		paths.push_back(path);
	}
	return paths;
}

/* One round of an agent: N (half the list) when @delete_n, else A + read + D. */
void staging_cycle(bool delete_n)
{
	if (delete_n) {
		unsigned long n = record_count() / 2;
		UniqueFd fd = open_or_throw(ima_path(original_request_file()), O_WRONLY);

		if (n)
			request(fd.get(), std::to_string(n) + "\n");
		return;
	}
	UniqueFd fd = open_or_throw(ima_path(staged_request_file()), O_WRONLY);
	int error = write_request(fd.get(), "A\n");

	if (error == ENOENT)
		return;
	if (error)
		throw std::system_error(error, std::generic_category(), "request A");
	drain(staged_request_file());
	request(fd.get(), "D\n");
}

void walk_cycle()
{
	unsigned long n = record_count();

	if (n)
		walk_locked(n);
}

double percentile(std::vector<double> v, double q)
{
	std::sort(v.begin(), v.end());
	std::size_t i = static_cast<std::size_t>(q * static_cast<double>(v.size()));
	return v[std::min(i, v.size() - 1)];
}

void latency_round(const std::string &kind, int run, const Options &opt, bool flush)
{
	std::vector<std::string> paths = new_files(opt.adds, kind + std::to_string(run));
	unsigned long count = record_count();
	std::optional<LoopingChild> agent;

	if (count < opt.prefill)
		bench_add_unhashed(opt.prefill - count);
	pin_to_cpu(1);
	if (kind == "reading")
		agent.emplace([] { drain(original_request_file()); }, [] { return std::string(); });
	else if (kind == "staging")
		agent.emplace([flush, cycles = 0UL]() mutable { staging_cycle(!flush && ++cycles % 2 == 0); },
			      [] { return std::string(); });
	else if (kind == "walk_locked")
		agent.emplace([] { walk_cycle(); }, [] { return std::string(); });
	pin_to_cpu(0);
	lock_stat_clear();
	std::vector<double> us = timed_measurements(paths);
	LockHold h = lock_hold();
	if (agent)
		agent->stop();
	sample("latency_" + kind + "_lock_wait_max_us", opt.prefill, run, h.wait_max);
	sample("latency_" + kind + "_lock_contentions", opt.prefill, run,
	       static_cast<double>(h.contentions));
	sample("latency_" + kind + "_lock_hold_max_us", opt.prefill, run, h.max);
	sample("latency_" + kind + "_p50_us", opt.prefill, run, percentile(us, 0.50));
	sample("latency_" + kind + "_p99_us", opt.prefill, run, percentile(us, 0.99));
	sample("latency_" + kind + "_max_us", opt.prefill, run, *std::max_element(us.begin(), us.end()));
}

int run_latency(const Options &opt)
{
	bool flush = flush_htable();

	for (int run = 1; run <= opt.rounds; run++) {
		for (const char *kind : {"none", "reading", "staging", "walk_locked"}) {
			progress(std::string("latency: round ") + std::to_string(run) + ", " + kind);
			latency_round(kind, run, opt, flush);
		}
	}
	return 0;
}

/* --- main ---------------------------------------------------------------- */

std::vector<unsigned long> parse_lengths(const std::string &text)
{
	std::vector<unsigned long> lengths;
	std::istringstream in(text);
	std::string word;

	while (std::getline(in, word, ','))
		lengths.push_back(std::stoul(word));
	if (lengths.empty())
		throw std::invalid_argument("no lengths in '" + text + "'");
	return lengths;
}

Options parse_options(int argc, char **argv)
{
	Options opt;

	for (int i = 2; i < argc; i++) {
		std::string arg = argv[i];

		if (i + 1 >= argc)
			throw std::invalid_argument("option " + arg + " needs a value");
		std::string value = argv[++i];
		if (arg == "--lengths")
			opt.lengths = parse_lengths(value);
		else if (arg == "--repeat")
			opt.repeat = std::stoi(value);
		else if (arg == "--adds")
			opt.adds = std::stoul(value);
		else if (arg == "--rounds")
			opt.rounds = std::stoi(value);
		else if (arg == "--prefill")
			opt.prefill = std::stoul(value);
		else if (arg == "--hashed-max")
			opt.hashed_max = std::stoul(value);
		else if (arg == "--read-max")
			opt.read_max = std::stoul(value);
		else
			throw std::invalid_argument("unknown option " + arg);
	}
	return opt;
}

void mount_debugfs()
{
	if (path_exists(kBenchDir))
		return;
	if (::mount("debugfs", kDebugfs, "debugfs", 0, nullptr) && errno != EBUSY)
		throw_errno("mount debugfs");
	if (!path_exists(kBenchDir))
		throw std::runtime_error(std::string(kBenchDir) +
					 " missing: not a kernel with CONFIG_IMA_STAGING_BENCH");
}

} // namespace

int main(int argc, char **argv)
{
	try {
		if (argc < 2)
			throw std::invalid_argument("usage: ima_bench hold|latency [OPTIONS]");
		std::string mode = argv[1];
		Options opt = parse_options(argc, argv);

		mount_debugfs();
		if (!path_exists(kLockStat))
			throw std::runtime_error("no /proc/lock_stat: not a kernel with CONFIG_LOCK_STAT");
		if (mode == "hold")
			return run_hold(opt);
		if (mode == "latency")
			return run_latency(opt);
		throw std::invalid_argument("unknown mode " + mode);
	} catch (const std::exception &e) {
		std::fprintf(stderr, "ima_bench: %s\n", e.what());
		std::printf("# error: %s\n", e.what());
		return 1;
	}
}
