// SPDX-License-Identifier: GPL-2.0
/*
 * Requests racing a kexec soft reboot. In each round, after the next kernel
 * is loaded, two threads of one process (one thread group may hold several
 * measurement files open for write) keep the kernel busy until the reboot
 * ends them:
 *
 *  - a saver, as a service that keeps every record would: A, save the
 *    staged records, D; then save the oldest record, N=1; and so on, with a
 *    file measured before each request. Every group it saved and every
 *    request's errno go to a journal on the suite's disk, synced before the
 *    next request, so the next kernel knows what was asked;
 *  - a spinner that measures files and writes an N no list is long enough
 *    for (ENOENT, or EEXIST while records are staged): it changes nothing
 *    until the reboot suspends measurement, then N fails with ESTALE.
 *
 * The reboot suspends measurement first (the IMA reboot notifier), then
 * copies the lists for the next kernel. In the next kernel every request
 * of the journal is accounted for: completed (its group deleted, so it
 * joins the saved records) or refused with EACCES (A) or ESTALE (D, N)
 * (its records carried, first in the list); the group of a request the
 * reboot cut short is one or the other, never both and never neither.
 * The saved records followed by the carried list replay to PCR 10 (the TPM
 * is not reset by kexec).
 *
 * Both threads write each refusal to the kernel log, and a measurement
 * made after the suspension is refused with an audit record
 * (cause=measurement_suspended): the suite expects the console to show
 * both (scripts/suites, expect=), which is how a run knows the window
 * between the suspension and the reboot was hit. Each round waits one of
 * six times (each in two rounds) between the saver announcing its k-th
 * deletion (k the round) and the reboot, so that the deletion and the
 * reboot race.
 *
 * It runs once per boot, as ima_kexec_test does, with the suite's disk
 * (disk=) for the journal: what is written after the kexec load is not in
 * the next kernel's initramfs.
 */
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "ktap.h"
#include "lib/disk.h"
#include "lib/ima.h"
#include "lib/kexec.h"
#include "lib/staging.h"

using namespace ima;

namespace {

const std::string kStateDir = "/var/lib/ima_kexec_suspend_test";
const std::string kDiskDir = "/mnt/ima_kexec_suspend_test";

/*
 * How long the parent waits, in each round, between the saver saying it is
 * about to send a deletion and the reboot: the two race. Each delay is
 * tried twice: a round meets the suspension window about one time in
 * three under QEMU TCG, and the suite requires that some round did.
 */
const std::vector<std::chrono::microseconds> kDelays = {
	std::chrono::microseconds(0), std::chrono::microseconds(20),
	std::chrono::microseconds(50), std::chrono::microseconds(100),
	std::chrono::microseconds(300), std::chrono::microseconds(1000),
	std::chrono::microseconds(0), std::chrono::microseconds(20),
	std::chrono::microseconds(50), std::chrono::microseconds(100),
	std::chrono::microseconds(300), std::chrono::microseconds(1000),
};

/*
 * Files each process measures in a round at most: the records measured
 * after the kexec load must fit the room the load left for them
 * (CONFIG_IMA_KEXEC_EXTRA_MEMORY_KB).
 */
constexpr int kMeasurementsPerThread = 60;

/* An N no list is long enough for: it can only fail. */
const std::string kImpossibleN = "1000000000\n";

std::vector<std::string> test_names()
{
	std::vector<std::string> names = {"first_boot_list_replays_to_pcr10"};

	for (std::size_t round = 1; round <= kDelays.size(); round++)
		names.push_back("round_" + std::to_string(round) +
				"_every_request_completed_or_refused");
	names.push_back("evmctl_agrees_after_every_round");
	return names;
}

const BootState kState(kStateDir, test_names());

std::string journal_path(unsigned long round)
{
	return kDiskDir + "/journal." + std::to_string(round);
}

std::string group_path(unsigned long round, unsigned long id, const std::string &algo)
{
	return kDiskDir + "/group." + std::to_string(round) + "." + std::to_string(id) + "." + algo;
}

/* Writes @path and syncs it before anything else happens. */
void write_file_synced(const std::string &path, ByteView data)
{
	UniqueFd fd = open_or_throw(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	write_all(fd.get(), data);
	if (::fsync(fd.get()))
		throw_errno("fsync " + path);
}

/* Lines "<what> <id> <errno>", each synced before the call returns. */
class Journal {
public:
	explicit Journal(const std::string &path)
		: fd_(open_or_throw(path, O_WRONLY | O_CREAT | O_APPEND, 0600))
	{
	}

	void add(const std::string &what, unsigned long id, int error) const
	{
		std::string line = what + " " + std::to_string(id) + " " +
				   std::to_string(error) + "\n";

		write_all(fd_.get(), as_bytes(line));
		/*
		 * Unchecked: once the reboot shuts the disk down it fails,
		 * and a line that is lost leaves the next kernel to decide
		 * by what was carried, or fails the replay.
		 */
		::fdatasync(fd_.get());
	}

private:
	UniqueFd fd_;
};

/* A line in the kernel log, for the host to find on the console. */
void log_to_kernel(const std::string &message)
{
	UniqueFd kmsg(::open("/dev/kmsg", O_WRONLY | O_CLOEXEC));

	if (kmsg)
		(void)try_write(kmsg.get(), "ima_kexec_suspend_test: " + message + "\n");
}

void log_refusal(unsigned long round, const std::string &who, const std::string &request,
		 int error)
{
	log_to_kernel("round " + std::to_string(round) + ": " + who + "'s " + request +
		      " refused with " + errno_name(error));
}

void save_group(unsigned long round, unsigned long id,
		const std::map<std::string, Bytes, std::less<>> &group)
{
	for (const auto &[algo, bytes] : group)
		write_file_synced(group_path(round, id, algo), bytes);
}

/* Tells the parent, one byte on @fd, that a deletion is about to be sent. */
void announce_deletion(int fd)
{
	write_all(fd, as_bytes("."));
}

/* A, save the staged records, D. Returns false once a request was refused. */
bool stage_save_delete_cycle(unsigned long round, unsigned long id, int fd,
			     const Journal &journal, int announce_fd)
{
	int error = write_request(fd, "A\n");

	journal.add("A", id, error);
	if (error) {
		log_refusal(round, "saver", "A", error);
		return false;
	}
	save_group(round, id, read_staged_lists());
	journal.add("saved-D", id, 0);
	announce_deletion(announce_fd);
	error = write_request(fd, "D\n");
	journal.add("D", id, error);
	if (error)
		log_refusal(round, "saver", "D", error);
	return !error;
}

/* Save the oldest record, N=1. Returns false once the request was refused. */
bool save_delete_oldest_cycle(unsigned long round, unsigned long id, int fd,
			      const Journal &journal, int announce_fd)
{
	save_group(round, id, read_oldest_records(1));
	journal.add("saved-N", id, 0);
	announce_deletion(announce_fd);
	int error = write_request(fd, "1\n");
	journal.add("N", id, error);
	if (error)
		log_refusal(round, "saver", "N", error);
	return !error;
}

/* Announces each deletion on @announce_fd before it sends it. */
int run_saver(unsigned long round, int announce_fd)
{
	Journal journal(journal_path(round));
	UniqueFd staged = open_or_throw(ima_path(staged_request_file()), O_WRONLY);
	UniqueFd original = open_or_throw(ima_path(original_request_file()), O_WRONLY);

	for (unsigned long id = 0; id < kMeasurementsPerThread; id++) {
		/* Never an empty list to stage or delete from. */
		create_measurement();
		bool accepted = id % 2 == 0 ?
			stage_save_delete_cycle(round, id, staged.get(), journal, announce_fd) :
			save_delete_oldest_cycle(round, id, original.get(), journal, announce_fd);
		/* Refused: measurement is suspended for good. */
		if (!accepted)
			break;
	}
	/* The reboot ends it. */
	for (;;)
		::pause();
}

[[noreturn]] void run_spinner(unsigned long round)
{
	Journal journal(journal_path(round) + ".spinner");
	UniqueFd original = open_or_throw(ima_path(original_request_file()), O_WRONLY);
	bool refused = false;

	for (unsigned long id = 0;; id++) {
		if (id < kMeasurementsPerThread)
			create_measurement();
		int error = write_request(original.get(), kImpossibleN);
		if (error == ESTALE && !refused) {
			log_refusal(round, "spinner", "N", error);
			journal.add("N", id, error);
			refused = true;
		} else if (error != ESTALE && error != ENOENT && error != EEXIST) {
			journal.add("N", id, error);
		}
	}
}

/* Ends the process when @body throws: the parent then sees the saver end. */
template <typename Body> auto exit_on_exception(unsigned long round, Body body)
{
	try {
		return body();
	} catch (const std::exception &e) {
		std::fprintf(stderr, "round %lu: %s\n", round, e.what());
		std::fflush(stderr);
		std::_Exit(1);
	}
}

/* The saver and the spinner, threads of one process, until the reboot. */
int run_requests(unsigned long round, int announce_fd)
{
	std::thread([round] { exit_on_exception(round, [round] { run_spinner(round); }); })
		.detach();
	return exit_on_exception(round, [round, announce_fd] { return run_saver(round, announce_fd); });
}

/*
 * Saves the state, loads the next kernel, starts the saver and the spinner
 * and reboots once the saver announced its deletion number @round, after
 * the round's delay: the reboot races that deletion.
 */
[[noreturn]] void start_round(unsigned long round)
{
	saved_store().save_to(kStateDir);
	kState.set_number("phase", round);
	ktap::note("round ", round, ": kexec ", kDelays.at(round - 1).count(),
		   " us after the saver announced deletion ", round, ", ", read_measurement_count(),
		   " records in the kernel");

	/* Outlives the callback: the reboot ends it, a failed one kills it. */
	std::optional<ChildProcess> requests;

	kexec_soft_reboot(kRunningKernelImage, [round, &requests] {
		Pipe deletions;

		requests.emplace(ChildProcess::fork_and_run([round, &deletions] {
			return run_requests(round, deletions.write_end.get());
		}));
		deletions.write_end.reset();
		/* Throws if the saver ends first. */
		read_exact(deletions.read_end.get(), round);
		std::this_thread::sleep_for(kDelays.at(round - 1));
	});
}

struct JournalEntry {
	std::string what;
	unsigned long id = 0;
	int error = 0;
};

std::vector<JournalEntry> read_journal(const std::string &path)
{
	std::vector<JournalEntry> entries;

	if (!path_exists(path))
		return entries;
	std::istringstream lines(read_text_file(path));
	JournalEntry entry;
	/* A line the reboot cut short does not parse: it was never synced. */
	while (lines >> entry.what >> entry.id >> entry.error)
		entries.push_back(entry);
	return entries;
}

std::map<std::string, Bytes, std::less<>> read_group(unsigned long round, unsigned long id)
{
	std::map<std::string, Bytes, std::less<>> group;

	for (const std::string &algo : list_algos())
		group[algo] = read_file(group_path(round, id, algo));
	return group;
}

/* Whether every current list of the new kernel starts with @group. */
bool carried_first(const std::map<std::string, Bytes, std::less<>> &group)
{
	for (const auto &[algo, bytes] : group)
		if (!starts_with(read_binary_list_bytes(algo), bytes))
			return false;
	return true;
}

/* What a round's figures add to the run's, for the last boot's note. */
void add_to_total(const std::string &name, unsigned long value)
{
	unsigned long total = path_exists(kState.path(name)) ? kState.number(name) : 0;

	kState.set_number(name, total + value);
}

/*
 * Accounts for the saver's requests of @round: each group it saved joins
 * the saved records if its request completed, else is carried first.
 */
std::string account_for_saver(unsigned long round)
{
	std::string problems;
	std::vector<JournalEntry> entries = read_journal(journal_path(round));
	/* The group saved for the next request, if any. */
	bool pending = false;
	unsigned long pending_id = 0;
	unsigned long deleted = 0, refused = 0, cut_short = 0;

	for (const JournalEntry &entry : entries) {
		if (entry.what == "saved-D" || entry.what == "saved-N") {
			pending = true;
			pending_id = entry.id;
			continue;
		}
		bool deletion = entry.what == "D" || entry.what == "N";
		int refusal = deletion ? ESTALE : EACCES;
		if (entry.error && entry.error != refusal) {
			problems += entry.what + " " + std::to_string(entry.id) + " failed with " +
				    errno_name(entry.error) + ", expected " +
				    errno_name(refusal) + "; ";
			continue;
		}
		if (entry.error)
			refused++;
		if (!deletion)
			continue;
		if (!pending || pending_id != entry.id) {
			problems += entry.what + " " + std::to_string(entry.id) +
				    " without its saved group; ";
			continue;
		}
		pending = false;
		auto group = read_group(round, entry.id);
		bool carried = carried_first(group);
		if (entry.error && !carried)
			problems += entry.what + " " + std::to_string(entry.id) +
				    " was refused but its records are gone; ";
		if (!entry.error) {
			saved_store().append(group);
			deleted++;
		}
	}
	if (pending) {
		/* Its request was cut short: either it completed or it did not. */
		auto group = read_group(round, pending_id);
		cut_short++;
		if (!carried_first(group)) {
			saved_store().append(group);
			deleted++;
		}
	}
	ktap::note("round ", round, ": ", deleted, " groups deleted, ", refused,
		   " requests refused, ", cut_short, " cut short by the reboot");
	add_to_total("refused", refused);
	add_to_total("cut_short", cut_short);
	return problems;
}

/* The spinner's N never completes: ENOENT or EEXIST, then ESTALE. */
std::string account_for_spinner(unsigned long round)
{
	std::string problems;
	unsigned long refused = 0;

	for (const JournalEntry &entry : read_journal(journal_path(round) + ".spinner")) {
		if (entry.error == ESTALE)
			refused++;
		else
			problems += "the spinner's N " + std::to_string(entry.id) +
				    " failed with " + errno_name(entry.error) + "; ";
	}
	add_to_total("spinner_refused", refused);
	return problems;
}

std::string missing_requirement()
{
	if (std::string missing = missing_kexec_requirement(); !missing.empty())
		return missing;
	return missing_staging_requirement();
}

void first_boot()
{
	kState.begin(missing_requirement());
	mount_persistent_disk(kDiskDir);
	kState.report(0, check_invariant());
	for (int i = 0; i < 5; i++)
		create_measurement();
	start_round(1);
}

/* The boot after round @round: account for it, then the next round or the end. */
int after_round(unsigned long round)
{
	saved_store().load_from(kStateDir);
	mount_persistent_disk(kDiskDir);
	if (!read_binary_list_bytes("sha1", true).empty())
		throw std::runtime_error("records are staged in the new kernel");
	std::string problems = account_for_saver(round) + account_for_spinner(round);
	problems += check_invariant();
	kState.report(round, problems);
	if (round < kDelays.size())
		start_round(round + 1);

	kState.report(round + 1, check_invariant_with_evmctl());
	ktap::note("over ", kDelays.size(), " rounds: ", kState.number("refused"),
		   " saver requests refused, ", kState.number("spinner_refused"),
		   " spinner N refused, ", kState.number("cut_short"),
		   " requests cut short by the reboot (journaled)");
	return kState.number("failed") ? 1 : 0;
}

} // namespace

int main()
{
	std::vector<std::function<int()>> phases = {BootState::rebooting(first_boot)};

	for (unsigned long round = 1; round <= kDelays.size(); round++)
		phases.push_back([round] { return after_round(round); });
	return kState.run(phases);
}
