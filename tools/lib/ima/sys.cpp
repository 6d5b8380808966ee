// SPDX-License-Identifier: GPL-2.0
#include "ima/sys.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdexcept>
#include <system_error>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>

namespace ima {

void throw_errno(const std::string &what)
{
	throw std::system_error(errno, std::generic_category(), what);
}

UniqueFd::UniqueFd(UniqueFd &&other) noexcept : fd_(std::exchange(other.fd_, -1))
{
}

UniqueFd &UniqueFd::operator=(UniqueFd &&other) noexcept
{
	if (this != &other)
		reset(std::exchange(other.fd_, -1));
	return *this;
}

UniqueFd::~UniqueFd()
{
	reset();
}

void UniqueFd::reset(int fd) noexcept
{
	if (fd_ >= 0)
		::close(fd_);
	fd_ = fd;
}

UniqueFd open_or_throw(const std::string &path, int flags, mode_t mode)
{
	int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);

	if (fd < 0)
		throw_errno("open " + path);
	return UniqueFd(fd);
}

OpenResult try_open(const std::string &path, int flags, mode_t mode)
{
	int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);

	if (fd < 0)
		return {UniqueFd(), errno};
	return {UniqueFd(fd), 0};
}

ssize_t try_write(int fd, std::string_view data)
{
	ssize_t written = ::write(fd, data.data(), data.size());

	return written < 0 ? -errno : written;
}

void write_all(int fd, ByteView data)
{
	while (!data.empty()) {
		ssize_t written = ::write(fd, data.data(), data.size());

		if (written < 0) {
			if (errno == EINTR)
				continue;
			throw_errno("write to fd " + std::to_string(fd));
		}
		data = data.subspan(static_cast<std::size_t>(written));
	}
}

Bytes read_exact(int fd, std::size_t size)
{
	Bytes data(size);
	std::size_t done = 0;

	while (done < size) {
		ssize_t got = ::read(fd, data.data() + done, size - done);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			throw_errno("read from fd " + std::to_string(fd));
		if (got == 0)
			throw std::runtime_error("end of file on fd " + std::to_string(fd) +
						 " after " + std::to_string(done) + " of " +
						 std::to_string(size) + " bytes");
		done += static_cast<std::size_t>(got);
	}
	return data;
}

void read_exact_at(int fd, std::uint8_t *out, std::size_t size, std::uint64_t offset,
		   const std::string &name)
{
	std::size_t done = 0;

	while (done < size) {
		ssize_t got = ::pread(fd, out + done, size - done, static_cast<off_t>(offset + done));

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			throw_errno("read " + name);
		if (got == 0)
			throw std::runtime_error("read " + name + ": unexpected end of file");
		done += static_cast<std::size_t>(got);
	}
}

ReadsUntilError read_until_error(int fd, std::size_t piece)
{
	ReadsUntilError result;
	Bytes buffer(piece);

	for (;;) {
		ssize_t got = ::read(fd, buffer.data(), buffer.size());

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			result.error = got < 0 ? errno : 0;
			return result;
		}
		result.bytes.insert(result.bytes.end(), buffer.begin(), buffer.begin() + got);
	}
}

Bytes read_all(int fd)
{
	ReadsUntilError read = read_until_error(fd, 65536);

	if (read.error)
		throw std::system_error(read.error, std::generic_category(),
					"read from fd " + std::to_string(fd));
	return std::move(read.bytes);
}

Bytes read_file(const std::string &path)
{
	UniqueFd fd = open_or_throw(path, O_RDONLY);

	try {
		return read_all(fd.get());
	} catch (const std::system_error &e) {
		throw std::system_error(e.code(), "read " + path);
	}
}

std::string read_text_file(const std::string &path)
{
	Bytes data = read_file(path);

	return std::string(data.begin(), data.end());
}

void write_file(const std::string &path, ByteView data, mode_t mode)
{
	UniqueFd fd = open_or_throw(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	write_all(fd.get(), data);
}

std::vector<std::string> list_directory(const std::string &path)
{
	DIR *dir = ::opendir(path.c_str());

	if (!dir)
		throw_errno("opendir " + path);

	std::vector<std::string> names;
	while (const dirent *entry = ::readdir(dir)) {
		std::string name = entry->d_name;

		if (name != "." && name != "..")
			names.push_back(std::move(name));
	}
	::closedir(dir);
	std::sort(names.begin(), names.end());
	return names;
}

bool path_exists(const std::string &path)
{
	struct stat st;

	return ::lstat(path.c_str(), &st) == 0;
}

std::string read_symlink(const std::string &path)
{
	std::string target(4096, '\0');
	ssize_t length = ::readlink(path.c_str(), target.data(), target.size());

	if (length < 0)
		throw_errno("readlink " + path);
	target.resize(static_cast<std::size_t>(length));
	return target;
}

std::string errno_name(int error)
{
	const char *name = ::strerrorname_np(error);

	return name ? name : "errno " + std::to_string(error);
}

void drop_cap_sys_admin()
{
	__user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
	__user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
	const std::uint32_t bit = 1u << (CAP_SYS_ADMIN % 32);

	if (::syscall(SYS_capget, &header, data))
		throw_errno("capget");
	data[CAP_SYS_ADMIN / 32].effective &= ~bit;
	data[CAP_SYS_ADMIN / 32].permitted &= ~bit;
	data[CAP_SYS_ADMIN / 32].inheritable &= ~bit;
	if (::syscall(SYS_capset, &header, data))
		throw_errno("capset");
}

std::optional<std::string> find_command(const std::string &name)
{
	if (name.find('/') != std::string::npos)
		return name;

	const char *path = std::getenv("PATH");
	std::string_view dirs = path ? path : "/usr/bin:/bin";

	while (!dirs.empty()) {
		std::size_t colon = dirs.find(':');
		std::string candidate = std::string(dirs.substr(0, colon)) + "/" + name;

		if (::access(candidate.c_str(), X_OK) == 0)
			return candidate;
		dirs = colon == std::string_view::npos ? "" : dirs.substr(colon + 1);
	}
	return std::nullopt;
}

bool command_exists(const std::string &name)
{
	return find_command(name).has_value();
}

static std::vector<std::string> current_environment()
{
	std::vector<std::string> env;

	for (char **entry = environ; *entry; entry++)
		env.emplace_back(*entry);
	return env;
}

PreparedCommand::PreparedCommand(std::vector<std::string> argv)
	: PreparedCommand(std::move(argv), "", std::nullopt)
{
}

PreparedCommand::PreparedCommand(std::vector<std::string> argv, const std::string &name,
				 const std::optional<std::string> &value)
	: argv_(std::move(argv)), env_(current_environment())
{
	if (argv_.empty())
		throw std::invalid_argument("PreparedCommand: empty argv");
	/* Not found: exec fails with ENOENT in the child, exit code 127. */
	path_ = find_command(argv_[0]).value_or(argv_[0]);
	if (!name.empty()) {
		std::erase_if(env_, [&](const std::string &entry) {
			return entry.starts_with(name + "=");
		});
		if (value)
			env_.push_back(name + "=" + *value);
	}
	exec_failure_ = "exec " + argv_[0] + " failed\n";
	build_pointers();
}

void PreparedCommand::build_pointers()
{
	for (std::string &arg : argv_)
		argv_pointers_.push_back(arg.data());
	argv_pointers_.push_back(nullptr);
	for (std::string &entry : env_)
		env_pointers_.push_back(entry.data());
	env_pointers_.push_back(nullptr);
}

static int run_body(const std::function<int()> &body)
{
	return body();
}

static ChildBodyRunner child_body_runner = run_body;

void set_child_body_runner(ChildBodyRunner runner)
{
	child_body_runner = runner;
}

ChildProcess ChildProcess::fork_and_run(const std::function<int()> &body)
{
	/* Buffered output would otherwise be written twice. */
	std::fflush(nullptr);

	pid_t pid = ::fork();
	if (pid < 0)
		throw_errno("fork");
	if (pid == 0) {
		int code = 127;

		/* Nothing may unwind out of the child into the parent's code. */
		try {
			code = child_body_runner(body);
		} catch (const std::exception &e) {
			std::fprintf(stderr, "child %d: %s\n", ::getpid(), e.what());
		} catch (...) {
			std::fprintf(stderr, "child %d: an exception of unknown type\n", ::getpid());
		}
		std::fflush(nullptr);
		::_exit(code);
	}
	return ChildProcess(pid);
}

/* In the child, after fork(): async-signal-safe calls only. */
[[noreturn]] static void exec_in_child(const PreparedCommand &command, const SpawnOptions &options)
{
	std::string_view failure = command.exec_failure_message();

	if (options.stdout_fd >= 0 && ::dup2(options.stdout_fd, STDOUT_FILENO) < 0)
		::_exit(127);
	if (options.stderr_fd >= 0 && ::dup2(options.stderr_fd, STDERR_FILENO) < 0)
		::_exit(127);
	if (options.drop_cap_sys_admin_bound && ::prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0))
		::_exit(127);
	::execve(command.path(), command.argv(), command.envp());
	if (::write(STDERR_FILENO, failure.data(), failure.size()) < 0) {
		/* Nothing more to tell. */
	}
	::_exit(127);
}

ChildProcess ChildProcess::spawn(const PreparedCommand &command, const SpawnOptions &options)
{
	std::fflush(nullptr);

	pid_t pid = ::fork();
	if (pid < 0)
		throw_errno("fork");
	if (pid == 0)
		exec_in_child(command, options);
	return ChildProcess(pid);
}

ChildProcess::ChildProcess(ChildProcess &&other) noexcept
	: pid_(std::exchange(other.pid_, -1))
{
}

ChildProcess &ChildProcess::operator=(ChildProcess &&other) noexcept
{
	if (this != &other) {
		kill_and_reap();
		pid_ = std::exchange(other.pid_, -1);
	}
	return *this;
}

ChildProcess::~ChildProcess()
{
	kill_and_reap();
}

void ChildProcess::kill_and_reap() noexcept
{
	if (pid_ <= 0)
		return;
	::kill(pid_, SIGKILL);
	while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR)
		;
	pid_ = -1;
}

int ChildProcess::wait()
{
	int status;

	if (pid_ <= 0)
		throw std::logic_error("wait on a child that was already reaped");
	while (::waitpid(pid_, &status, 0) < 0) {
		if (errno != EINTR)
			throw_errno("waitpid " + std::to_string(pid_));
	}
	pid_ = -1;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

Pipe::Pipe()
{
	int fds[2];

	if (::pipe2(fds, O_CLOEXEC) < 0)
		throw_errno("pipe2");
	read_end.reset(fds[0]);
	write_end.reset(fds[1]);
}

std::string command_line(const std::vector<std::string> &argv)
{
	std::string line;

	for (const std::string &arg : argv)
		line += (line.empty() ? "" : " ") + arg;
	return line;
}

CommandResult run_command(const std::vector<std::string> &argv)
{
	if (argv.empty())
		throw std::invalid_argument("run_command: empty argv");
	PreparedCommand command(argv);
	Pipe output_pipe;
	ChildProcess child = ChildProcess::spawn(
		command, {output_pipe.write_end.get(), output_pipe.write_end.get()});

	output_pipe.write_end.reset();

	std::string output;
	Bytes data = read_all(output_pipe.read_end.get());
	output.assign(data.begin(), data.end());
	return {child.wait(), std::move(output)};
}

static std::string temp_directory()
{
	const char *dir = std::getenv("TMPDIR");

	return dir && *dir ? dir : "/tmp";
}

TempFile::TempFile(std::string_view prefix)
{
	std::string pattern = temp_directory() + "/" + std::string(prefix) + ".XXXXXX";
	int fd = ::mkstemp(pattern.data());

	if (fd < 0)
		throw_errno("mkstemp " + pattern);
	::close(fd);
	path_ = std::move(pattern);
}

TempFile::TempFile(TempFile &&other) noexcept : path_(std::move(other.path_))
{
	other.path_.clear();
}

TempFile::~TempFile()
{
	if (!path_.empty())
		::unlink(path_.c_str());
}

void TempFile::write(ByteView data) const
{
	write_file(path_, data);
}

} // namespace ima
