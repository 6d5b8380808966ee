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
 * The sha1 binary list IMA would show had nothing been deleted: the list at
 * the start (nothing deleted yet), then every record measured since, in the
 * order measured. Only this program may measure files meanwhile.
 */
class LogModel {
public:
	/* Starts from the kernel's current list. */
	void start();
	/* Starts from @full_log, a full log checked otherwise. */
	void start_from(const Bytes &full_log);
	bool started() const { return started_; }

	/* create_measurement() @count times; the records are expected next. */
	void measure(int count);
	/* Another process measured @path: its record is expected next. */
	void expect(const std::string &path) { measured_.push_back(path); }
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
	 * Compares @full_log with the model: it must start with what the
	 * model has, followed by exactly the records measured since. Returns
	 * the problems, or an empty string; the model takes @full_log as its
	 * new state either way.
	 */
	std::string check(const Bytes &full_log);

	const Bytes &log() const { return log_; }
	/* The files measured since the last check, in order. */
	const std::vector<std::string> &measured() const { return measured_; }
	std::vector<Record> records() const;

private:
	bool started_ = false;
	Bytes log_;
	std::vector<std::string> measured_;
};

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
