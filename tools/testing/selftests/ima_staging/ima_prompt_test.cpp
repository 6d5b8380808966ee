// SPDX-License-Identifier: GPL-2.0
/*
 * Staging with prompt: "A" and "D" written to the _staged files, the access
 * rules of the measurement files, and the hash table across deletions.
 *
 * Needs a kernel with CONFIG_IMA_STAGING, a TPM, and a policy that measures
 * files read from the ramfs at /measure; nothing may have been deleted from
 * the measurement list before the program starts. Run it once more on a
 * kernel booted with ima_flush_htable to test that mode.
 */
#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <memory>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <sstream>
#include <sys/syscall.h>
#include <thread>
#include <ostream>
#include <unistd.h>

#include "ktap.h"
#include "lib/ima.h"
#include "lib/memory.h"
#include "lib/readers.h"
#include "lib/options.h"
#include "lib/require.h"
#include "lib/staging.h"

using namespace ima;

namespace {

/* Requests a _staged file rejects; each is one write(). */
const std::vector<std::string> kMalformedStagedRequests = {
	std::string(),			/* empty */
	"A",				/* no newline */
	"D",
	"\n",				/* too short */
	"a\n",
	"d\n",
	"AD\n",
	"A \n",
	" A\n",
	"A\n\n",
	"D\nD\n",
	std::string("A\0\n", 3),	/* embedded NUL */
	"X\n",
	"1\n",				/* a number belongs to the original files */
	"5\n",
	std::string(20, 'A') + "\n",	/* 21 bytes: longest request, bad content */
	std::string(21, 'A') + "\n",	/* 22 bytes */
	std::string(4096, 'D'),
};

UniqueFd open_staged_writer()
{
	return open_or_throw(ima_path(staged_request_file()), O_RDWR);
}

/* Stages the current list, creating a record first if it is empty. */
void stage_something(int fd)
{
	if (read_measurement_count() == 0)
		create_measurement();
	ASSERT_EQ(write_request(fd, "A\n"), 0);
}

int open_errno(const std::string &file_name, int flags)
{
	return try_open(ima_path(file_name), flags).error;
}

void become_nobody()
{
	if (::setgroups(0, nullptr) || ::setresgid(65534, 65534, 65534) ||
	    ::setresuid(65534, 65534, 65534))
		throw_errno("switching to uid 65534");
}

/*
 * Another process that holds @file_name open with @flags until destroyed.
 * opened() tells whether its open succeeded.
 */
class Holder {
public:
	Holder(const std::string &file_name, int flags)
	{
		child_ = std::make_unique<ChildProcess>(ChildProcess::fork_and_run([&]() {
			OpenResult result = try_open(ima_path(file_name), flags);
			char status = result.error ? 'n' : 'y';

			ready_.read_end.reset();
			if (::write(ready_.write_end.get(), &status, 1) != 1)
				return 1;
			/* Hold the file until the parent closes the release pipe. */
			release_.write_end.reset();
			char byte;
			while (::read(release_.read_end.get(), &byte, 1) > 0)
				;
			return 0;
		}));
		ready_.write_end.reset();
		release_.read_end.reset();
		char status = 'n';
		if (::read(ready_.read_end.get(), &status, 1) != 1)
			throw std::runtime_error("holder process died");
		opened_ = status == 'y';
	}

	~Holder()
	{
		release_.write_end.reset();
		child_->wait();
	}

	Holder(const Holder &) = delete;
	Holder &operator=(const Holder &) = delete;

	bool opened() const { return opened_; }

private:
	Pipe ready_;
	Pipe release_;
	std::unique_ptr<ChildProcess> child_;
	bool opened_ = false;
};

/* Runs @body in a child process and returns what it returned. */
int in_child(const std::function<int()> &body)
{
	return ChildProcess::fork_and_run(body).wait();
}

/* The kernel log lines of the audit records of measurement list requests. */
std::vector<std::string> request_audit_lines()
{
	CommandResult dmesg = run_command({"dmesg"});
	std::istringstream log(dmesg.output);
	std::vector<std::string> lines;

	if (dmesg.exit_code != 0)
		throw std::runtime_error("dmesg failed: " + dmesg.output);
	for (std::string line; std::getline(log, line);) {
		if (line.find("op=measurement_list_request ") != std::string::npos)
			lines.push_back(line);
	}
	return lines;
}

/* Waits up to two seconds for kauditd to log @count request records. */
std::vector<std::string> wait_for_request_audit_lines(std::size_t count)
{
	std::vector<std::string> lines = request_audit_lines();

	for (int i = 0; i < 200 && lines.size() < count; i++) {
		::usleep(10000);
		lines = request_audit_lines();
	}
	return lines;
}

bool contains(const std::string &text, const std::string &part)
{
	return text.find(part) != std::string::npos;
}

} // namespace

/*
 * First, while the kernel's audit printk rate limit still lets every record
 * through: A, D and N that succeed leave an audit record naming the process,
 * the request and the number of records deleted; a failed request none (D
 * with nothing staged, and N, which ima_flush_htable refuses).
 */
KTAP_TEST(successful_requests_leave_an_audit_record)
{
	require_staging();
	delete_anything_staged();
	const bool flush = booted_with_flush_htable();
	std::size_t before = request_audit_lines().size();
	std::size_t expected = before + (flush ? 2 : 3);
	std::string who = "pid=" + std::to_string(::getpid()) + " uid=0 ";
	UniqueFd fd = open_staged_writer();

	stage_something(fd.get());
	std::size_t staged = read_binary_list("sha1", true).size();
	saved_store().append(read_staged_lists());
	ASSERT_EQ(write_request(fd.get(), "D\n"), 0);
	EXPECT_EQ(write_request(fd.get(), "D\n"), ENOENT);
	fd.reset();
	create_measurement();
	create_measurement();
	UniqueFd original = open_or_throw(ima_path(original_request_file()), O_WRONLY);
	ASSERT_EQ(save_and_delete_oldest(original.get(), 2), flush ? EINVAL : 0);
	original.reset();

	std::vector<std::string> lines = wait_for_request_audit_lines(expected);
	ASSERT_EQ(lines.size(), expected);
	EXPECT_TRUE(contains(lines[before], who + "auid="));
	EXPECT_TRUE(contains(lines[before], " request=A records_deleted=0 "));
	EXPECT_TRUE(contains(lines[before + 1], who + "auid="));
	EXPECT_TRUE(contains(lines[before + 1],
			     " request=D records_deleted=" + std::to_string(staged) + " "));
	if (!flush) {
		EXPECT_TRUE(contains(lines[before + 2], who + "auid="));
		EXPECT_TRUE(contains(lines[before + 2], " request=2 records_deleted=2 "));
	}
	for (std::size_t i = before; i < lines.size(); i++)
		ktap::note(lines[i]);
}

KTAP_TEST(read_staged_when_nothing_staged_returns_nothing)
{
	require_staging();
	delete_anything_staged();
	for (const std::string &algo : list_algos()) {
		EXPECT_EQ(read_binary_list_bytes(algo, true).size(), 0u);
		EXPECT_EQ(read_text_file(ima_path(list_file_name(ListFormat::ascii, algo, true))),
			  "");
	}
}

KTAP_TEST(stage_moves_the_whole_current_list)
{
	require_staging();
	delete_anything_staged();
	create_measurement();
	create_measurement();
	ListState before = capture_lists();
	UniqueFd fd = open_staged_writer();

	ASSERT_EQ(write_request(fd.get(), "A\n"), 0);
	ListState staged = capture_lists();
	for (const std::string &algo : list_algos()) {
		EXPECT_EQ(staged.staged.at(algo), before.current.at(algo));
		EXPECT_EQ(staged.current.at(algo).size(), 0u);
	}
	EXPECT_EQ(staged.staged_ascii, before.current_ascii);
	EXPECT_EQ(staged.count, 0ul);

	saved_store().append(staged.staged);
	ASSERT_EQ(write_request(fd.get(), "D\n"), 0);
	ListState deleted = capture_lists();
	for (const std::string &algo : list_algos())
		EXPECT_EQ(deleted.staged.at(algo).size(), 0u);
	EXPECT_EQ(check_invariant(), "");
}

KTAP_TEST(stage_when_staged_fails_with_eexist)
{
	require_staging();
	delete_anything_staged();
	UniqueFd fd = open_staged_writer();

	stage_something(fd.get());
	create_measurement();
	ListState before = capture_lists();
	EXPECT_EQ(write_request(fd.get(), "A\n"), EEXIST);
	EXPECT_EQ(lists_changed_since(before), "");
	delete_anything_staged();
}

KTAP_TEST(stage_with_empty_current_list_fails_with_enoent)
{
	require_staging();
	delete_anything_staged();
	UniqueFd fd = open_staged_writer();

	stage_something(fd.get());
	saved_store().append(read_staged_lists());
	ASSERT_EQ(write_request(fd.get(), "D\n"), 0);
	ListState before = capture_lists();
	ASSERT_EQ(before.count, 0ul);
	EXPECT_EQ(write_request(fd.get(), "A\n"), ENOENT);
	EXPECT_EQ(lists_changed_since(before), "");
}

KTAP_TEST(delete_with_nothing_staged_fails_with_enoent)
{
	require_staging();
	delete_anything_staged();
	create_measurement();
	UniqueFd fd = open_staged_writer();
	ListState before = capture_lists();

	EXPECT_EQ(write_request(fd.get(), "D\n"), ENOENT);
	EXPECT_EQ(lists_changed_since(before), "");
}

KTAP_TEST(malformed_requests_fail_with_einval_and_change_nothing)
{
	require_staging();
	delete_anything_staged();
	UniqueFd fd = open_staged_writer();

	for (bool with_staged : {false, true}) {
		ktap::ScopedContext context(with_staged ? "records staged" : "nothing staged");

		create_measurement();
		if (with_staged) {
			stage_something(fd.get());
			create_measurement();
		}
		ListState before = capture_lists();
		for (const std::string &request : kMalformedStagedRequests) {
			ktap::ScopedContext request_context("request of " +
							    std::to_string(request.size()) +
							    " bytes: " + to_hex(as_bytes(request)));
			EXPECT_EQ(write_request(fd.get(), request), EINVAL);
		}
		EXPECT_EQ(lists_changed_since(before), "");
	}
	delete_anything_staged();
}

KTAP_TEST(prompt_requests_on_original_files_fail_with_einval)
{
	require_staging();
	delete_anything_staged();
	create_measurement();
	ListState before = capture_lists();

	for (const std::string &algo : list_algos())
		for (ListFormat format : {ListFormat::binary, ListFormat::ascii}) {
			std::string name = list_file_name(format, algo);

			ktap::ScopedContext context(name);
			EXPECT_EQ(send_request(name, "A\n"), EINVAL);
			EXPECT_EQ(send_request(name, "D\n"), EINVAL);
		}
	EXPECT_EQ(lists_changed_since(before), "");
}

KTAP_TEST(requests_through_every_staged_file_act_on_one_list)
{
	require_staging();
	delete_anything_staged();
	std::vector<std::string> staged_files;

	for (const std::string &algo : list_algos())
		for (ListFormat format : {ListFormat::binary, ListFormat::ascii})
			staged_files.push_back(list_file_name(format, algo, true));
	staged_files.push_back(list_symlink_name(ListFormat::binary, true));
	staged_files.push_back(list_symlink_name(ListFormat::ascii, true));

	for (const std::string &name : staged_files) {
		ktap::ScopedContext context(name);
		UniqueFd fd = open_or_throw(ima_path(name), O_RDWR);

		create_measurement();
		ListState before = capture_lists();
		ASSERT_EQ(write_request(fd.get(), "A\n"), 0);
		ListState staged = capture_lists();
		EXPECT_EQ(staged.staged, before.current);
		saved_store().append(staged.staged);
		ASSERT_EQ(write_request(fd.get(), "D\n"), 0);
	}
	EXPECT_EQ(check_invariant(), "");
}

/*
 * A reader of the current list open on another fd than the writer's: after
 * A its next read fails with ESTALE (consuming nothing), a seek to 0 reads
 * the new current list. The same for a reader of the staged list after D.
 */
KTAP_TEST(a_reader_on_another_fd_gets_estale_after_a_and_d)
{
	require_staging();
	delete_anything_staged();
	for (ListFormat format : {ListFormat::binary, ListFormat::ascii}) {
		ktap::ScopedContext context(format == ListFormat::binary ? "binary" : "ascii");
		const std::string current = ima_path(list_file_name(format, "sha1"));
		const std::string staged = ima_path(list_file_name(format, "sha1", true));
		UniqueFd writer = open_staged_writer();
		UniqueFd current_reader = open_or_throw(current, O_RDONLY);

		create_measurement();
		create_measurement();
		Bytes before = read_file(current);
		read_exact(current_reader.get(), leading_records_size(format, before, 1));
		ASSERT_EQ(write_request(writer.get(), "A\n"), 0);
		ReadsUntilError after_a = read_until_error(current_reader.get(), kSmallReads);
		EXPECT_EQ(errno_name(after_a.error), "ESTALE");
		EXPECT_EQ(after_a.bytes.size(), 0u);
		ASSERT_EQ(::lseek(current_reader.get(), 0, SEEK_SET), 0);
		EXPECT_EQ(read_all(current_reader.get()), read_file(current));

		UniqueFd staged_reader = open_or_throw(staged, O_RDONLY);
		Bytes staged_before = read_file(staged);
		EXPECT_EQ(staged_before, before);
		read_exact(staged_reader.get(), leading_records_size(format, staged_before, 1));
		saved_store().append(read_staged_lists());
		ASSERT_EQ(write_request(writer.get(), "D\n"), 0);
		ReadsUntilError after_d = read_until_error(staged_reader.get(), kSmallReads);
		EXPECT_EQ(errno_name(after_d.error), "ESTALE");
		EXPECT_EQ(after_d.bytes.size(), 0u);
		ASSERT_EQ(::lseek(staged_reader.get(), 0, SEEK_SET), 0);
		EXPECT_EQ(read_all(staged_reader.get()).size(), 0u);
	}
	EXPECT_EQ(check_invariant(), "");
}

namespace {

/* The four sha1 list files: binary and ascii, current and staged. */
std::vector<std::string> sha1_list_paths()
{
	std::vector<std::string> paths;

	for (bool staged : {false, true})
		for (ListFormat format : {ListFormat::binary, ListFormat::ascii})
			paths.push_back(ima_path(list_file_name(format, "sha1", staged)));
	return paths;
}

/* What a pread() gave: its bytes, or the name of its errno. */
struct PreadResult {
	Bytes bytes;
	std::string error;

	bool operator==(const PreadResult &) const = default;
	friend std::ostream &operator<<(std::ostream &out, const PreadResult &result)
	{
		if (!result.error.empty())
			return out << result.error;
		return out << result.bytes.size() << " bytes " << to_hex(result.bytes);
	}
};

PreadResult pread_at(int fd, std::size_t size, off_t offset)
{
	Bytes buffer(size);
	ssize_t got = ::pread(fd, buffer.data(), size, offset);

	if (got < 0)
		return {{}, errno_name(errno)};
	buffer.resize(static_cast<std::size_t>(got));
	return {buffer, ""};
}

Bytes slice(const Bytes &bytes, std::size_t offset, std::size_t size)
{
	auto from = bytes.begin() + static_cast<long>(std::min(offset, bytes.size()));
	auto to = bytes.begin() + static_cast<long>(std::min(offset + size, bytes.size()));
	return Bytes(from, to);
}

/*
 * Leaves both lists changed since boot and not empty: an A/D cycle, then
 * records staged with more current ones after them.
 */
void change_both_lists(int writer)
{
	create_measurement();
	stage_save_delete(writer);
	create_measurement();
	ASSERT_EQ(write_request(writer, "A\n"), 0);
	create_measurement();
	create_measurement();
}

} // namespace

/*
 * An fd that has not read a list yet reads the list as it is at any
 * offset, whatever requests came before its open: lseek() or pread() as
 * its first operation, as in a kernel without staging.
 */
KTAP_TEST(a_new_fd_reads_at_any_offset_after_requests)
{
	require_staging();
	delete_anything_staged();
	UniqueFd writer = open_staged_writer();
	change_both_lists(writer.get());

	for (const std::string &path : sha1_list_paths()) {
		ktap::ScopedContext context(path);
		Bytes list = read_file(path);
		ASSERT_GT(list.size(), 2u);
		std::size_t middle = list.size() / 2 + 1;

		UniqueFd seeker = open_or_throw(path, O_RDONLY);
		ASSERT_EQ(::lseek(seeker.get(), static_cast<off_t>(middle), SEEK_SET),
			  static_cast<off_t>(middle));
		EXPECT_EQ(read_all(seeker.get()), slice(list, middle, list.size()));

		UniqueFd preader = open_or_throw(path, O_RDONLY);
		EXPECT_EQ(pread_at(preader.get(), 100, static_cast<off_t>(middle)),
			  (PreadResult{slice(list, middle, 100), ""}));
		/* and the fd's own position is still 0 */
		EXPECT_EQ(read_all(preader.get()), list);
	}
	saved_store().append(read_staged_lists());
	ASSERT_EQ(write_request(writer.get(), "D\n"), 0);
	EXPECT_EQ(check_invariant(), "");
}

/*
 * An fd positioned inside a list that then changed: a pread() from 0
 * reads the list as it is now, and does not move the fd to it: its next
 * read() still fails with ESTALE, until it seeks to 0.
 */
KTAP_TEST(a_pread_from_0_leaves_a_stale_fd_stale)
{
	require_staging();
	delete_anything_staged();
	UniqueFd writer = open_staged_writer();
	change_both_lists(writer.get());

	std::vector<std::string> paths = sha1_list_paths();
	std::vector<UniqueFd> readers;
	for (const std::string &path : paths) {
		Bytes list = read_file(path);
		ASSERT_GT(list.size(), 2u);
		readers.push_back(open_or_throw(path, O_RDONLY));
		read_exact(readers.back().get(), list.size() / 2 + 1);
	}
	/* both lists change: the staged records go, the current ones are staged */
	saved_store().append(read_staged_lists());
	ASSERT_EQ(write_request(writer.get(), "D\n"), 0);
	ASSERT_EQ(write_request(writer.get(), "A\n"), 0);
	create_measurement();

	for (std::size_t i = 0; i < paths.size(); i++) {
		ktap::ScopedContext context(paths[i]);
		Bytes now = read_file(paths[i]);
		int fd = readers[i].get();

		EXPECT_EQ(pread_at(fd, 64, 0), (PreadResult{slice(now, 0, 64), ""}));
		ReadsUntilError next = read_until_error(fd, kSmallReads);
		EXPECT_EQ(errno_name(next.error), "ESTALE");
		EXPECT_EQ(next.bytes.size(), 0u);
		/* a pread() away from 0 is stale too, and changes nothing either */
		EXPECT_EQ(pread_at(fd, 64, 1), (PreadResult{{}, "ESTALE"}));
		EXPECT_EQ(errno_name(read_until_error(fd, kSmallReads).error), "ESTALE");
		ASSERT_EQ(::lseek(fd, 0, SEEK_SET), 0);
		EXPECT_EQ(read_all(fd), now);
	}
	saved_store().append(read_staged_lists());
	ASSERT_EQ(write_request(writer.get(), "D\n"), 0);
	EXPECT_EQ(check_invariant(), "");
}

/*
 * D changes the staged list only: a reader in the middle of the current
 * list reads on to its end, without ESTALE.
 */
KTAP_TEST(d_leaves_readers_of_the_current_list_alone)
{
	require_staging();
	delete_anything_staged();
	UniqueFd writer = open_staged_writer();

	for (ListFormat format : {ListFormat::binary, ListFormat::ascii}) {
		ktap::ScopedContext context(format == ListFormat::binary ? "binary" : "ascii");
		const std::string path = ima_path(list_file_name(format, "sha1"));

		stage_something(writer.get());
		create_measurement();
		create_measurement();
		Bytes list = read_file(path);
		UniqueFd reader = open_or_throw(path, O_RDONLY);
		Bytes got = read_exact(reader.get(), leading_records_size(format, list, 1) + 3);

		saved_store().append(read_staged_lists());
		ASSERT_EQ(write_request(writer.get(), "D\n"), 0);
		ReadsUntilError rest = read_until_error(reader.get(), kSmallReads);
		EXPECT_EQ(rest.error, 0);
		append(got, rest.bytes);
		EXPECT_EQ(got, list);
	}
	EXPECT_EQ(check_invariant(), "");
}

/*
 * A request changes the lists of every algorithm, not only sha1: after A
 * a reader partway through any current list file, binary or ascii, gets
 * ESTALE; after D so does a reader of any staged list file, while the
 * readers of every current list read on.
 */
KTAP_TEST(a_reader_of_every_list_file_gets_estale_after_a_and_d)
{
	require_staging();
	delete_anything_staged();
	UniqueFd writer = open_staged_writer();
	create_measurement();
	create_measurement();

	std::vector<PartwayReader> current = open_partway_readers(false);
	ASSERT_EQ(write_request(writer.get(), "A\n"), 0);
	expect_every_reader_stale(current);

	create_measurement();
	create_measurement();
	std::vector<PartwayReader> staged = open_partway_readers(true);
	current = open_partway_readers(false);
	saved_store().append(read_staged_lists());
	ASSERT_EQ(write_request(writer.get(), "D\n"), 0);
	expect_every_reader_stale(staged);
	expect_every_reader_reads_on(current);
	EXPECT_EQ(check_invariant(), "");
}

/*
 * Reads go on where the last one stopped: read in small pieces, with a
 * record appended halfway, a list file gives what one read of it gives.
 */
KTAP_TEST(reading_in_small_pieces_sees_every_record_once)
{
	require_staging();
	for (ListFormat format : {ListFormat::binary, ListFormat::ascii}) {
		ktap::ScopedContext context(format == ListFormat::binary ? "binary" : "ascii");
		const std::string path = ima_path(list_file_name(format, "sha1"));
		UniqueFd reader = open_or_throw(path, O_RDONLY);
		std::size_t half = read_file(path).size() / 2;
		Bytes got;

		while (got.size() < half)
			append(got, read_exact(reader.get(), std::min<std::size_t>(7, half - got.size() + 1)));
		create_measurement();
		ReadsUntilError rest = read_until_error(reader.get(), kSmallReads);
		EXPECT_EQ(rest.error, 0);
		append(got, rest.bytes);
		EXPECT_EQ(got, read_file(path));
	}
}

/* Reads @fd with pread() from @offset to the end of the file. */
static Bytes pread_to_end(int fd, off_t offset)
{
	Bytes bytes;
	std::uint8_t buf[4096];
	ssize_t n;

	while ((n = ::pread(fd, buf, sizeof(buf), offset)) > 0) {
		bytes.insert(bytes.end(), buf, buf + n);
		offset += n;
	}
	if (n < 0)
		throw_errno("pread");
	return bytes;
}

/*
 * An attestation agent keeps the list file open and, at every quote,
 * reads the records added since the last one: on from where the last read
 * ended, after an lseek() to the offset it remembered, or with pread() at
 * it. Each way gives exactly the new records, and an offset inside the old
 * records still reads what a fresh open reads there.
 */
KTAP_TEST(an_agent_rereads_the_open_list_from_where_it_stopped)
{
	require_staging();
	delete_anything_staged();
	for (ListFormat format : {ListFormat::binary, ListFormat::ascii}) {
		ktap::ScopedContext context(format == ListFormat::binary ? "binary" : "ascii");
		const std::string path = ima_path(list_file_name(format, "sha1"));
		UniqueFd agent = open_or_throw(path, O_RDONLY);
		Bytes seen = read_all(agent.get());
		const off_t end = static_cast<off_t>(seen.size());

		ASSERT_GT(seen.size(), 0u);
		create_measurement();
		create_measurement();
		Bytes now = read_file(path);
		ASSERT_GT(now.size(), seen.size());
		ASSERT_TRUE(starts_with(now, seen));
		const Bytes added(now.begin() + end, now.end());

		EXPECT_EQ(read_all(agent.get()), added);
		EXPECT_EQ(read_all(agent.get()).size(), 0u);
		ASSERT_EQ(::lseek(agent.get(), end, SEEK_SET), end);
		EXPECT_EQ(read_all(agent.get()), added);
		EXPECT_EQ(pread_to_end(agent.get(), end), added);
		EXPECT_EQ(pread_to_end(agent.get(), end / 2), Bytes(now.begin() + end / 2, now.end()));
		ASSERT_EQ(::lseek(agent.get(), 0, SEEK_SET), 0);
		EXPECT_EQ(read_all(agent.get()), now);
	}
	EXPECT_EQ(check_invariant(), "");
}

/* The suites boot with other templates: check that they are in effect. */
KTAP_TEST(records_have_the_booted_templates)
{
	EXPECT_EQ(check_booted_templates(), "");
}

KTAP_TEST(count_shows_the_current_list_only)
{
	require_staging();
	delete_anything_staged();
	UniqueFd fd = open_staged_writer();

	create_measurement();
	ListState before = capture_lists();
	EXPECT_EQ(before.count, before.current_records());
	stage_something(fd.get());
	EXPECT_EQ(read_measurement_count(), 0ul);
	create_measurement();
	ListState after = capture_lists();
	EXPECT_EQ(after.count, 1ul);
	EXPECT_EQ(after.current_records(), 1u);
	EXPECT_EQ(after.staged_records(), before.current_records());
	delete_anything_staged();
}

KTAP_TEST(measurements_between_stage_and_delete_go_to_the_current_list)
{
	require_staging();
	delete_anything_staged();
	UniqueFd fd = open_staged_writer();
	std::string early = create_measurement();
	std::string between;

	stage_save_delete(fd.get(), [&]() { between = create_measurement(); });
	std::vector<Record> current = read_binary_list("sha1");
	EXPECT_FALSE(contains_file(current, early));
	EXPECT_TRUE(contains_file(current, between));
	EXPECT_TRUE(contains_file(parse_binary_list(saved_store().saved("sha1"), 20), early));
	EXPECT_FALSE(contains_file(parse_binary_list(saved_store().saved("sha1"), 20), between));
	EXPECT_EQ(check_invariant(), "");
}

KTAP_TEST(successful_request_rewinds_the_file)
{
	require_staging();
	delete_anything_staged();
	UniqueFd fd = open_staged_writer();

	stage_something(fd.get());
	Bytes first = read_all(fd.get());
	EXPECT_GT(first.size(), 0u);
	EXPECT_EQ(read_all(fd.get()).size(), 0u);
	/* A failed request leaves the offset alone. */
	EXPECT_EQ(write_request(fd.get(), "A\n"), EEXIST);
	EXPECT_EQ(read_all(fd.get()).size(), 0u);

	saved_store().append(read_staged_lists());
	ASSERT_EQ(write_request(fd.get(), "D\n"), 0);
	create_measurement();
	ASSERT_EQ(write_request(fd.get(), "A\n"), 0);
	EXPECT_EQ(read_all(fd.get()), read_binary_list_bytes("sha1", true));
	delete_anything_staged();
}

KTAP_TEST(opening_for_write_needs_cap_sys_admin)
{
	require_staging();
	delete_anything_staged();
	std::vector<std::string> files = all_list_files();

	for (const std::string &name : files) {
		ktap::ScopedContext context(name);

		EXPECT_EQ(in_child([&]() {
				  drop_cap_sys_admin();
				  return open_errno(name, O_WRONLY);
			  }),
			  EPERM);
		EXPECT_EQ(in_child([&]() {
				  drop_cap_sys_admin();
				  return open_errno(name, O_RDWR);
			  }),
			  EPERM);
		EXPECT_EQ(in_child([&]() {
				  drop_cap_sys_admin();
				  return open_errno(name, O_RDONLY);
			  }),
			  0);
	}
}

namespace {

bool cap_sys_admin_effective()
{
	__user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
	__user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

	if (::syscall(SYS_capget, &header, data))
		throw_errno("capget");
	return data[CAP_SYS_ADMIN / 32].effective & (1u << (CAP_SYS_ADMIN % 32));
}

/*
 * Moves this process, root in the initial user namespace, to a new user
 * namespace, in which it holds every capability, CAP_SYS_ADMIN included.
 */
void enter_new_user_namespace()
{
	if (::unshare(CLONE_NEWUSER))
		throw_errno("unshare(CLONE_NEWUSER)");
	if (!cap_sys_admin_effective())
		throw std::runtime_error("no CAP_SYS_ADMIN in the new user namespace");
}

/*
 * In a child: opens @file_name with @flags as root, then again from a new
 * user namespace; the errno of the second open, or 255 if the first failed.
 */
int open_errno_in_new_user_namespace(const std::string &file_name, int flags)
{
	return in_child([&]() {
		if (open_errno(file_name, flags))
			return 255;
		enter_new_user_namespace();
		return open_errno(file_name, flags);
	});
}

} // namespace

/*
 * CAP_SYS_ADMIN counts in the initial user namespace only: a process that
 * holds it in another one, and could open every file for write as root of
 * the initial one, gets EPERM for a write open, and nothing changes; it
 * still opens every file for read.
 */
KTAP_TEST(cap_sys_admin_in_another_user_namespace_gets_eperm)
{
	require_staging();
	delete_anything_staged();
	UniqueFd writer = open_staged_writer();
	stage_something(writer.get());
	create_measurement();
	writer.reset();
	ListState before = capture_lists();

	for (const std::string &name : all_list_files()) {
		ktap::ScopedContext context(name);

		EXPECT_EQ(open_errno_in_new_user_namespace(name, O_WRONLY), EPERM);
		EXPECT_EQ(open_errno_in_new_user_namespace(name, O_RDWR), EPERM);
		EXPECT_EQ(open_errno_in_new_user_namespace(name, O_RDONLY), 0);
	}
	EXPECT_EQ(lists_changed_since(before), "");
	delete_anything_staged();
}

KTAP_TEST(unprivileged_user_gets_eacces)
{
	require_staging();
	for (const std::string &name : all_list_files()) {
		ktap::ScopedContext context(name);

		for (int flags : {O_RDONLY, O_WRONLY, O_RDWR})
			EXPECT_EQ(in_child([&]() {
					  become_nobody();
					  return open_errno(name, flags);
				  }),
				  EACCES);
	}
}

KTAP_TEST(writer_excludes_every_other_process)
{
	require_staging();
	delete_anything_staged();
	std::vector<std::string> files = all_list_files();
	UniqueFd writer = open_staged_writer();

	for (const std::string &name : files) {
		ktap::ScopedContext context(name);

		for (int flags : {O_RDONLY, O_WRONLY, O_RDWR})
			EXPECT_EQ(in_child([&]() { return open_errno(name, flags); }), EBUSY);
	}

	writer.reset();
	for (const std::string &name : files)
		EXPECT_EQ(in_child([&]() { return open_errno(name, O_RDWR); }), 0);
}

KTAP_TEST(writer_threads_may_open_every_file)
{
	require_staging();
	delete_anything_staged();
	std::vector<std::string> files = all_list_files();
	UniqueFd writer = open_staged_writer();
	std::atomic<int> failures = 0;

	std::thread thread([&]() {
		for (const std::string &name : files)
			for (int flags : {O_RDONLY, O_WRONLY, O_RDWR})
				if (open_errno(name, flags) != 0)
					failures++;
	});
	thread.join();
	EXPECT_EQ(failures.load(), 0);

	/* The writer reads its own files too. */
	stage_something(writer.get());
	EXPECT_EQ(read_all(writer.get()), read_binary_list_bytes("sha1", true));
	delete_anything_staged();
}

KTAP_TEST(closing_the_last_writer_file_ends_the_exclusion)
{
	require_staging();
	delete_anything_staged();
	UniqueFd first = open_staged_writer();
	UniqueFd second = open_or_throw(ima_path(original_request_file()), O_WRONLY);
	UniqueFd reader = open_or_throw(ima_path(original_request_file()), O_RDONLY);

	first.reset();
	EXPECT_EQ(in_child([&]() { return open_errno(original_request_file(), O_RDONLY); }),
		  EBUSY);
	second.reset();
	/* The writer's read-only file is an ordinary reader now. */
	EXPECT_EQ(in_child([&]() { return open_errno(original_request_file(), O_RDONLY); }), 0);
	EXPECT_EQ(in_child([&]() { return open_errno(staged_request_file(), O_WRONLY); }),
		  EBUSY);
	reader.reset();
	EXPECT_EQ(in_child([&]() { return open_errno(staged_request_file(), O_WRONLY); }), 0);
}

KTAP_TEST(readers_block_a_foreign_writer)
{
	require_staging();
	delete_anything_staged();
	{
		Holder reader(original_request_file(), O_RDONLY);

		ASSERT_TRUE(reader.opened());
		EXPECT_EQ(open_errno(staged_request_file(), O_WRONLY), EBUSY);
		EXPECT_EQ(open_errno(staged_request_file(), O_RDWR), EBUSY);
		/* Readers do not exclude each other. */
		EXPECT_EQ(open_errno(staged_request_file(), O_RDONLY), 0);
		Holder second_reader(staged_request_file(), O_RDONLY);
		EXPECT_TRUE(second_reader.opened());
	}
	EXPECT_EQ(open_errno(staged_request_file(), O_RDWR), 0);

	/* A process that holds the only read-only files may become the writer. */
	UniqueFd own_reader = open_or_throw(ima_path(original_request_file()), O_RDONLY);
	EXPECT_EQ(open_errno(staged_request_file(), O_RDWR), 0);
}

KTAP_TEST(writer_blocks_readers_while_open)
{
	require_staging();
	delete_anything_staged();
	UniqueFd writer = open_staged_writer();

	Holder reader(original_request_file(), O_RDONLY);
	EXPECT_FALSE(reader.opened());
}

KTAP_TEST(saved_and_current_records_replay_to_pcr10)
{
	require_staging();
	delete_anything_staged();
	UniqueFd fd = open_staged_writer();

	for (int round = 0; round < 3; round++) {
		create_measurement();
		stage_save_delete(fd.get(), [&]() {
			create_measurement();
			create_measurement();
		});
	}
	EXPECT_EQ(check_invariant(), "");
	EXPECT_EQ(check_invariant_with_evmctl(), "");
}

KTAP_TEST(evmctl_rejects_a_saved_group_that_lost_a_record)
{
	require_staging();
	/* The evmctl check of the invariant can fail: drop one saved record. */
	delete_anything_staged();
	UniqueFd fd = open_staged_writer();

	create_measurement();
	create_measurement();
	stage_save_delete(fd.get());
	std::vector<std::string> banks = evmctl_banks().checked;
	ASSERT_FALSE(banks.empty());
	std::vector<Record> saved = parse_binary_list(saved_store().saved("sha1"), 20);
	ASSERT_GE(saved.size(), 2u);
	saved.erase(saved.end() - 2);
	Bytes list = serialize_binary_list(saved);
	append(list, read_binary_list_bytes("sha1"));
	for (const std::string &bank : banks) {
		ktap::ScopedContext context(bank);
		EXPECT_FALSE(evmctl_validate(list, bank, read_tpm_pcrs(bank)).validated);
	}
}

KTAP_TEST(hash_table_across_delete)
{
	require_staging();
	const bool flush = KernelCmdline::from_proc().has("ima_flush_htable");
	const std::string before = std::string(kMeasureDir) + "/hash-before";
	const std::string between = std::string(kMeasureDir) + "/hash-between";
	const std::string again = std::string(kMeasureDir) + "/hash-again";

	ktap::note("ima_flush_htable ", flush ? "set" : "not set");
	delete_anything_staged();
	UniqueFd fd = open_staged_writer();

	measure_file(before, "measured before A\n");
	measure_file(again, "measured before A, again between A and D\n");
	ASSERT_EQ(occurrences(before), 1u);
	stage_save_delete(fd.get(), [&]() {
		measure_file(between, "measured between A and D\n");
		/* The staged records' digests are still known until D. */
		measure_again(again, "measured before A, again between A and D\n");
	});
	EXPECT_EQ(occurrences(between), 1u);
	EXPECT_EQ(occurrences(again), 0u);

	measure_again(before, "measured before A\n");
	measure_again(between, "measured between A and D\n");
	/* With ima_flush_htable, D forgets the digests of the records it deleted. */
	EXPECT_EQ(occurrences(before), flush ? 1u : 0u);
	/* A record measured between A and D is never duplicated. */
	EXPECT_EQ(occurrences(between), 1u);
	/* positive control: a file never measured is recorded, once */
	const std::string fresh = std::string(kMeasureDir) + "/hash-fresh-after-d";
	measure_file(fresh, "never measured before\n");
	EXPECT_EQ(occurrences(fresh), 1u);
	EXPECT_EQ(check_invariant(), "");
}

KTAP_TEST(read_and_delete_on_one_file_from_two_threads)
{
	require_staging();
	delete_anything_staged();
	UniqueFd fd = open_staged_writer();
	std::atomic<bool> done = false;
	std::atomic<int> reads = 0;
	std::string reader_error;

	std::thread reader([&]() {
		std::vector<std::uint8_t> buffer(1 << 16);

		while (!done) {
			ssize_t got = ::pread(fd.get(), buffer.data(), buffer.size(), 0);

			if (got < 0) {
				reader_error = "pread: errno " + std::to_string(errno);
				return;
			}
			try {
				std::vector<Record> records = parse_binary_list(
					ByteView(buffer.data(), static_cast<std::size_t>(got)), 20);
				for (const Record &record : records)
					if (!template_digest_matches(record, HashAlgo::sha1))
						throw ParseError("template digest mismatch");
			} catch (const std::exception &e) {
				reader_error = std::string("read ") + std::to_string(got) +
					       " bytes: " + e.what();
				return;
			}
			reads++;
		}
	});

	for (int round = 0; round < 40 && reader_error.empty(); round++) {
		create_measurement();
		stage_save_delete(fd.get());
	}
	done = true;
	reader.join();
	EXPECT_EQ(reader_error, "");
	ktap::note(reads.load(), " reads raced 40 A/D cycles");
	EXPECT_GT(reads.load(), 0);
	EXPECT_EQ(check_invariant(), "");
}

/*
 * D gives the deleted records' memory back, all but their digests by
 * default, all of it with ima_flush_htable. Only the records measured here
 * are deleted: the current list is emptied first.
 */
KTAP_TEST(a_and_d_give_back_most_of_the_records_memory)
{
	require_staging();
	require_memory_figures();
	delete_anything_staged();
	UniqueFd fd = open_staged_writer();
	if (read_measurement_count() > 0)
		stage_save_delete(fd.get());

	expect_deletion_gives_memory_back([&]() { stage_save_delete(fd.get()); });
}

KTAP_TEST(invariant_holds_at_the_end)
{
	require_staging();
	delete_anything_staged();
	ktap::note(saved_store().records(), " records saved and deleted, ",
		   read_measurement_count(), " in the current list");
	EXPECT_EQ(check_invariant(), "");
	EXPECT_EQ(check_invariant_with_evmctl(), "");
}

int main(int argc, char **argv)
{
	std::vector<char *> args(argv, argv + argc + 1);

	if (take_flag_option(args, "--no-memory-figures"))
		leave_memory_figures_out();
	return ktap::run(static_cast<int>(args.size() - 1), args.data());
}
