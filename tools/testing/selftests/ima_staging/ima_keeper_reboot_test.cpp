// SPDX-License-Identifier: GPL-2.0
/*
 * ima-keeper across cold boots: one log per boot. The guest boots three
 * times with its store on a disk kept between the boots and the same
 * software TPM, whose PCRs start from zero at every boot, as on a real
 * machine; each boot ends with a power cut (no sync: what the keeper did
 * not make durable is lost).
 *
 *  boot 1: saves, then a save (N) killed after committing its group: the
 *          group is saved, its records still in the kernel when the power
 *          goes;
 *  boot 2: before any keeper runs, readers serve only this boot's records
 *          (and verify matches); the keeper starts a new log, keeps the
 *          pending group in the first boot's log, which stays as it was;
 *          then a keeper saves without pause while files are measured,
 *          until it is stopped (SIGSTOP) wherever it is, a save in
 *          progress or not, and the power goes;
 *  boot 3: the store opens (a torn write, if any, is repaired), the second
 *          boot's log holds its records up to the cut, in order, every one
 *          the keeper said it saved included, and the third boot has a log
 *          of its own that replays to PCR 10.
 *
 * The suite boots the guest with disk= and boots= (scripts/suites); the
 * program mounts the disk and keeps its state there. Needs ima-keeper in
 * $PATH, a TPM and CONFIG_IMA_STAGING. With --no-tpm the boots must have
 * no TPM (keeper-reboot-notpm): the keeper then tells a cold boot by the
 * boot aggregate at the head of the kernel's list, and verify has nothing
 * to check against.
 */
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "ktap.h"
#include "lib/disk.h"
#include "lib/ima.h"
#include "lib/keeper.h"
#include "lib/kexec.h"
#include "lib/options.h"
#include "lib/require.h"
#include "lib/staging.h"

using namespace ima;
using namespace std::chrono_literals;

namespace {

const std::string kDiskDir = "/mnt/persistent";
const std::string kStateDir = kDiskDir + "/state";
const std::string kStore = kDiskDir + "/store";

const std::vector<std::string> kTests = {
	"a_save_is_interrupted_before_the_power_cut",
	"readers_after_a_cold_boot_serve_only_its_records",
	"the_keeper_starts_a_new_log_and_keeps_the_old_one_intact",
	"a_power_cut_while_the_keeper_saves_loses_nothing_saved",
};

const BootState kState(kStateDir, kTests);

LogModel &model()
{
	static LogModel model;

	return model;
}

std::string first_line(const std::string &text)
{
	return text.substr(0, text.find('\n'));
}

/* Makes the state files durable: the power cut loses what is not. */
void sync_state()
{
	for (const std::string &name : list_directory(kStateDir)) {
		UniqueFd fd = open_or_throw(kStateDir + "/" + name, O_RDONLY);

		if (::fsync(fd.get()))
			throw_errno("fsync " + kStateDir + "/" + name);
	}
	UniqueFd dir = open_or_throw(kStateDir, O_RDONLY | O_DIRECTORY);
	if (::fsync(dir.get()))
		throw_errno("fsync " + kStateDir);
}

[[noreturn]] void cut_power(int next_phase)
{
	kState.set_number("phase", next_phase);
	sync_state();
	ktap::note("power cut with ", read_measurement_count(), " records in the kernel");
	power_cut();
}

std::string this_boot()
{
	return first_line(read_text_file("/proc/sys/kernel/random/boot_id"));
}

std::string check_full_log()
{
	return full_log_problems(kStore, model());
}

/* "ima-keeper log --boot @boot" is @expected. */
std::string check_boot_log(const std::string &boot, const Bytes &expected)
{
	KeeperRun log = run_keeper(kStore, {"log", "--boot", boot});
	std::string problems = exit_problem(log, 0, "log --boot " + boot);

	if (log.out != expected)
		problems += "the log of boot " + boot + " has " +
			    std::to_string(parse_binary_list(log.out, 20).size()) +
			    " records, not the " +
			    std::to_string(parse_binary_list(expected, 20).size()) + " saved; ";
	return problems;
}

/*
 * The sequence number of a file create_measurement() made in this program
 * ("/measure/m-<pid>-<sequence>-<time>"), -1 for any other file.
 */
long measured_sequence(const std::string &path)
{
	std::string prefix = std::string(kMeasureDir) + "/m-";
	std::size_t pid_end = path.find('-', prefix.size());

	if (path.rfind(prefix, 0) != 0 || pid_end == std::string::npos)
		return -1;
	try {
		return std::stol(path.substr(pid_end + 1));
	} catch (const std::logic_error &) {
		return -1;
	}
}

/*
 * The records of the groups @err says the keeper saved ("saved group N (R
 * records, B bytes) and deleted it from the kernel"): it says so once the
 * kernel deleted them, after the group was committed, so the store must
 * keep every one of them, whatever a power cut interrupts next.
 */
std::uint64_t records_said_saved(const std::string &err)
{
	const std::string mark = "saved group ";
	std::uint64_t records = 0;

	for (std::size_t at = err.find(mark); at != std::string::npos; at = err.find(mark, at + 1)) {
		std::size_t count = err.find(" (", at);

		if (count != std::string::npos && count < err.find('\n', at))
			records += std::stoull(err.substr(count + 2));
	}
	return records;
}

std::string missing_requirement()
{
	if (!command_exists(std::string(kKeeperProgram)))
		return "no " + std::string(kKeeperProgram) + " in $PATH";
	return missing_staging_requirement();
}

void first_boot()
{
	kState.begin(missing_requirement());
	model().start();
	model().measure(10);
	std::string problems = exit_problem(run_keeper(kStore, {"save"}), 0, "save");
	model().measure(5);
	std::vector<std::string> interrupted = {"save", "--flavor", "n"};
	if (booted_with_flush_htable())
		interrupted = {"save"};
	problems += exit_problem(run_keeper(kStore, interrupted, {.fault = "committed",
								.without_cap_sys_admin = false}),
				kKilledExit, "save killed after its commit");
	model().measure(3);
	problems += check_full_log();

	/* What the store holds of this boot: all but the last 3 records. */
	const std::vector<std::size_t> bounds = sha1_record_bounds(model().log());
	write_file(kState.path("boot1-log"),
		   Bytes(model().log().begin(),
			 model().log().begin() +
				 static_cast<std::ptrdiff_t>(bounds[bounds.size() - 4])));
	write_file(kState.path("boot1-id"), as_bytes(this_boot()));
	kState.report(0, problems);
	cut_power(1);
}

void second_boot()
{
	std::string boot1 = read_text_file(kState.path("boot1-id"));
	Bytes boot1_log = read_file(kState.path("boot1-log"));
	std::string problems;

	if (this_boot() == boot1)
		problems += "the boot_id did not change: not a new boot; ";
	/* No keeper ran yet: readers serve this boot's records only. */
	model().start();
	problems += check_full_log();
	KeeperRun count = run_keeper(kStore, {"count"});
	problems += exit_problem(count, 0, "count");
	if (count.out_text() != std::to_string(model().records().size()) + "\n")
		problems += "count says " + count.out_text() + "; ";
	KeeperRun boots = run_keeper(kStore, {"boots"});
	if (boots.out_text().find("the current boot " + this_boot() + " has no saved records") ==
	    std::string::npos)
		problems += "boots does not say this boot has no log yet: " + boots.out_text() + "; ";
	problems += check_boot_log(boot1, boot1_log);
	kState.report(1, problems);

	problems.clear();
	model().measure(4);
	KeeperRun save = run_keeper(kStore, {"save"});
	problems += exit_problem(save, 0, "save");
	if (save.err.find("starts the log " + kStore + "/logs/000002") == std::string::npos ||
	    save.err.find("ended with its boot") == std::string::npos)
		problems += "the keeper did not start a new log and keep the old one's group: " +
			    save.err + "; ";
	if (read_measurement_count() != 0)
		problems += "records left in the kernel after the save; ";
	problems += check_full_log();
	problems += check_boot_log(boot1, boot1_log);
	boots = run_keeper(kStore, {"boots"});
	ktap::note(boots.out_text().substr(0, boots.out_text().size() - 1));
	if (boots.out_text().find("logs/000002: " + std::to_string(model().records().size())) ==
	    std::string::npos)
		problems += "boots does not show the second log with every record: " +
			    boots.out_text() + "; ";
	kState.report(2, problems);

	/* The log so far, durable; then saves without pause until the power goes. */
	write_file(kState.path("boot2-log"), model().log());
	write_file(kState.path("boot2-id"), as_bytes(this_boot()));
	kState.set_number("phase", 2);
	sync_state();
	BackgroundKeeper keeper(kStore, {"run", "--max-records", "1", "--interval-ms", "20"});
	for (int i = 0; i < 40; i++) {
		model().measure_while_saving(1);
		if (i == 0)
			kState.set_number("boot2-first", static_cast<unsigned long>(
							 measured_sequence(model().measured().front())));
		std::this_thread::sleep_for(20ms);
	}
	/* Until at least one save went through since the second boot's first. */
	for (int i = 0; i < 600 && count_of(keeper.err(), "saved group") < 2; i++)
		std::this_thread::sleep_for(100ms);
	/*
	 * Stopped wherever it is (a save in progress or not), the keeper
	 * deletes nothing more: what it said it saved must be in the store
	 * after the cut.
	 */
	keeper.signal(SIGSTOP);
	kState.set_number("boot2-said-saved", records_said_saved(keeper.err()));
	cut_power(2);
}

int third_boot()
{
	std::string boot2 = read_text_file(kState.path("boot2-id"));
	Bytes before_cut = read_file(kState.path("boot2-log"));
	long first = static_cast<long>(kState.number("boot2-first"));

	model().start();
	KeeperRun save = run_keeper(kStore, {"save"});
	std::string problems = exit_problem(save, 0, "save after the power cut");

	ktap::note(save.err.substr(0, save.err.empty() ? 0 : save.err.size() - 1));
	/* The second boot's log: what it had, then measured files, each once, in order. */
	KeeperRun log = run_keeper(kStore, {"log", "--boot", boot2});
	problems += exit_problem(log, 0, "log --boot " + boot2);
	if (!starts_with(log.out, before_cut)) {
		problems += "the second boot's log lost records it had before the keeper ran; ";
	} else {
		std::vector<Record> added =
			parse_binary_list(ByteView(log.out).subspan(before_cut.size()), 20);
		long expected = first;

		for (const Record &record : added) {
			long sequence = record.ima_ng ? measured_sequence(record.ima_ng->file_name) : -1;

			if (sequence != expected++) {
				problems += "the second boot's log lost a record, has one twice, out "
					    "of order or of an unknown file; ";
				break;
			}
		}
		if (added.empty())
			problems += "the keeper saved nothing before the power cut; ";
		/* Every record the keeper had said it saved when the power went. */
		std::uint64_t said = kState.number("boot2-said-saved");
		if (added.size() < said)
			problems += "the store lost records the keeper had saved and the kernel "
				    "deleted: it kept " + std::to_string(added.size()) + ", the "
				    "keeper said it saved " + std::to_string(said) + "; ";
		ktap::note("the second boot's log kept ", added.size(),
			   " records saved by the keeper before the power cut");
	}
	model().measure(2);
	problems += check_full_log();
	KeeperRun boots = run_keeper(kStore, {"boots"});
	ktap::note(boots.out_text().substr(0, boots.out_text().size() - 1));
	if (boots.out_text().find("logs/000003") == std::string::npos)
		problems += "no third log: " + boots.out_text() + "; ";
	kState.report(3, problems);
	return kState.number("failed") ? 1 : 0;
}

} // namespace

int main(int argc, char **argv)
{
	std::vector<char *> args(argv, argv + argc + 1);

	if (take_flag_option(args, "--no-tpm"))
		expect_no_tpm();
	if (args.size() != 2) {
		std::fprintf(stderr, "usage: %s [--no-tpm]\n", argv[0]);
		return 2;
	}
	try {
		mount_persistent_disk(kDiskDir);
	} catch (const std::exception &e) {
		print_ktap_line("KTAP version 1");
		print_ktap_line(std::string("1..0 # SKIP ") + e.what());
		return 4;
	}
	return kState.run({
		BootState::rebooting(first_boot),
		BootState::rebooting(second_boot),
		third_boot,
	});
}
