/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Running ima-keeper (tools/ima_keeper) from the tests, and the model its
 * full log is compared with: the list IMA would show had nothing ever been
 * deleted.
 */
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ima/bytes.h"
#include "ima/records.h"
#include "ima/sys.h"

namespace ima {

inline constexpr std::string_view kKeeperProgram = "ima-keeper";

/* Exit status of a keeper killed by its IMA_KEEPER_FAULT point (SIGKILL). */
inline constexpr int kKilledExit = 128 + 9;

struct KeeperRun {
	int exit_code = -1;
	Bytes out;
	std::string err;

	std::string out_text() const { return std::string(out.begin(), out.end()); }
	/* For failure reports. */
	std::string describe() const;
};

struct KeeperEnv {
	/* IMA_KEEPER_FAULT: the point the keeper kills itself at. */
	std::string fault;
	/* Runs the keeper without CAP_SYS_ADMIN (dropped from the bounding set). */
	bool without_cap_sys_admin = false;
};

/* Runs "ima-keeper --store @store @args..." and waits for it. */
KeeperRun run_keeper(const std::string &store, const std::vector<std::string> &args,
		     const KeeperEnv &env = {});

/* "ima-keeper --store @store @args..." in the background, such as "run". */
class BackgroundKeeper {
public:
	BackgroundKeeper(const std::string &store, const std::vector<std::string> &args);

	pid_t pid() const { return child_->pid(); }
	/* What it wrote to stderr so far. */
	std::string err() const;
	/* Waits until its stderr contains @text; false after @timeout. */
	bool wait_for_err(std::string_view text, std::chrono::seconds timeout) const;
	void signal(int sig) const;
	/* SIGTERM and wait: the exit status. */
	int stop();

private:
	TempFile err_;
	std::optional<ChildProcess> child_;
};

/*
 * The lists IMA would show had nothing been deleted, sha1 binary and ascii:
 * the lists at the start (nothing deleted yet), then every record measured
 * since, in the order measured, each as the kernel showed it. The model is
 * built from the kernel's own bytes, read before the keeper could save them,
 * never from what a keeper printed. Only this program may measure files
 * meanwhile.
 */
class LogModel {
public:
	/* Starts from the kernel's current lists. */
	void start();
	/* Starts from @full_log and @full_ascii, a full log checked otherwise. */
	void start_from(const Bytes &full_log, const std::string &full_ascii);
	bool started() const { return started_; }

	/*
	 * create_measurement() @count times, and takes the records from the
	 * kernel's lists; they are expected next. Throws if the kernel's
	 * lists do not end with them: nothing may delete meanwhile.
	 */
	void measure(int count);
	/*
	 * The caller measured the files @names, in order: their records are
	 * taken from the kernel's lists as measure() takes them.
	 */
	void take(const std::vector<std::string> &names) { take_from_kernel(names, false); }
	/*
	 * measure() while a keeper runs: the records a keeper saved before
	 * they could be read are expected by file name and record only; the
	 * rest as measure() takes them.
	 */
	void measure_while_saving(int count);
	/*
	 * Another process measured @path, and a keeper may have saved it
	 * already: its record is expected next, by file name only.
	 */
	void expect(const std::string &path);
	/*
	 * @count violations of the file @path (a new one if empty, measured
	 * first): records identical byte for byte, as IMA never deduplicates
	 * violations. Each is a ToMToU: the file opened for writing while
	 * open for reading. The records the kernel added meanwhile (the
	 * violations, and the file's measurement if new) are expected next;
	 * throws if they are anything else. Returns the file.
	 */
	std::string measure_violations(int count, std::string path = "");

	/*
	 * Compares @full_log and @full_ascii (a keeper's "log" in both formats)
	 * with the model: each must be what the model had, followed by exactly
	 * the records expected since, byte for byte as the kernel showed them.
	 * Returns the problems, or an empty string. The model then holds what
	 * it expected; of the records it expected by name only, it takes what
	 * @full_log and @full_ascii show, once their names were checked.
	 */
	std::string check(const Bytes &full_log, const std::string &full_ascii);

	const Bytes &log() const { return log_; }
	const std::string &ascii() const { return ascii_; }
	/* The files measured since the last check, in order. */
	std::vector<std::string> measured() const;
	std::vector<Record> records() const;
	/* How many records were expected by name only, not seen in the kernel. */
	std::size_t expected_by_name() const { return by_name_; }

private:
	struct Expected {
		std::string file_name;
		/* As the kernel showed it; empty if it was never seen there. */
		Bytes binary;
		std::string ascii;
	};

	/* Takes the last @count records the kernel shows, which must be @names. */
	void take_from_kernel(const std::vector<std::string> &names, bool while_saving);

	bool started_ = false;
	Bytes log_;
	std::string ascii_;
	std::vector<Expected> expected_;
	std::size_t by_name_ = 0;
};

/*
 * The kernel's sha1 lists, binary and ascii, read until both show the same
 * records (a record measured between the two reads is read again).
 */
struct KernelLists {
	Bytes binary;
	std::string ascii;
	/* Where each binary record begins, then the end; and each ascii line. */
	std::vector<std::size_t> binary_bounds;
	std::vector<std::size_t> ascii_bounds;
};
KernelLists read_kernel_lists();

/*
 * Where each line of @text, an ascii list, begins, then its end: record k
 * of the list is bytes [bounds[k], bounds[k + 1]). Throws if the text
 * ends inside a line.
 */
std::vector<std::size_t> line_bounds(std::string_view text);

/* Waits until @done() holds, looking every 50 ms; false after @timeout. */
bool eventually(const std::function<bool()> &done, std::chrono::seconds timeout);

/* How many times @part occurs in @text (a keeper's messages, say). */
std::size_t count_of(std::string_view text, std::string_view part);

/*
 * For programs that report across boots: "" if @run exited with @code,
 * else "@what: " and what it did.
 */
std::string exit_problem(const KeeperRun &run, int code, const std::string &what);

/*
 * The problems of the full log of @store, or "": "ima-keeper log" checked
 * against @model (LogModel::check), and "ima-keeper verify" matching; in
 * a boot without a TPM (expect_no_tpm()), verify saying it has nothing to
 * verify against.
 */
std::string full_log_problems(const std::string &store, LogModel &model);

} // namespace ima
