/* SPDX-License-Identifier: GPL-2.0 */
/*
 * System call wrappers: errors that carry errno, owned file descriptors,
 * whole-file I/O, child processes, external commands and temporary files.
 *
 * Functions named *_or_throw / without a try_ prefix throw std::system_error
 * (errno plus what was attempted) on failure. try_* functions return the
 * error instead, for tests that expect a call to fail.
 */
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "ima/bytes.h"

namespace ima {

/* Throws std::system_error for the current errno; @what names the attempt. */
[[noreturn]] void throw_errno(const std::string &what);

/* Owns a file descriptor and closes it on destruction. */
class UniqueFd {
public:
	UniqueFd() = default;
	explicit UniqueFd(int fd) noexcept : fd_(fd) {}
	UniqueFd(UniqueFd &&other) noexcept;
	UniqueFd &operator=(UniqueFd &&other) noexcept;
	UniqueFd(const UniqueFd &) = delete;
	UniqueFd &operator=(const UniqueFd &) = delete;
	~UniqueFd();

	int get() const noexcept { return fd_; }
	explicit operator bool() const noexcept { return fd_ >= 0; }
	/* Closes the current descriptor (if any) and owns @fd instead. */
	void reset(int fd = -1) noexcept;

private:
	int fd_ = -1;
};

UniqueFd open_or_throw(const std::string &path, int flags, mode_t mode = 0);

/* A pipe (O_CLOEXEC) whose ends are closed with it, or one by one with reset(). */
struct Pipe {
	Pipe();

	UniqueFd read_end;
	UniqueFd write_end;
};

/* Result of an open() that may fail on purpose: fd is valid iff error == 0. */
struct OpenResult {
	UniqueFd fd;
	int error = 0;
};
OpenResult try_open(const std::string &path, int flags, mode_t mode = 0);

/* One write() call: the byte count, or -errno. */
ssize_t try_write(int fd, std::string_view data);

/* Writes everything, retrying short writes. */
void write_all(int fd, ByteView data);

/* Reads exactly @size bytes (a pipe message); throws on EOF or an error. */
Bytes read_exact(int fd, std::size_t size);
/*
 * Reads exactly @size bytes at @offset of a file (pread) into @out; throws
 * on EOF or an error, naming the file @name.
 */
void read_exact_at(int fd, std::uint8_t *out, std::size_t size, std::uint64_t offset,
		   const std::string &name);

/* What reads on an fd returned until one failed or hit the end. */
struct ReadsUntilError {
	Bytes bytes;
	/* errno of the read that failed, 0 at the end of the file. */
	int error = 0;
};

/* Reads @fd in pieces of @piece bytes until a read fails or returns 0. */
ReadsUntilError read_until_error(int fd, std::size_t piece);

/* Reads from the current offset until EOF, in chunks (securityfs seq files). */
Bytes read_all(int fd);
Bytes read_file(const std::string &path);
std::string read_text_file(const std::string &path);

/* Creates or truncates @path and writes @data to it. */
void write_file(const std::string &path, ByteView data, mode_t mode = 0600);

/* File names in @dir, without "." and "..", sorted. */
std::vector<std::string> list_directory(const std::string &path);

bool path_exists(const std::string &path);

/* The target of a symbolic link. */
std::string read_symlink(const std::string &path);

/* The symbolic name of an errno value ("EBUSY"), or "errno N". */
std::string errno_name(int error);

/*
 * Removes CAP_SYS_ADMIN from the effective, permitted and inheritable sets
 * of the calling thread, for good: the process stays root otherwise.
 */
void drop_cap_sys_admin();

/* Whether @name is an executable found in $PATH. */
bool command_exists(const std::string &name);

/* The full path of @name: itself if it holds a '/', else found in $PATH. */
std::optional<std::string> find_command(const std::string &name);

/*
 * A command made ready for exec before fork(): its program found in $PATH,
 * its argument and environment arrays built. Between fork() and exec() the
 * child then makes only async-signal-safe calls and allocates nothing: in a
 * multithreaded parent another thread may hold the allocator's lock.
 */
class PreparedCommand {
public:
	/* @argv with the current environment. */
	explicit PreparedCommand(std::vector<std::string> argv);
	/* @argv with the current environment, @name set to @value or, if none, unset. */
	PreparedCommand(std::vector<std::string> argv, const std::string &name,
			const std::optional<std::string> &value);
	PreparedCommand(const PreparedCommand &) = delete;
	PreparedCommand &operator=(const PreparedCommand &) = delete;

	const char *path() const noexcept { return path_.c_str(); }
	char *const *argv() const noexcept { return argv_pointers_.data(); }
	char *const *envp() const noexcept { return env_pointers_.data(); }
	/* What the child writes to stderr when exec fails. */
	std::string_view exec_failure_message() const noexcept { return exec_failure_; }

private:
	void build_pointers();

	std::string path_;
	std::vector<std::string> argv_;
	std::vector<std::string> env_;
	std::vector<char *> argv_pointers_;
	std::vector<char *> env_pointers_;
	std::string exec_failure_;
};

/* Where a spawned command's output goes, and what it may do. */
struct SpawnOptions {
	/* Made the child's stdout / stderr when valid (>= 0). */
	int stdout_fd = -1;
	int stderr_fd = -1;
	/* Drop CAP_SYS_ADMIN from the bounding set before exec. */
	bool drop_cap_sys_admin_bound = false;
};

/*
 * Runs a forked child's body and returns its exit code. The default runs the
 * body; a test runner installs its own, which also ends the child with a
 * failure when a check failed or a test was skipped in it (ktap.cpp).
 */
using ChildBodyRunner = int (*)(const std::function<int()> &body);
void set_child_body_runner(ChildBodyRunner runner);

/*
 * A forked child process. The destructor kills (SIGKILL) and reaps a child
 * that has not been waited for, so a failing test leaves no process behind.
 */
class ChildProcess {
public:
	/*
	 * Forks; the child runs @body through the child body runner and exits
	 * with its result (127 if it throws). Never returns in the child.
	 */
	static ChildProcess fork_and_run(const std::function<int()> &body);
	/*
	 * Forks and execs @command; exit code 127 if exec fails. The child
	 * allocates nothing before exec (see PreparedCommand).
	 */
	static ChildProcess spawn(const PreparedCommand &command, const SpawnOptions &options = {});

	ChildProcess(ChildProcess &&other) noexcept;
	ChildProcess &operator=(ChildProcess &&other) noexcept;
	ChildProcess(const ChildProcess &) = delete;
	ChildProcess &operator=(const ChildProcess &) = delete;
	~ChildProcess();

	pid_t pid() const noexcept { return pid_; }
	/* Waits for the exit: the exit code, or 128 + signal number if killed. */
	int wait();

private:
	explicit ChildProcess(pid_t pid) noexcept : pid_(pid) {}
	void kill_and_reap() noexcept;

	pid_t pid_ = -1;
};

struct CommandResult {
	int exit_code; /* 128 + signal number if killed, 127 if exec failed */
	std::string output; /* stdout and stderr, interleaved */
};

/* The words of @argv joined by spaces, to show a command in a message. */
std::string command_line(const std::vector<std::string> &argv);

/* Runs argv[0] (searched in $PATH) and collects its output. */
CommandResult run_command(const std::vector<std::string> &argv);

/*
 * A file created with a unique name under $TMPDIR (default /tmp) and removed
 * on destruction.
 */
class TempFile {
public:
	explicit TempFile(std::string_view prefix = "ima_staging");
	TempFile(TempFile &&other) noexcept;
	TempFile &operator=(TempFile &&) = delete;
	TempFile(const TempFile &) = delete;
	TempFile &operator=(const TempFile &) = delete;
	~TempFile();

	const std::string &path() const noexcept { return path_; }
	/* Replaces the contents. */
	void write(ByteView data) const;
	void write(std::string_view text) const { write(as_bytes(text)); }

private:
	std::string path_;
};

} // namespace ima
