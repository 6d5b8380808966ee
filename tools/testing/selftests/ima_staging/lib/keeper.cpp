// SPDX-License-Identifier: GPL-2.0
#include "lib/keeper.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <linux/capability.h>
#include <system_error>
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

std::vector<std::size_t> line_bounds(std::string_view text)
{
	std::vector<std::size_t> bounds = {0};

	for (std::size_t at = text.find('\n'); at != std::string_view::npos;
	     at = text.find('\n', at + 1))
		bounds.push_back(at + 1);
	if (bounds.back() != text.size())
		throw std::runtime_error("the ascii list ends inside a line");
	return bounds;
}

namespace {

/*
 * @read(), again while a keeper holds the lists to stage or delete (EBUSY),
 * for up to ten seconds.
 */
template <typename Read>
auto read_when_not_busy(Read read)
{
	for (int attempt = 0;; attempt++) {
		try {
			return read();
		} catch (const std::system_error &error) {
			if (error.code().value() != EBUSY || attempt == 1000)
				throw;
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	}
}

} // namespace

KernelLists read_kernel_lists()
{
	for (int attempt = 0; attempt < 10; attempt++) {
		KernelLists lists;

		lists.binary = read_when_not_busy([] { return read_binary_list_bytes("sha1"); });
		lists.ascii = read_when_not_busy([] {
			return read_text_file(ima_path(list_file_name(ListFormat::ascii, "sha1")));
		});
		/* Read again: unchanged, nothing came or went between the two reads. */
		Bytes again = read_when_not_busy([] { return read_binary_list_bytes("sha1"); });
		lists.binary_bounds = sha1_record_bounds(lists.binary);
		lists.ascii_bounds = line_bounds(lists.ascii);
		if (again == lists.binary && lists.binary_bounds.size() == lists.ascii_bounds.size())
			return lists;
	}
	throw std::runtime_error("the kernel's binary and ascii lists never showed the same "
				 "records in ten reads");
}

namespace {

/* The event name of @record, or its template's name if it has none. */
std::string name_of(const Record &record)
{
	std::optional<std::string> name = event_name(record);

	return name ? *name : record.template_name;
}

} // namespace

void LogModel::start()
{
	KernelLists lists = read_kernel_lists();

	log_ = std::move(lists.binary);
	ascii_ = std::move(lists.ascii);
	expected_.clear();
	started_ = true;
}

void LogModel::start_from(const Bytes &full_log, const std::string &full_ascii)
{
	log_ = full_log;
	ascii_ = full_ascii;
	expected_.clear();
	started_ = true;
}

void LogModel::take_from_kernel(const std::vector<std::string> &names, bool while_saving)
{
	KernelLists lists = read_kernel_lists();
	const std::size_t shown = lists.binary_bounds.size() - 1;
	std::vector<Record> records = parse_sha1_list(lists.binary);
	std::size_t taken = 0;

	/* The newest records the kernel still shows, oldest of them first. */
	for (std::size_t count = std::min(names.size(), shown); count > 0; count--) {
		bool match = true;

		for (std::size_t i = 0; i < count && match; i++)
			match = name_of(records[shown - count + i]) ==
				names[names.size() - count + i];
		if (match) {
			taken = count;
			break;
		}
	}
	if (taken < names.size() && !while_saving)
		throw std::runtime_error("the kernel's list does not end with the " +
					 std::to_string(names.size()) + " records just measured");
	for (std::size_t i = 0; i < names.size(); i++) {
		Expected expected = {.file_name = names[i], .binary = {}, .ascii = {}};

		if (i >= names.size() - taken) {
			std::size_t record = shown - (names.size() - i);

			auto binary = lists.binary.begin();

			expected.binary.assign(binary + lists.binary_bounds[record],
					       binary + lists.binary_bounds[record + 1]);
			expected.ascii = lists.ascii.substr(lists.ascii_bounds[record],
							    lists.ascii_bounds[record + 1] -
								    lists.ascii_bounds[record]);
		}
		expected_.push_back(std::move(expected));
	}
}

namespace {

/* create_measurement() @count times: the files, in order. */
std::vector<std::string> create_measurements(int count)
{
	std::vector<std::string> names;

	for (int i = 0; i < count; i++)
		names.push_back(create_measurement());
	return names;
}

} // namespace

void LogModel::measure(int count)
{
	take_from_kernel(create_measurements(count), false);
}

void LogModel::measure_while_saving(int count)
{
	take_from_kernel(create_measurements(count), true);
}

void LogModel::expect(const std::string &path)
{
	expected_.push_back({.file_name = path, .binary = {}, .ascii = {}});
}

std::string LogModel::measure_violations(int count, std::string path)
{
	std::size_t before = read_binary_list("sha1").size();
	std::size_t violations = 0;
	std::vector<std::string> names;

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
		if (name_of(now[i]) != path)
			throw std::runtime_error("a record of another file came with the violations of " +
						 path);
		violations += now[i].is_violation();
		names.push_back(path);
	}
	if (violations != static_cast<std::size_t>(count))
		throw std::runtime_error("expected " + std::to_string(count) + " violations of " + path +
					 ", the kernel added " + std::to_string(violations));
	take_from_kernel(names, false);
	return path;
}

std::string LogModel::check(const Bytes &full_log, const std::string &full_ascii)
{
	const std::size_t had = records().size();
	std::string problems;
	std::vector<std::size_t> added;
	std::vector<std::size_t> lines;

	if (!starts_with(full_log, log_))
		problems += "the full log does not start with the " + std::to_string(had) +
			    " records it had before; ";
	else
		added = binary_record_bounds(ByteView(full_log).subspan(log_.size()),
					     kSha1DigestSize);
	if (!full_ascii.starts_with(ascii_))
		problems += "the ascii full log does not start with the " + std::to_string(had) +
			    " lines it had before; ";
	else
		lines = line_bounds(std::string_view(full_ascii).substr(ascii_.size()));
	if (problems.empty() && (added.size() != expected_.size() + 1 ||
				 lines.size() != expected_.size() + 1))
		problems += "the full log added " + std::to_string(added.size() - 1) +
			    " records and " + std::to_string(lines.size() - 1) +
			    " ascii lines, the model " + std::to_string(expected_.size()) + " (lost or duplicated "
			    "records); ";
	const bool comparable = problems.empty();
	Bytes log = log_;
	std::string ascii = ascii_;

	for (std::size_t i = 0; i < expected_.size(); i++) {
		Expected &expected = expected_[i];

		if (comparable && expected.binary.empty()) {
			ByteView shown = ByteView(full_log).subspan(log_.size() + added[i],
								    added[i + 1] - added[i]);
			std::string name = name_of(parse_sha1_list(shown).front());

			if (name != expected.file_name) {
				problems += "record " + std::to_string(had + i) + " is of " + name +
					    ", the model expected " + expected.file_name + "; ";
				continue;
			}
			expected.binary.assign(shown.begin(), shown.end());
			expected.ascii = full_ascii.substr(ascii_.size() + lines[i],
							   lines[i + 1] - lines[i]);
			/* Its ascii line at least begins as the binary record says. */
			const Record record = parse_sha1_list(shown).front();
			const std::string pcr = (record.pcr < 10 ? " " : "") +
						std::to_string(record.pcr);
			if (!expected.ascii.starts_with(pcr + " " + to_hex(record.template_digest) +
							" " + record.template_name + " ") ||
			    expected.ascii.find(" " + expected.file_name) == std::string::npos)
				problems += "the ascii line of record " + std::to_string(had + i) +
					    " does not show its binary record: " + expected.ascii;
			by_name_++;
		}
		append(log, expected.binary);
		ascii += expected.ascii;
	}
	if (comparable && full_log != log)
		problems += "the full log's records differ from the kernel's bytes; ";
	if (comparable && full_ascii != ascii)
		problems += "the ascii full log differs from the kernel's ascii lines; ";
	log_ = std::move(log);
	ascii_ = std::move(ascii);
	expected_.clear();
	return problems;
}

std::vector<std::string> LogModel::measured() const
{
	std::vector<std::string> names;

	for (const Expected &expected : expected_)
		names.push_back(expected.file_name);
	return names;
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
	KeeperRun ascii = run_keeper(store, {"log", "--format", "ascii"});
	std::string problems = exit_problem(log, 0, "log") +
			       exit_problem(ascii, 0, "log --format ascii");

	problems += model.check(log.out, ascii.out_text());
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
