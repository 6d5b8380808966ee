// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz: a seeded random sequence of operations on the measurement files,
 * each checked against a model of what the contract says must happen.
 *
 * The operations: opens (read-only, write-only, read-write) of any
 * measurement file, by the main thread, by other threads of this process
 * and by other processes (forked workers driven by commands over pipes,
 * one of them without CAP_SYS_ADMIN); reads; valid and malformed requests
 * (A, D, N with valid, zero, huge and non-digit numbers, on the right and
 * the wrong kind of file, too short, too long, without newline, with a
 * NUL, random bytes); closes; and new measurements. A read takes the whole
 * file from byte 0, or a few bytes from where the descriptor's last read
 * stopped: the bytes the model has there, or, if a request moved or removed
 * records of its list since the descriptor left byte 0, the rest of the
 * record the last read stopped in (seq_file formatted it then) and ESTALE.
 *
 * The model knows which process is the writer and which files every
 * process holds, and both lists record by record as every file shows them.
 * It predicts each result and errno exactly. After every step the record
 * count and the sha1 binary lists are compared with it (so a failed
 * request must have changed nothing), every kFullCheckEvery steps every
 * list file. A read returns the whole file and is compared too.
 *
 *	ima_fuzz_test [--seed S] [--steps N] [-t TEST]...
 *
 * The seed is printed; a mismatch prints the last steps and how to repeat
 * them. At the end, the records saved before each deletion followed by the
 * current list replay to PCR 10 and the record counts add up.
 *
 * Needs what ima_prompt_test needs. The model computes the lists of sha1
 * and sha256 byte for byte; those of banks the library cannot hash, field
 * by field without the template digests.
 */
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fcntl.h>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <system_error>
#include <thread>
#include <unistd.h>

#include "ktap.h"
#include "lib/ima.h"
#include "lib/options.h"
#include "lib/require.h"
#include "lib/staging.h"

using namespace ima;

namespace {

constexpr unsigned long kDefaultSteps = 10000;
/* Steps between comparisons of every list file with the model. */
constexpr unsigned long kFullCheckEvery = 100;
/* Steps printed before a mismatch. */
constexpr std::size_t kHistoryLength = 40;
/* A process opens no more files than this at once. */
constexpr std::size_t kMaxFilesPerParty = 5;
/* With this many steps, the fuzz must have reached every outcome it aims at. */
constexpr unsigned long kCoverageSteps = 5000;
/* A read that goes on from where the last one stopped asks for 1 to this many bytes. */
constexpr std::size_t kMaxReadOn = 300;
/* A request is one write of 2 to 21 bytes ending in a newline. */
constexpr std::size_t kRequestMinLen = 2;
constexpr std::size_t kRequestMaxLen = 21;
const std::string kUlongMax = "18446744073709551615";

struct FuzzOptions {
	std::uint64_t seed = 0;
	unsigned long steps = kDefaultSteps;
};

FuzzOptions &options()
{
	static FuzzOptions fuzz_options;

	return fuzz_options;
}

/* ---- Operations, run by a thread of this process or by a worker process ---- */

enum class Op : std::uint32_t { open, close, read, read_on, write, measure, read_path, quit };

struct Command {
	Op op = Op::quit;
	int fd = -1;		/* close, read, read_on, write */
	int flags = 0;		/* open; read_on: the byte count */
	std::string text;	/* open, read_path: a file of the IMA directory; write: the data */
};

struct Reply {
	int result = 0;		/* open: the descriptor; write: bytes written; else 0; or -errno */
	Bytes payload;		/* read, read_on, read_path: the bytes read; measure: the file name */
	std::string failure;	/* an exception in the party that ran the command */
};

/* Reads @fd from its first byte to the end into @out: 0, or -errno. */
int read_from_start(int fd, Bytes &out)
{
	if (::lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	try {
		out = read_all(fd);
	} catch (const std::system_error &e) {
		return -e.code().value();
	}
	return 0;
}

/* One read() of @count bytes at the descriptor's position; the byte count or -errno. */
int read_on(int fd, std::size_t count, Bytes &out)
{
	out.resize(count);
	ssize_t got = ::read(fd, out.data(), count);

	if (got < 0) {
		out.clear();
		return -errno;
	}
	out.resize(static_cast<std::size_t>(got));
	return static_cast<int>(got);
}

/* The measurement files a process holds open, by descriptor, and what it does with them. */
class FileTable {
public:
	Reply execute(const Command &command);

private:
	int open_file(const std::string &name, int flags);
	int close_file(int fd);
	int file(int fd) const;

	std::map<int, UniqueFd> files_;
};

int FileTable::open_file(const std::string &name, int flags)
{
	OpenResult opened = try_open(ima_path(name), flags);

	if (opened.error)
		return -opened.error;
	int fd = opened.fd.get();
	files_[fd] = std::move(opened.fd);
	return fd;
}

int FileTable::close_file(int fd)
{
	if (!files_.erase(fd))
		throw std::logic_error("close of descriptor " + std::to_string(fd) +
				       " this process does not hold");
	return 0;
}

int FileTable::file(int fd) const
{
	if (!files_.count(fd))
		throw std::logic_error("descriptor " + std::to_string(fd) +
				       " is not held by this process");
	return fd;
}

Reply FileTable::execute(const Command &command)
{
	Reply reply;

	try {
		switch (command.op) {
		case Op::open:
			reply.result = open_file(command.text, command.flags);
			break;
		case Op::close:
			reply.result = close_file(command.fd);
			break;
		case Op::read:
			reply.result = read_from_start(file(command.fd), reply.payload);
			break;
		case Op::read_on:
			reply.result = read_on(file(command.fd), static_cast<std::size_t>(command.flags),
					       reply.payload);
			break;
		case Op::write:
			reply.result = static_cast<int>(try_write(file(command.fd), command.text));
			break;
		case Op::measure:
			reply.payload = to_bytes(create_measurement());
			break;
		case Op::read_path: {
			OpenResult opened = try_open(ima_path(command.text), O_RDONLY);
			reply.result = opened.error ? -opened.error
						    : read_from_start(opened.fd.get(), reply.payload);
			break;
		}
		case Op::quit:
			break;
		}
	} catch (const std::exception &e) {
		reply.failure = e.what();
	}
	return reply;
}

/* Pipe messages: little-endian u32 fields, then the variable parts. */
void send_command(int fd, const Command &command)
{
	Bytes message;

	append_le32(message, static_cast<std::uint32_t>(command.op));
	append_le32(message, static_cast<std::uint32_t>(command.fd));
	append_le32(message, static_cast<std::uint32_t>(command.flags));
	append_le32(message, static_cast<std::uint32_t>(command.text.size()));
	append(message, as_bytes(command.text));
	write_all(fd, message);
}

Command receive_command(int fd)
{
	Bytes header = read_exact(fd, 16);
	Command command;

	command.op = static_cast<Op>(load_le32(header, 0));
	command.fd = static_cast<int>(load_le32(header, 4));
	command.flags = static_cast<int>(load_le32(header, 8));
	Bytes text = read_exact(fd, load_le32(header, 12));
	command.text.assign(text.begin(), text.end());
	return command;
}

void send_reply(int fd, const Reply &reply)
{
	Bytes message;

	append_le32(message, static_cast<std::uint32_t>(reply.result));
	append_le32(message, static_cast<std::uint32_t>(reply.payload.size()));
	append_le32(message, static_cast<std::uint32_t>(reply.failure.size()));
	append(message, reply.payload);
	append(message, as_bytes(reply.failure));
	write_all(fd, message);
}

Reply receive_reply(int fd)
{
	Bytes header = read_exact(fd, 12);
	Reply reply;

	reply.result = static_cast<int>(load_le32(header, 0));
	reply.payload = read_exact(fd, load_le32(header, 4));
	Bytes failure = read_exact(fd, load_le32(header, 8));
	reply.failure.assign(failure.begin(), failure.end());
	return reply;
}

/* Something that runs commands for a process ("party") of the model. */
class Actor {
public:
	Actor(std::string name, std::size_t party) : name_(std::move(name)), party_(party) {}
	virtual ~Actor() = default;
	Actor(const Actor &) = delete;
	Actor &operator=(const Actor &) = delete;

	/* Runs @command; throws if it failed with an exception. */
	Reply run(const Command &command)
	{
		Reply reply = execute(command);

		if (!reply.failure.empty())
			throw std::runtime_error(name_ + ": " + reply.failure);
		return reply;
	}

	const std::string &name() const { return name_; }
	std::size_t party() const { return party_; }

protected:
	virtual Reply execute(const Command &command) = 0;

private:
	std::string name_;
	std::size_t party_;
};

/* The main thread of this process. */
class MainThreadActor : public Actor {
public:
	explicit MainThreadActor(FileTable &table) : Actor("main thread", 0), table_(table) {}

protected:
	Reply execute(const Command &command) override { return table_.execute(command); }

private:
	FileTable &table_;
};

/* Another thread of this process: it shares the main thread's files. */
class ThreadActor : public Actor {
public:
	ThreadActor(std::string name, FileTable &table)
		: Actor(std::move(name), 0), table_(table), thread_([this]() { serve(); })
	{
	}

	~ThreadActor() override
	{
		{
			std::lock_guard<std::mutex> lock(mutex_);
			quit_ = true;
		}
		wake_.notify_all();
		thread_.join();
	}

protected:
	Reply execute(const Command &command) override
	{
		std::unique_lock<std::mutex> lock(mutex_);

		command_ = command;
		wake_.notify_all();
		wake_.wait(lock, [this]() { return reply_.has_value(); });
		Reply reply = std::move(*reply_);
		reply_.reset();
		return reply;
	}

private:
	void serve()
	{
		std::unique_lock<std::mutex> lock(mutex_);

		for (;;) {
			wake_.wait(lock, [this]() { return quit_ || command_.has_value(); });
			if (quit_)
				return;
			Command command = std::move(*command_);
			command_.reset();
			lock.unlock();
			Reply reply = table_.execute(command);
			lock.lock();
			reply_ = std::move(reply);
			wake_.notify_all();
		}
	}

	FileTable &table_;
	std::mutex mutex_;
	std::condition_variable wake_;
	std::optional<Command> command_;
	std::optional<Reply> reply_;
	bool quit_ = false;
	/* Last: the thread starts once the members it uses exist. */
	std::thread thread_;
};

/*
 * A forked worker process with files of its own. Create the workers before
 * any measurement file is open: a child inherits the parent's descriptors.
 */
class ProcessActor : public Actor {
public:
	ProcessActor(std::string name, std::size_t party, bool privileged)
		: Actor(std::move(name), party)
	{
		child_.emplace(ChildProcess::fork_and_run([&]() { return serve(privileged); }));
		/*
		 * A dead worker gives EOF on the replies; the read end of the
		 * commands stays open, so that writing to it raises no SIGPIPE.
		 */
		replies_.write_end.reset();
	}

	~ProcessActor() override
	{
		try {
			send_command(commands_.write_end.get(), Command{});
			child_->wait();
		} catch (const std::exception &e) {
			std::fprintf(stderr, "%s: %s\n", name().c_str(), e.what());
		}
	}

protected:
	Reply execute(const Command &command) override
	{
		send_command(commands_.write_end.get(), command);
		return receive_reply(replies_.read_end.get());
	}

private:
	int serve(bool privileged)
	{
		FileTable table;

		commands_.write_end.reset();
		replies_.read_end.reset();
		if (!privileged)
			drop_cap_sys_admin();
		for (;;) {
			Command command = receive_command(commands_.read_end.get());

			if (command.op == Op::quit)
				return 0;
			send_reply(replies_.write_end.get(), table.execute(command));
		}
	}

	Pipe commands_;
	Pipe replies_;
	std::optional<ChildProcess> child_;
};

/* ---- The model ---- */

/* A measurement file as the model sees it (symlinks resolved). */
struct ListFile {
	std::string name;
	ListFormat format;
	std::string algo;
	bool staged;
};

std::vector<ListFile> fuzzed_files()
{
	std::vector<ListFile> files;

	for (const std::string &algo : list_algos())
		for (ListFormat format : {ListFormat::binary, ListFormat::ascii})
			for (bool staged : {false, true})
				files.push_back({list_file_name(format, algo, staged), format, algo,
						 staged});
	for (ListFormat format : {ListFormat::binary, ListFormat::ascii})
		for (bool staged : {false, true})
			files.push_back({list_symlink_name(format, staged), format, "sha1", staged});
	return files;
}

/*
 * Whether the model knows the @algo lists byte for byte. For algorithms
 * the library cannot hash, it knows every field of the records but their
 * template digests.
 */
bool exact_algo(std::string_view algo)
{
	return hash_algo_from_name(algo).has_value();
}

/* One record: its fields, and the bytes the files of every exact algorithm show. */
struct ModelRecord {
	Record fields;		/* as the sha1 list shows it */
	std::map<std::string, Bytes, std::less<>> binary;
	std::map<std::string, std::string, std::less<>> ascii;
};

std::vector<std::string> split_lines(const std::string &text)
{
	std::vector<std::string> lines;

	for (std::size_t start = 0; start < text.size();) {
		std::size_t end = text.find('\n', start);

		if (end == std::string::npos)
			throw std::runtime_error("ascii list without a final newline");
		lines.push_back(text.substr(start, end + 1 - start));
		start = end + 1;
	}
	return lines;
}

std::vector<Record> parse_list_file(const ListFile &file, const Bytes &content)
{
	if (file.format == ListFormat::binary)
		return parse_binary_list(content, *digest_size_by_name(file.algo));
	return parse_ascii_list(std::string(content.begin(), content.end()));
}

/* The staged and current lists, record by record. */
class ListModel {
public:
	/* The current lists as the kernel shows them now, with nothing staged. */
	static ListModel from_kernel();

	std::size_t current() const { return current_.size(); }
	std::size_t staged() const { return staged_.size(); }

	/* How @shown, read from @file, differs from what the model says; empty if not. */
	std::string difference(const ListFile &file, const Bytes &shown) const;
	/* What @file shows from byte @from on (exact algorithms only). */
	Bytes content_from(const ListFile &file, std::size_t from) const;
	/* What @file shows from byte @from to the end of the record that holds it. */
	Bytes record_rest(const ListFile &file, std::size_t from) const;
	/*
	 * Bumped by every change of @file's list that moves or removes
	 * records (A, D, N), not by an appended measurement: a read that
	 * goes on from past byte 0 across one fails with ESTALE.
	 */
	std::uint64_t generation(const ListFile &file) const
	{
		return file.staged ? staged_generation_ : current_generation_;
	}

	/* A new measurement of @event: a record for every algorithm. */
	void add(const ImaNgEvent &event);
	void stage();
	void delete_staged()
	{
		staged_.clear();
		staged_generation_++;
	}
	void delete_oldest(std::size_t n)
	{
		current_.erase(current_.begin(), current_.begin() + n);
		current_generation_++;
	}

private:
	const std::deque<ModelRecord> &records(const ListFile &file) const
	{
		return file.staged ? staged_ : current_;
	}
	Bytes content(const ListFile &file) const;
	std::string field_difference(const ListFile &file, const Bytes &shown) const;

	std::deque<ModelRecord> current_;
	std::deque<ModelRecord> staged_;
	std::uint64_t current_generation_ = 0;
	std::uint64_t staged_generation_ = 0;
};

ListModel ListModel::from_kernel()
{
	ListModel model;
	std::vector<Record> fields = read_binary_list("sha1");

	model.current_.resize(fields.size());
	for (std::size_t i = 0; i < fields.size(); i++)
		model.current_[i].fields = fields[i];
	for (const std::string &algo : list_algos()) {
		if (!exact_algo(algo))
			continue;
		Bytes binary = read_binary_list_bytes(algo);
		std::vector<Record> records = parse_binary_list(binary, *digest_size_by_name(algo));
		std::vector<std::string> lines = split_lines(
			read_text_file(ima_path(list_file_name(ListFormat::ascii, algo))));

		if (serialize_binary_list(records) != binary)
			throw std::runtime_error("the " + algo + " list does not reserialize");
		if (lines.size() != fields.size() || records.size() != fields.size())
			throw std::runtime_error("the lists changed while the model was built");
		for (std::size_t i = 0; i < records.size(); i++) {
			append_binary_record(model.current_[i].binary[algo], records[i]);
			model.current_[i].ascii[algo] = lines[i];
		}
	}
	return model;
}

Bytes ListModel::content(const ListFile &file) const
{
	Bytes bytes;

	for (const ModelRecord &record : records(file)) {
		if (file.format == ListFormat::binary)
			append(bytes, record.binary.at(file.algo));
		else
			append(bytes, as_bytes(record.ascii.at(file.algo)));
	}
	return bytes;
}

Bytes ListModel::content_from(const ListFile &file, std::size_t from) const
{
	Bytes bytes = content(file);

	return Bytes(bytes.begin() + static_cast<std::ptrdiff_t>(std::min(from, bytes.size())),
		     bytes.end());
}

Bytes ListModel::record_rest(const ListFile &file, std::size_t from) const
{
	std::size_t start = 0;

	for (const ModelRecord &record : records(file)) {
		std::size_t size = file.format == ListFormat::binary
					   ? record.binary.at(file.algo).size()
					   : record.ascii.at(file.algo).size();

		if (from < start + size) {
			Bytes bytes = content_from(file, from);

			bytes.resize(start + size - from);
			return bytes;
		}
		start += size;
	}
	return {};
}

std::string ListModel::difference(const ListFile &file, const Bytes &shown) const
{
	if (!exact_algo(file.algo))
		return field_difference(file, shown);
	Bytes expected = content(file);
	if (shown == expected)
		return "";
	/* The same comparison by fields finds the first record that differs. */
	std::string fields = field_difference(file, shown);
	return file.name + ": the kernel shows " + std::to_string(shown.size()) +
	       " bytes, the model " + std::to_string(expected.size()) +
	       (fields.empty() ? "; only template digests differ" : "; " + fields);
}

std::string ListModel::field_difference(const ListFile &file, const Bytes &shown) const
{
	const std::deque<ModelRecord> &expected = records(file);
	std::vector<Record> parsed;

	try {
		parsed = parse_list_file(file, shown);
	} catch (const ParseError &e) {
		return file.name + ": " + e.what();
	}
	if (parsed.size() != expected.size())
		return file.name + ": the kernel shows " + std::to_string(parsed.size()) +
		       " records, the model " + std::to_string(expected.size());
	for (std::size_t i = 0; i < parsed.size(); i++) {
		const Record &kernel = parsed[i];
		const Record &model = expected[i].fields;

		if (kernel.pcr != model.pcr || kernel.template_name != model.template_name ||
		    kernel.template_data != model.template_data ||
		    kernel.template_digest.size() != *digest_size_by_name(file.algo))
			return file.name + ": record " + std::to_string(i) + " is " +
			       ktap::str(kernel) + ", the model has " + ktap::str(model);
	}
	return "";
}

void ListModel::add(const ImaNgEvent &event)
{
	ModelRecord record;

	record.fields = make_ima_ng_record(event, HashAlgo::sha1);
	for (const std::string &algo : list_algos()) {
		if (!exact_algo(algo))
			continue;
		Record shown = make_ima_ng_record(event, *hash_algo_from_name(algo));
		append_binary_record(record.binary[algo], shown);
		record.ascii[algo] = format_ascii_record(shown);
	}
	current_.push_back(std::move(record));
}

void ListModel::stage()
{
	staged_ = std::move(current_);
	current_.clear();
	current_generation_++;
	staged_generation_++;
}

bool opens_for_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY;
}

bool opens_for_read(int flags)
{
	return (flags & O_ACCMODE) != O_WRONLY;
}

std::string_view flags_name(int flags)
{
	switch (flags & O_ACCMODE) {
	case O_RDONLY:
		return "O_RDONLY";
	case O_WRONLY:
		return "O_WRONLY";
	default:
		return "O_RDWR";
	}
}

struct OpenFile {
	std::size_t file;	/* index into the fuzzed files */
	int flags;
	/* Where the descriptor's next read() begins. */
	std::size_t position = 0;
	/* The generation of its list when it left byte 0 (ListModel::generation()). */
	std::uint64_t generation = 0;
	/*
	 * The rest of the record its last read stopped in, as the kernel
	 * formatted it then: seq_file keeps it buffered and serves it before
	 * it looks at the list again.
	 */
	Bytes record_rest = {};
};

/* Which process holds which measurement files. */
class AccessModel {
public:
	/*
	 * The errno an open by @party must fail with, or 0. The capability is
	 * checked first: a process without it never opens for write.
	 */
	int open_errno(std::size_t party, bool privileged, int flags) const;

	/* The party holding a file open for write: the writer. */
	std::optional<std::size_t> writer() const;

	void opened(std::size_t party, int fd, OpenFile file) { files_[{party, fd}] = file; }
	void closed(std::size_t party, int fd) { files_.erase({party, fd}); }
	const OpenFile &at(std::size_t party, int fd) const { return files_.at({party, fd}); }
	OpenFile &at(std::size_t party, int fd) { return files_.at({party, fd}); }
	std::vector<int> descriptors(std::size_t party) const;

private:
	std::map<std::pair<std::size_t, int>, OpenFile> files_;
};

int AccessModel::open_errno(std::size_t party, bool privileged, int flags) const
{
	std::optional<std::size_t> holder = writer();

	if (opens_for_write(flags) && !privileged)
		return EPERM;
	if (holder && *holder != party)
		return EBUSY;
	if (opens_for_write(flags))
		for (const auto &[key, file] : files_)
			if (key.first != party && !opens_for_write(file.flags))
				return EBUSY;
	return 0;
}

std::optional<std::size_t> AccessModel::writer() const
{
	for (const auto &[key, file] : files_)
		if (opens_for_write(file.flags))
			return key.first;
	return std::nullopt;
}

std::vector<int> AccessModel::descriptors(std::size_t party) const
{
	std::vector<int> fds;

	for (const auto &[key, file] : files_)
		if (key.first == party)
			fds.push_back(key.second);
	return fds;
}

/* What a request does, by the contract. */
enum class Effect { none, stage, delete_staged, delete_oldest };

struct Prediction {
	int error = 0;
	Effect effect = Effect::none;
	std::size_t n = 0;
};

/* A request without its newline; none if it is not one write of 2 to 21 bytes ending in one. */
std::optional<std::string_view> request_body(std::string_view request)
{
	if (request.size() < kRequestMinLen || request.size() > kRequestMaxLen ||
	    request.back() != '\n' || request.find('\0') != std::string_view::npos)
		return std::nullopt;
	return request.substr(0, request.size() - 1);
}

bool all_digits(std::string_view text)
{
	return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

/* The kind of a request, to count outcomes by: "A", "D", "N" or "malformed". */
std::string request_kind(std::string_view request)
{
	std::optional<std::string_view> body = request_body(request);

	if (body && (*body == "A" || *body == "D"))
		return std::string(*body);
	return body && all_digits(*body) ? "N" : "malformed";
}

/* What a request depends on: how many records are staged and current. */
struct ListCounts {
	std::size_t staged = 0;
	std::size_t current = 0;
};

Prediction predict_staged_request(std::string_view body, ListCounts lists)
{
	if (body == "A") {
		if (lists.staged)
			return {EEXIST};
		if (!lists.current)
			return {ENOENT};
		return {0, Effect::stage};
	}
	if (body == "D")
		return lists.staged ? Prediction{0, Effect::delete_staged} : Prediction{ENOENT};
	return {EINVAL};
}

/*
 * The contract names the errors of N without an order between EEXIST and
 * ENOENT; as for A, the state that refuses every N (records staged) comes
 * before the count. The number's syntax comes first of all.
 */
Prediction predict_original_request(std::string_view body, ListCounts lists, bool flush)
{
	unsigned long n = 0;

	if (!all_digits(body))
		return {EINVAL};
	auto [end, error] = std::from_chars(body.data(), body.data() + body.size(), n);
	if (error == std::errc::result_out_of_range)
		return {ERANGE};
	if (error != std::errc() || end != body.data() + body.size())
		throw std::logic_error("digits that do not parse: " + std::string(body));
	if (n == 0 || flush)
		return {EINVAL};
	if (lists.staged)
		return {EEXIST};
	if (lists.current < n)
		return {ENOENT};
	return {0, Effect::delete_oldest, n};
}

Prediction predict_request(std::string_view request, bool staged_file, ListCounts lists,
			   bool flush)
{
	std::optional<std::string_view> body = request_body(request);

	if (!body)
		return {EINVAL};
	return staged_file ? predict_staged_request(*body, lists)
			   : predict_original_request(*body, lists, flush);
}

/* ---- The fuzzer ---- */

struct ModelMismatch : std::runtime_error {
	using std::runtime_error::runtime_error;
};

/* "7", "-EBUSY" */
std::string show_result(int result)
{
	return result < 0 ? "-" + errno_name(-result) : std::to_string(result);
}

/* A request as text: printable bytes as they are, others as \xNN. */
std::string show_request(std::string_view request)
{
	static constexpr char digits[] = "0123456789abcdef";
	std::string text = "\"";

	for (std::size_t i = 0; i < request.size() && i < 32; i++) {
		unsigned char c = static_cast<unsigned char>(request[i]);

		if (c == '\n') {
			text += "\\n";
		} else if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			text += static_cast<char>(c);
		} else {
			text += "\\x";
			text += digits[c >> 4];
			text += digits[c & 0xf];
		}
	}
	return text + (request.size() > 32 ? "\"... (" + std::to_string(request.size()) + " bytes)"
					   : "\"");
}

enum class Action { open, close, read, write, measure };

/* Where the fuzz concentrates for a while. */
enum class Regime {
	crowd,	/* every actor does anything */
	calm,	/* mostly closes: the processes let go of their files */
	solo,	/*
		 * one process works, the others only close their files: it
		 * becomes the writer, stages and deletes, and empties the
		 * lists, for little is measured meanwhile
		 */
};

class Fuzzer {
public:
	Fuzzer(std::uint64_t seed, HashAlgo file_hash, bool flush);

	/* Runs step number @index; throws ModelMismatch when the kernel disagrees. */
	void step(unsigned long index);
	void check_lists(bool every_file);

	const std::deque<std::string> &history() const { return history_; }
	/* How often each outcome was seen: "open" -> errno (0 for success) -> count. */
	const std::map<std::string, std::map<int, unsigned long>> &outcomes() const
	{
		return outcomes_;
	}
	unsigned long measured() const { return measured_; }

private:
	void add_actors();
	Actor &pick_actor();
	Action pick_action();
	void maybe_change_regime();
	std::size_t pick(std::size_t count) { return random_() % count; }
	bool chance(unsigned percent) { return random_() % 100 < percent; }

	void open_step(Actor &actor);
	void close_step(Actor &actor);
	void read_step(Actor &actor);
	void read_on_step(Actor &actor, int fd, const std::string &read);
	void write_step(Actor &actor);
	int pick_file_to_write(std::size_t party);
	void measure_step(Actor &actor);

	std::string random_request(const ListFile &file);
	std::string random_number_request();
	std::string random_malformed_request();
	std::map<std::string, Bytes, std::less<>> group_to_delete(Actor &actor,
								   const Prediction &prediction);
	Bytes read_through(Actor &actor, const ListFile &file);
	Actor &checking_actor();

	void expect_result(const std::string &what, int result, int expected);
	void record(const std::string &line);
	void count(const std::string &what, int result);

	std::mt19937_64 random_;
	HashAlgo file_hash_;
	bool flush_;
	std::vector<ListFile> files_;
	std::vector<bool> privileged_;	/* by party */
	FileTable main_files_;
	std::vector<std::unique_ptr<Actor>> actors_;
	ListModel lists_;
	AccessModel access_;
	Regime regime_ = Regime::crowd;
	std::size_t solo_party_ = 0;
	unsigned long regime_steps_left_ = 0;
	unsigned long index_ = 0;
	unsigned long measured_ = 0;
	std::deque<std::string> history_;
	std::map<std::string, std::map<int, unsigned long>> outcomes_;
};

Fuzzer::Fuzzer(std::uint64_t seed, HashAlgo file_hash, bool flush)
	: random_(seed), file_hash_(file_hash), flush_(flush), files_(fuzzed_files()),
	  lists_(ListModel::from_kernel())
{
	add_actors();
}

void Fuzzer::add_actors()
{
	/*
	 * Parties: 0 this process, 1 and 2 workers, 3 a worker without
	 * CAP_SYS_ADMIN. The workers are forked first, before any thread.
	 */
	privileged_ = {true, true, true, false};
	actors_.push_back(std::make_unique<ProcessActor>("worker 1", 1, true));
	actors_.push_back(std::make_unique<ProcessActor>("worker 2", 2, true));
	actors_.push_back(std::make_unique<ProcessActor>("worker 3 (no CAP_SYS_ADMIN)", 3, false));
	actors_.insert(actors_.begin(), std::make_unique<MainThreadActor>(main_files_));
	actors_.push_back(std::make_unique<ThreadActor>("thread 1", main_files_));
	actors_.push_back(std::make_unique<ThreadActor>("thread 2", main_files_));
}

void Fuzzer::maybe_change_regime()
{
	/* A regime lasts 50 to 299 steps: crowd 35 %, calm 15 %, solo 50 % of them. */
	if (regime_steps_left_--)
		return;
	regime_steps_left_ = 50 + pick(250);
	unsigned roll = static_cast<unsigned>(pick(100));
	regime_ = roll < 35 ? Regime::crowd : roll < 50 ? Regime::calm : Regime::solo;
	solo_party_ = pick(privileged_.size());
}

Actor &Fuzzer::pick_actor()
{
	Actor &actor = *actors_[pick(actors_.size())];
	std::vector<Actor *> own;

	if (regime_ != Regime::solo || actor.party() == solo_party_ ||
	    (!access_.descriptors(actor.party()).empty() && chance(50)))
		return actor;
	for (const std::unique_ptr<Actor> &candidate : actors_)
		if (candidate->party() == solo_party_)
			own.push_back(candidate.get());
	return *own[pick(own.size())];
}

Action Fuzzer::pick_action()
{
	/* Weights of open, close, read, write, measure. */
	static constexpr unsigned kCrowd[] = {25, 15, 15, 30, 15};
	static constexpr unsigned kCalm[] = {5, 50, 10, 20, 15};
	static constexpr unsigned kSolo[] = {20, 15, 15, 45, 5};
	const unsigned *weights = regime_ == Regime::calm   ? kCalm
				  : regime_ == Regime::solo ? kSolo
							    : kCrowd;
	unsigned roll = static_cast<unsigned>(pick(100));

	for (unsigned action = 0;; action++) {
		if (roll < weights[action])
			return static_cast<Action>(action);
		roll -= weights[action];
	}
}

void Fuzzer::step(unsigned long index)
{
	index_ = index;
	maybe_change_regime();
	Actor &actor = pick_actor();
	Action action = pick_action();
	std::size_t held = access_.descriptors(actor.party()).size();

	/* Others only let go of their files while one process works alone. */
	if (regime_ == Regime::solo && actor.party() != solo_party_)
		action = Action::close;
	if (held == 0 && (action == Action::close || action == Action::read ||
			  action == Action::write))
		action = Action::open;
	if (held >= kMaxFilesPerParty && action == Action::open)
		action = Action::close;

	switch (action) {
	case Action::open:
		open_step(actor);
		break;
	case Action::close:
		close_step(actor);
		break;
	case Action::read:
		read_step(actor);
		break;
	case Action::write:
		write_step(actor);
		break;
	case Action::measure:
		measure_step(actor);
		break;
	}
	check_lists(index % kFullCheckEvery == kFullCheckEvery - 1);
}

void Fuzzer::record(const std::string &line)
{
	history_.push_back("step " + std::to_string(index_ + 1) + ": " + line);
	if (history_.size() > kHistoryLength)
		history_.pop_front();
}

void Fuzzer::count(const std::string &what, int result)
{
	outcomes_[what][result < 0 ? -result : 0]++;
}

void Fuzzer::expect_result(const std::string &what, int result, int expected)
{
	if (result != expected)
		throw ModelMismatch(what + ": the kernel returned " + show_result(result) +
				    ", the contract says " + show_result(expected));
}

void Fuzzer::open_step(Actor &actor)
{
	std::size_t file = pick(files_.size());
	/* Half of the opens read only; a quarter while one process works alone. */
	static constexpr int kFlags[] = {O_RDONLY, O_RDONLY, O_WRONLY, O_RDWR};
	int flags = regime_ == Regime::solo && chance(50) ? kFlags[2 + pick(2)] : kFlags[pick(4)];
	int expected = access_.open_errno(actor.party(), privileged_[actor.party()], flags);
	std::string what = actor.name() + ": open " + files_[file].name + " " +
			   std::string(flags_name(flags));

	Reply reply = actor.run({Op::open, -1, flags, files_[file].name});
	record(what + " = " + show_result(reply.result));
	count("open", reply.result);
	if (expected == 0 && reply.result < 0)
		throw ModelMismatch(what + ": the kernel returned " + show_result(reply.result) +
				    ", the contract says the open succeeds");
	if (expected == 0) {
		access_.opened(actor.party(), reply.result, {file, flags});
		return;
	}
	expect_result(what, reply.result, -expected);
}

void Fuzzer::close_step(Actor &actor)
{
	std::vector<int> fds = access_.descriptors(actor.party());
	int fd = fds[pick(fds.size())];
	std::string what = actor.name() + ": close " + std::to_string(fd) + " (" +
			   files_[access_.at(actor.party(), fd).file].name + ")";

	Reply reply = actor.run({Op::close, fd, 0, ""});
	record(what + " = " + show_result(reply.result));
	count("close", reply.result);
	access_.closed(actor.party(), fd);
	expect_result(what, reply.result, 0);
}

void Fuzzer::read_step(Actor &actor)
{
	std::vector<int> fds = access_.descriptors(actor.party());
	int fd = fds[pick(fds.size())];
	OpenFile &open = access_.at(actor.party(), fd);
	const ListFile &file = files_[open.file];
	std::string what = actor.name() + ": read " + std::to_string(fd) + " (" + file.name +
			   " " + std::string(flags_name(open.flags)) + ")";

	/*
	 * Byte for byte only where the model has every byte; always on a
	 * descriptor a request made stale after a partial read (ESTALE).
	 */
	bool stale = open.position > 0 && open.generation != lists_.generation(file);
	if (exact_algo(file.algo) && (stale || chance(50))) {
		read_on_step(actor, fd, what);
		return;
	}
	Reply reply = actor.run({Op::read, fd, 0, ""});
	record(what + " = " + show_result(reply.result) + ", " +
	       std::to_string(reply.payload.size()) + " bytes");
	count("read", reply.result);
	expect_result(what, reply.result, opens_for_read(open.flags) ? 0 : -EBADF);
	if (reply.result != 0)
		return;
	if (std::string difference = lists_.difference(file, reply.payload); !difference.empty())
		throw ModelMismatch(what + ": " + difference);
	/* From byte 0 to the end: the descriptor is bound to its list as it is now. */
	open.position = reply.payload.size();
	open.generation = lists_.generation(file);
	open.record_rest.clear();
}

/*
 * One read() of a few bytes from where the descriptor's last read stopped:
 * the bytes the model has there; or, if a request moved or removed records
 * of its list since the descriptor left byte 0, the rest of the record its
 * last read stopped in (formatted then, still buffered), and after that
 * ESTALE, consuming nothing.
 */
void Fuzzer::read_on_step(Actor &actor, int fd, const std::string &read)
{
	OpenFile &open = access_.at(actor.party(), fd);
	const ListFile &file = files_[open.file];
	std::size_t count_wanted = 1 + pick(kMaxReadOn);
	bool stale = open.position > 0 && open.generation != lists_.generation(file);
	Bytes expected = stale ? open.record_rest : lists_.content_from(file, open.position);
	std::string what = read + " on from byte " + std::to_string(open.position) + ", " +
			   std::to_string(count_wanted) + " bytes";

	Reply reply = actor.run({Op::read_on, fd, static_cast<int>(count_wanted), ""});
	record(what + " = " + show_result(reply.result));
	count(open.position ? "read on from past byte 0" : "read on from byte 0",
	      reply.result < 0 ? reply.result : 0);
	if (!opens_for_read(open.flags)) {
		expect_result(what, reply.result, -EBADF);
		return;
	}
	if (stale && expected.empty()) {
		expect_result(what, reply.result, -ESTALE);
		return;
	}
	if (reply.result < 0)
		throw ModelMismatch(what + ": " + show_result(reply.result) + ", the model expects " +
				    std::to_string(std::min(count_wanted, expected.size())) + " bytes" +
				    (stale ? " (the rest of a record read before the list changed)"
					   : ""));
	/* seq_file fills the read: as many bytes as asked for, or up to the end. */
	expected.resize(std::min(count_wanted, expected.size()));
	if (reply.payload != expected)
		throw ModelMismatch(what + ": the kernel gives " +
				    std::to_string(reply.payload.size()) + " bytes, the model " +
				    std::to_string(expected.size()) +
				    (reply.payload.size() == expected.size() ? ", which differ" : "") +
				    (stale ? " (the rest of a record read before the list changed)"
					   : ""));
	if (open.position == 0)
		open.generation = lists_.generation(file);
	open.position += reply.payload.size();
	if (stale)
		open.record_rest.erase(open.record_rest.begin(),
				       open.record_rest.begin() +
					       static_cast<std::ptrdiff_t>(reply.payload.size()));
	else
		open.record_rest = lists_.record_rest(file, open.position);
}

/* One of the files @party holds, mostly one it may write to if it has any. */
int Fuzzer::pick_file_to_write(std::size_t party)
{
	std::vector<int> fds = access_.descriptors(party);
	std::vector<int> writable;

	for (int fd : fds)
		if (opens_for_write(access_.at(party, fd).flags))
			writable.push_back(fd);
	if (!writable.empty() && chance(80))
		return writable[pick(writable.size())];
	return fds[pick(fds.size())];
}

void Fuzzer::write_step(Actor &actor)
{
	int fd = pick_file_to_write(actor.party());
	const OpenFile &open = access_.at(actor.party(), fd);
	const ListFile &file = files_[open.file];
	std::string request = random_request(file);
	Prediction prediction = opens_for_write(open.flags)
					? predict_request(request, file.staged,
							  {lists_.staged(), lists_.current()}, flush_)
					: Prediction{EBADF};
	std::string what = actor.name() + ": write " + show_request(request) + " to " +
			   std::to_string(fd) + " (" + file.name + " " +
			   std::string(flags_name(open.flags)) + ")";
	std::map<std::string, Bytes, std::less<>> group;

	/* Saved before a deletion, from the kernel's lists, as an agent does. */
	if (prediction.effect == Effect::delete_staged || prediction.effect == Effect::delete_oldest)
		group = group_to_delete(actor, prediction);
	Reply reply = actor.run({Op::write, fd, 0, request});
	record(what + " = " + show_result(reply.result));
	count(opens_for_write(open.flags) ? "request " + request_kind(request)
					  : "request on a read-only file",
	      reply.result);
	expect_result(what, reply.result,
		      prediction.error ? -prediction.error : static_cast<int>(request.size()));
	/* A request that succeeds rewinds the file it was written to. */
	if (!prediction.error) {
		access_.at(actor.party(), fd).position = 0;
		access_.at(actor.party(), fd).record_rest.clear();
	}

	switch (prediction.effect) {
	case Effect::none:
		break;
	case Effect::stage:
		lists_.stage();
		break;
	case Effect::delete_staged:
		saved_store().append(group);
		lists_.delete_staged();
		break;
	case Effect::delete_oldest:
		saved_store().append(group);
		lists_.delete_oldest(prediction.n);
		break;
	}
}

void Fuzzer::measure_step(Actor &actor)
{
	Reply reply = actor.run({Op::measure, -1, 0, ""});
	std::string path(reply.payload.begin(), reply.payload.end());

	record(actor.name() + ": measure " + path);
	count("measure", reply.result);
	lists_.add(measurement_event(path, file_hash_));
	measured_++;
}

/* 45 % a request for the kind of @file, 10 % one for the other kind, 45 % odd ones. */
std::string Fuzzer::random_request(const ListFile &file)
{
	unsigned roll = static_cast<unsigned>(pick(100));
	bool staged_kind = roll < 45 ? file.staged : !file.staged;

	if (roll >= 55)
		return random_malformed_request();
	if (staged_kind)
		return chance(lists_.staged() ? 50 : 30) ? "D\n" : "A\n";
	return random_number_request();
}

/* A decimal N: mostly one the current list can satisfy, sometimes not, with leading zeros. */
std::string Fuzzer::random_number_request()
{
	std::size_t current = lists_.current();
	unsigned roll = static_cast<unsigned>(pick(100));
	std::size_t n;

	if (roll < 60)
		n = 1 + pick(std::max<std::size_t>(current, 1));
	else if (roll < 75)
		n = std::max<std::size_t>(current, 1);
	else
		n = current + 1 + pick(3);
	std::string digits = std::to_string(n);
	if (digits.size() + 1 < kRequestMaxLen && chance(15))
		digits.insert(0, 1 + pick(kRequestMaxLen - 1 - digits.size()), '0');
	return digits + "\n";
}

/*
 * Mostly malformed requests; twenty digits under ULONG_MAX are a valid N
 * larger than any list, and random bytes may happen to be a request.
 */
std::string Fuzzer::random_malformed_request()
{
	static const std::vector<std::string> kFixed = {
		"", "A", "D", "7", "\n", "a\n", "d\n", " A\n", "A \n", "AD\n", "A\n\n", "D\nD\n",
		"0\n", "00\n", "-1\n", "+1\n", " 1\n", "1 \n", "1x\n", "0x1\n", "1e3\n", "1.5\n",
		std::string("A\0\n", 3), std::string("D\0\n", 3), std::string("1\0\n", 3),
		std::string("\0\n", 2), "18446744073709551616\n", "99999999999999999999\n",
		kUlongMax + "\n", "0" + kUlongMax + "\n", "000000000000000000001\n",
		std::string(4096, 'D'), std::string(kRequestMaxLen, 'A') + "\n",
	};
	unsigned roll = static_cast<unsigned>(pick(100));

	if (roll < 50)
		return kFixed[pick(kFixed.size())];
	if (roll < 65) {
		/* Twenty digits: above or below ULONG_MAX. */
		std::string digits;
		for (int i = 0; i < 20; i++)
			digits += static_cast<char>('0' + pick(10));
		return digits + "\n";
	}
	if (roll < 80) {
		/* Too long, and ending like a request. */
		std::string text;
		std::size_t length = kRequestMaxLen + pick(48);
		for (std::size_t i = 0; i < length; i++)
			text += static_cast<char>('0' + pick(43));
		return text + "\n";
	}
	/* Random bytes, half of them ending with a newline. */
	std::string bytes;
	std::size_t length = pick(kRequestMaxLen + 4);
	for (std::size_t i = 0; i < length; i++)
		bytes += static_cast<char>(pick(256));
	if (!bytes.empty() && chance(50))
		bytes.back() = '\n';
	return bytes;
}

Bytes Fuzzer::read_through(Actor &actor, const ListFile &file)
{
	Reply reply = actor.run({Op::read_path, -1, 0, file.name});

	if (reply.result != 0)
		throw ModelMismatch(actor.name() + ": reading " + file.name + " failed: " +
				    show_result(reply.result));
	return reply.payload;
}

/*
 * The records a D or N about to be written deletes, read by the process
 * that writes it (the writer, whom the others cannot disturb), and checked
 * against the model: algorithm -> binary list.
 */
std::map<std::string, Bytes, std::less<>> Fuzzer::group_to_delete(Actor &actor,
								  const Prediction &prediction)
{
	std::map<std::string, Bytes, std::less<>> group;

	for (const ListFile &file : files_) {
		bool staged = prediction.effect == Effect::delete_staged;

		if (file.format != ListFormat::binary || file.staged != staged ||
		    file.name != list_file_name(ListFormat::binary, file.algo, staged))
			continue;
		Bytes shown = read_through(actor, file);
		if (std::string difference = lists_.difference(file, shown); !difference.empty())
			throw ModelMismatch("before a deletion: " + difference);
		group[file.algo] = staged ? shown : first_records(file.algo, shown, prediction.n);
	}
	return group;
}

/* A process allowed to open the lists now: the writer, else this one. */
Actor &Fuzzer::checking_actor()
{
	std::optional<std::size_t> writer = access_.writer();

	for (const std::unique_ptr<Actor> &actor : actors_)
		if (actor->party() == writer.value_or(0))
			return *actor;
	throw std::logic_error("no actor for the writer");
}

void Fuzzer::check_lists(bool every_file)
{
	unsigned long count = read_measurement_count();

	if (count != lists_.current())
		throw ModelMismatch("runtime_measurements_count is " + std::to_string(count) +
				    ", the model has " + std::to_string(lists_.current()) +
				    " current records");
	Actor &checker = checking_actor();
	for (const ListFile &file : files_) {
		bool cheap = file.format == ListFormat::binary && file.algo == "sha1" &&
			     file.name == list_file_name(file.format, file.algo, file.staged);

		if (!every_file && !cheap)
			continue;
		Bytes shown = read_through(checker, file);
		if (std::string difference = lists_.difference(file, shown); !difference.empty())
			throw ModelMismatch(difference);
	}
}

/* ---- The tests ---- */

struct FuzzRun {
	bool done = false;
	unsigned long records_at_start = 0;
	unsigned long measured = 0;
};

FuzzRun &fuzz_run()
{
	static FuzzRun run;

	return run;
}

/* The file hash algorithm, if the model can compute the records' file digests. */
HashAlgo require_hashable_files()
{
	std::string file_hash = ima_file_hash_name();

	if (!hash_algo_from_name(file_hash))
		ktap::skip("the model cannot compute " + file_hash + " file digests");
	for (const std::string &algo : list_algos())
		if (!exact_algo(algo))
			ktap::note("the ", algo, " lists are compared without template digests");
	return *hash_algo_from_name(file_hash);
}

/* "open: success x12, EBUSY x3" */
std::string describe_outcomes(const std::string &what, const std::map<int, unsigned long> &errors)
{
	std::string text = what + ":";

	for (const auto &[error, count] : errors)
		text += std::string(text.back() == ':' ? " " : ", ") +
			(error ? errno_name(error) : "success") + " x" + std::to_string(count);
	return text;
}

/* The outcomes a long enough run must have reached, to have tested anything. */
std::vector<std::pair<std::string, int>> aimed_outcomes()
{
	std::vector<std::pair<std::string, int>> aims = {
		{"open", 0},	     {"open", EBUSY},	      {"open", EPERM},
		{"read", 0},	     {"read", EBADF},	      {"request A", 0},
		{"request A", EEXIST}, {"request A", ENOENT},  {"request A", EINVAL},
		{"request D", 0},    {"request D", ENOENT},   {"request N", ERANGE},
		{"request N", EINVAL}, {"request malformed", EINVAL},
		{"request on a read-only file", EBADF},
		{"read on from byte 0", 0},
		{"read on from past byte 0", 0},
	};
	/*
	 * Not "read on from past byte 0" ending with ESTALE: it needs a
	 * partial read, a request that changes that list, then the rest of
	 * the record read, and some seeds meet it in none of 10000 steps.
	 * Reads on stale descriptors are preferred (read_step()) so that
	 * most runs do; the prompt and delete-n programs check ESTALE on
	 * every list file every time.
	 */

	/* ima_flush_htable refuses every N with EINVAL. */
	if (!booted_with_flush_htable()) {
		aims.push_back({"request N", 0});
		aims.push_back({"request N", EEXIST});
		aims.push_back({"request N", ENOENT});
	}
	return aims;
}

void report_outcomes(const Fuzzer &fuzzer, unsigned long steps)
{
	for (const auto &[what, errors] : fuzzer.outcomes())
		ktap::note(describe_outcomes(what, errors));
	if (steps < kCoverageSteps)
		return;
	for (const auto &[what, error] : aimed_outcomes()) {
		auto found = fuzzer.outcomes().find(what);

		if (found == fuzzer.outcomes().end() || !found->second.count(error))
			ktap::fail_at(__FILE__, __LINE__,
				      "in " + std::to_string(steps) + " steps the fuzz never saw " +
					      what + " end with " +
					      (error ? errno_name(error) : "success"));
	}
}

void report_mismatch(const Fuzzer &fuzzer, const ModelMismatch &mismatch, unsigned long step)
{
	ktap::note("the last steps:");
	for (const std::string &line : fuzzer.history())
		ktap::note("  ", line);
	ktap::fail_at(__FILE__, __LINE__, ktap::str("step ", step, ": ", mismatch.what()));
	ktap::note("repeat with: ima_fuzz_test --seed ", options().seed, " --steps ", step);
}

void require_fuzz_run()
{
	require_staging();
	if (!fuzz_run().done)
		ktap::skip("needs random_operations_match_the_model to run first");
}

} // namespace

/* The model against the contract's tables, without the kernel. */
KTAP_TEST(model_follows_the_contract)
{
	const ListCounts empty{0, 0}, current{0, 3}, staged{2, 3};
	auto error_of = [](std::string_view request, bool staged_file, ListCounts lists,
			   bool flush = false) {
		return predict_request(request, staged_file, lists, flush).error;
	};

	for (const std::string &request : {std::string(), std::string("A"), std::string("\n"),
					   std::string("A\0\n", 3), std::string(21, '1') + "\n",
					   std::string("1\n\n")}) {
		ktap::ScopedContext context("request " + show_request(request));
		EXPECT_EQ(error_of(request, false, current), EINVAL);
	}
	EXPECT_EQ(error_of("A\n", true, empty), ENOENT);
	EXPECT_EQ(error_of("A\n", true, staged), EEXIST);
	EXPECT_EQ(error_of("A\n", true, current), 0);
	EXPECT_TRUE(predict_request("A\n", true, current, false).effect == Effect::stage);
	EXPECT_EQ(error_of("D\n", true, current), ENOENT);
	EXPECT_EQ(error_of("D\n", true, staged), 0);
	EXPECT_EQ(error_of("1\n", true, staged), EINVAL);
	EXPECT_EQ(error_of("A\n", false, current), EINVAL);
	EXPECT_EQ(error_of("D\n", false, staged), EINVAL);
	EXPECT_EQ(error_of("0\n", false, current), EINVAL);
	EXPECT_EQ(error_of("+1\n", false, current), EINVAL);
	EXPECT_EQ(error_of("18446744073709551616\n", false, current), ERANGE);
	EXPECT_EQ(error_of(kUlongMax + "\n", false, current), ENOENT);
	EXPECT_EQ(error_of("4\n", false, current), ENOENT);
	EXPECT_EQ(error_of("1\n", false, staged), EEXIST);
	EXPECT_EQ(error_of("1\n", false, current, true), EINVAL);
	Prediction three = predict_request("003\n", false, current, false);
	EXPECT_EQ(three.error, 0);
	EXPECT_EQ(three.n, 3u);

	AccessModel access;
	EXPECT_EQ(access.open_errno(1, false, O_WRONLY), EPERM);
	EXPECT_EQ(access.open_errno(1, false, O_RDONLY), 0);
	access.opened(1, 3, {0, O_RDONLY});
	EXPECT_EQ(access.open_errno(1, true, O_RDWR), 0);
	EXPECT_EQ(access.open_errno(2, true, O_WRONLY), EBUSY);
	EXPECT_EQ(access.open_errno(2, true, O_RDONLY), 0);
	access.opened(1, 4, {0, O_WRONLY});
	EXPECT_EQ(access.writer().value_or(0), 1u);
	EXPECT_EQ(access.open_errno(2, true, O_RDONLY), EBUSY);
	EXPECT_EQ(access.open_errno(1, true, O_RDONLY), 0);
	access.closed(1, 4);
	EXPECT_FALSE(access.writer().has_value());
	/* The former writer still reads: others may read, not write. */
	EXPECT_EQ(access.open_errno(2, true, O_RDONLY), 0);
	EXPECT_EQ(access.open_errno(2, true, O_RDWR), EBUSY);
}

KTAP_TEST(random_operations_match_the_model)
{
	require_staging();
	HashAlgo file_hash = require_hashable_files();
	const FuzzOptions &opts = options();
	FuzzRun &run = fuzz_run();

	ASSERT_EQ(read_binary_list("sha1", true).size(), 0u);
	ktap::note("seed ", opts.seed, ", ", opts.steps, " steps (repeat with --seed ", opts.seed,
		   " --steps ", opts.steps, ")");
	run.records_at_start = read_measurement_count();
	auto start = std::chrono::steady_clock::now();
	unsigned long steps = 0;
	{
		Fuzzer fuzzer(opts.seed, file_hash, booted_with_flush_htable());

		try {
			fuzzer.check_lists(true);
			for (; steps < opts.steps; steps++)
				fuzzer.step(steps);
			fuzzer.check_lists(true);
		} catch (const ModelMismatch &mismatch) {
			report_mismatch(fuzzer, mismatch, steps + 1);
		}
		run.measured = fuzzer.measured();
		report_outcomes(fuzzer, steps);
	}
	/* Every process let go of its files: what is left staged is saved and deleted. */
	delete_anything_staged();
	run.done = true;
	auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
		std::chrono::steady_clock::now() - start);
	ktap::note(steps, " steps in ", seconds.count(), " s: ", run.measured, " records measured, ",
		   saved_store().records(), " deleted");
}

KTAP_TEST(record_counts_add_up)
{
	require_fuzz_run();
	const FuzzRun &run = fuzz_run();
	unsigned long current = read_measurement_count();

	ktap::note(run.records_at_start, " records at start, ", run.measured, " measured, ",
		   saved_store().records(), " saved and deleted, ", current, " current");
	EXPECT_EQ(current, read_binary_list("sha1").size());
	EXPECT_EQ(saved_store().records() + current, run.records_at_start + run.measured);
}

KTAP_TEST(saved_and_current_records_replay_to_pcr10)
{
	require_fuzz_run();
	EXPECT_EQ(check_invariant(), "");
	EXPECT_EQ(check_invariant_with_evmctl(), "");
}

namespace {

std::uint64_t seed_from_time()
{
	return static_cast<std::uint64_t>(
		std::chrono::system_clock::now().time_since_epoch().count());
}

/* Takes --seed S and --steps N (or --seed=S, --steps=N) out of @argv. */
bool take_fuzz_options(std::vector<char *> &argv)
{
	options().seed = seed_from_time();
	return take_number_options(argv, {{"--seed", &options().seed},
					  {"--steps", &options().steps}});
}

} // namespace

int main(int argc, char **argv)
{
	std::vector<char *> args(argv, argv + argc + 1);

	if (!take_fuzz_options(args)) {
		std::fprintf(stderr, "usage: %s [--seed S] [--steps N] [-t TEST]... [-l]\n", argv[0]);
		return 2;
	}
	return ktap::run(static_cast<int>(args.size() - 1), args.data());
}
