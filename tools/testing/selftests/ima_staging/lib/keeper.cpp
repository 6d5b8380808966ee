// SPDX-License-Identifier: GPL-2.0
#include "lib/keeper.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <thread>
#include <unistd.h>

#include "ima/ima_fs.h"
#include "lib/staging.h"

namespace ima {

namespace {

constexpr std::size_t kSha1DigestSize = 20;

std::vector<std::string> keeper_argv(const std::string &store, const std::vector<std::string> &args)
{
	std::vector<std::string> argv = {std::string(kKeeperProgram), "--store", store};

	argv.insert(argv.end(), args.begin(), args.end());
	return argv;
}

/* The keeper's command, with IMA_KEEPER_FAULT set as @env asks. */
PreparedCommand keeper_command(const std::vector<std::string> &argv, const KeeperEnv &env)
{
	std::optional<std::string> fault;

	if (!env.fault.empty())
		fault = env.fault;
	return PreparedCommand(argv, "IMA_KEEPER_FAULT", fault);
}

/* Starts the keeper with stdout and stderr to the files @out and @err. */
ChildProcess spawn_keeper(const std::vector<std::string> &argv, const std::string &out,
			  const std::string &err, const KeeperEnv &env)
{
	PreparedCommand command = keeper_command(argv, env);
	UniqueFd out_fd = open_or_throw(out, O_WRONLY | O_TRUNC);
	UniqueFd err_fd = open_or_throw(err, O_WRONLY | O_TRUNC);

	return ChildProcess::spawn(command, {out_fd.get(), err_fd.get(), env.without_cap_sys_admin});
}

} // namespace

std::string KeeperRun::describe() const
{
	return "exit " + std::to_string(exit_code) + ", stderr: " + err;
}

KeeperRun run_keeper(const std::string &store, const std::vector<std::string> &args,
		     const KeeperEnv &env)
{
	TempFile out("keeper_out");
	TempFile err("keeper_err");
	std::vector<std::string> argv = keeper_argv(store, args);
	ChildProcess child = spawn_keeper(argv, out.path(), err.path(), env);
	KeeperRun run;

	run.exit_code = child.wait();
	run.out = read_file(out.path());
	run.err = read_text_file(err.path());
	return run;
}

BackgroundKeeper::BackgroundKeeper(const std::string &store, const std::vector<std::string> &args)
	: err_("keeper_bg_err")
{
	std::vector<std::string> argv = keeper_argv(store, args);
	std::string err = err_.path();

	child_.emplace(spawn_keeper(argv, "/dev/null", err, {}));
}

std::string BackgroundKeeper::err() const
{
	return read_text_file(err_.path());
}

bool BackgroundKeeper::wait_for_err(std::string_view text, std::chrono::seconds timeout) const
{
	auto deadline = std::chrono::steady_clock::now() + timeout;

	while (err().find(text) == std::string::npos) {
		if (std::chrono::steady_clock::now() > deadline)
			return false;
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
	}
	return true;
}

void BackgroundKeeper::signal(int sig) const
{
	if (::kill(child_->pid(), sig))
		throw_errno("kill " + std::to_string(child_->pid()));
}

int BackgroundKeeper::stop()
{
	signal(SIGTERM);
	return child_->wait();
}

void LogModel::start()
{
	log_ = read_binary_list_bytes("sha1");
	measured_.clear();
	started_ = true;
}

void LogModel::start_from(const Bytes &full_log)
{
	log_ = full_log;
	measured_.clear();
	started_ = true;
}

void LogModel::measure(int count)
{
	for (int i = 0; i < count; i++)
		measured_.push_back(create_measurement());
}

std::string LogModel::measure_violations(int count, std::string path)
{
	std::size_t before = read_binary_list("sha1").size();
	std::size_t violations = 0;

	if (path.empty())
		path = create_measurement();
	for (int i = 0; i < count; i++) {
		UniqueFd reader = open_or_throw(path, O_RDONLY);
		UniqueFd writer = open_or_throw(path, O_WRONLY);
	}
	std::vector<Record> now = read_binary_list("sha1");
	if (now.size() < before)
		throw std::runtime_error("records were deleted while violations were measured");
	for (std::size_t i = before; i < now.size(); i++) {
		if (!now[i].ima_ng || now[i].ima_ng->file_name != path)
			throw std::runtime_error("a record of another file came with the violations of " +
						 path);
		violations += now[i].is_violation();
		measured_.push_back(path);
	}
	if (violations != static_cast<std::size_t>(count))
		throw std::runtime_error("expected " + std::to_string(count) + " violations of " + path +
					 ", the kernel added " + std::to_string(violations));
	return path;
}

std::string LogModel::check(const Bytes &full_log)
{
	std::string problems;

	if (!starts_with(full_log, log_)) {
		problems = "the full log does not start with the " +
			   std::to_string(records().size()) + " records it had before; ";
	} else {
		std::vector<Record> added = parse_binary_list(
			ByteView(full_log).subspan(log_.size()), kSha1DigestSize);
		std::vector<std::string> names;

		for (const Record &record : added)
			names.push_back(record.ima_ng ? record.ima_ng->file_name : record.template_name);
		if (names != measured_)
			problems = "the full log added " + std::to_string(names.size()) +
				   " records, the model " + std::to_string(measured_.size()) +
				   " measured files (lost or duplicated records); ";
	}
	log_ = full_log;
	measured_.clear();
	return problems;
}

std::vector<Record> LogModel::records() const
{
	return parse_binary_list(log_, kSha1DigestSize);
}

std::string exit_problem(const KeeperRun &run, int code, const std::string &what)
{
	if (run.exit_code == code)
		return "";
	return what + ": " + run.describe() + "; ";
}

std::string full_log_problems(const std::string &store, LogModel &model)
{
	KeeperRun log = run_keeper(store, {"log"});
	std::string problems = exit_problem(log, 0, "log");

	problems += model.check(log.out);
	KeeperRun verify = run_keeper(store, {"verify"});
	if (no_tpm_expected()) {
		if (verify.err.find("no TPM") == std::string::npos)
			problems += "verify without a TPM does not say so: " + verify.err + "; ";
		return problems + exit_problem(verify, 1, "verify without a TPM");
	}
	return problems + exit_problem(verify, 0, "verify " + verify.out_text());
}

bool eventually(const std::function<bool()> &done, std::chrono::seconds timeout)
{
	auto deadline = std::chrono::steady_clock::now() + timeout;

	while (!done()) {
		if (std::chrono::steady_clock::now() > deadline)
			return false;
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
	}
	return true;
}

std::size_t count_of(std::string_view text, std::string_view part)
{
	std::size_t count = 0;

	for (std::size_t at = text.find(part); at != std::string_view::npos;
	     at = text.find(part, at + 1))
		count++;
	return count;
}

} // namespace ima
