// SPDX-License-Identifier: GPL-2.0
/*
 * ima-keeper as operators run it: installed from its Debian package on a
 * Debian 12 root with systemd as PID 1, its units enabled, and a stand-in
 * for Keylime's agent ordered by the package's drop-in. The program runs
 * once per boot as istest.service (scripts/sysroot), across the boots of
 * one disk:
 *
 *  boot 1: both units are active only once ready (Type=notify), in their
 *          sandbox; the agent found the view on its first open and reads
 *          the full log on that one fd across saves; restarting the view
 *          restarts the agent; a view killed outright (SIGKILL) comes
 *          back, and the agent with it, reading the full log again; then
 *          "systemctl reboot";
 *  boot 2: the first boot's log is what it saved; "systemctl stop" during
 *          a save lets the save complete; then a power cut;
 *  boot 3: the second boot's log is what it saved; then "systemctl kexec";
 *  boot 3 after the kexec: the log goes on from the records the kernel
 *          carried over with the new kernel's boot aggregate, and still
 *          replays to PCR 10.
 *
 * "--agent DIR" is the stand-in agent (keylime_agent.service): it opens the
 * view's binary log once, as Keylime's agent opens ima_ml_path, writes
 * "ok PID" or the error to DIR/open, and at every SIGUSR1 reads that
 * descriptor from offset 0 into DIR/log, counting the reads in DIR/reads.
 */
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <thread>
#include <unistd.h>
#include <vector>

#include "ktap.h"
#include "lib/ima.h"
#include "lib/keeper.h"
#include "lib/kexec.h"
#include "lib/disk.h"
#include "lib/require.h"
#include "lib/staging.h"

using namespace ima;
using namespace std::chrono_literals;

namespace {

const std::string kStore = "/var/lib/ima-keeper";
const std::string kStateDir = "/var/lib/istest/state";
const std::string kAgentDir = "/run/istest-agent";
const std::string kView = "/run/ima-keeper/view";
/* Tells istest-run that this boot ends in a reboot the program asked for. */
const std::string kRebootMarker = "/run/istest-reboot";
const std::string kKeeperUnit = "ima-keeper.service";
const std::string kViewUnit = "ima-keeper-view.service";
const std::string kAgentUnit = "keylime_agent.service";
/* The bounding set of both units: CAP_SYS_ADMIN (21) alone. */
const std::string kSysAdminOnly = "0000000000200000";

const std::vector<std::string> kTests = {
	"units_become_active_only_when_ready",
	"the_units_run_in_their_sandbox",
	"the_agent_reads_the_full_log_on_one_fd_across_saves",
	"restarting_the_view_restarts_the_agent",
	"a_view_that_dies_comes_back_and_so_does_the_agent",
	"a_clean_reboot_keeps_the_saved_log",
	"stopping_the_keeper_during_a_save_completes_the_save",
	"a_power_cut_loses_no_saved_record",
	"systemctl_kexec_continues_the_log",
};

const BootState kState(kStateDir, kTests);

LogModel &model()
{
	static LogModel model;

	return model;
}

std::string trimmed(std::string text)
{
	while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
		text.pop_back();
	return text;
}

/* @text on one line, for a KTAP diagnostic. */
std::string one_line(std::string text)
{
	for (char &c : text)
		if (c == '\n')
			c = '|';
	return trimmed(text);
}

/* Runs @argv; throws unless it exits 0. Its output, trimmed. */
std::string checked_output(const std::vector<std::string> &argv)
{
	CommandResult result = run_command(argv);

	if (result.exit_code != 0)
		throw std::runtime_error(command_line(argv) + " exited with " +
					 std::to_string(result.exit_code) + ": " +
					 one_line(result.output));
	return trimmed(result.output);
}

std::string unit_property(const std::string &unit, const std::string &property)
{
	return checked_output({"systemctl", "show", "-P", property, unit});
}

unsigned long long unit_number(const std::string &unit, const std::string &property)
{
	return std::stoull(unit_property(unit, property));
}

std::string this_boot()
{
	return trimmed(read_text_file("/proc/sys/kernel/random/boot_id"));
}

/* Makes the state files durable: a power cut loses what is not. */
void sync_state()
{
	::sync();
}

/* The keeper's messages in this boot's journal. */
std::string keeper_journal()
{
	return checked_output({"journalctl", "-b", "-o", "cat", "-u", kKeeperUnit});
}

/*
 * Asks the running keeper for a save (SIGUSR1) and waits until its
 * journal shows one more saved group; "" or what went wrong.
 */
std::string save_with_the_service()
{
	std::size_t saved = count_of(keeper_journal(), "saved group");

	checked_output({"systemctl", "kill", "-s", "SIGUSR1", "--kill-who=main", kKeeperUnit});
	if (!eventually([&] { return count_of(keeper_journal(), "saved group") > saved; }, 120s))
		return "the keeper did not save after SIGUSR1: " + one_line(keeper_journal()) + "; ";
	return "";
}

/* --- the stand-in agent ------------------------------------------------ */

int run_agent(const std::string &dir)
{
	sigset_t signals;

	sigemptyset(&signals);
	sigaddset(&signals, SIGUSR1);
	sigaddset(&signals, SIGTERM);
	sigprocmask(SIG_BLOCK, &signals, nullptr);
	std::filesystem::create_directories(dir);
	std::string pid = std::to_string(::getpid());
	OpenResult log = try_open(kView + "/binary_runtime_measurements", O_RDONLY);
	write_file(dir + "/open", as_bytes((log.error ? errno_name(log.error) : "ok") + " " + pid));
	for (unsigned long reads = 1;; reads++) {
		int sig = sigwaitinfo(&signals, nullptr);

		if (sig == SIGTERM)
			return 0;
		if (sig != SIGUSR1 || log.error)
			continue;
		Bytes bytes;
		std::vector<std::uint8_t> buffer(65536);
		for (;;) {
			ssize_t got = ::pread(log.fd.get(), buffer.data(), buffer.size(),
					      static_cast<off_t>(bytes.size()));
			if (got <= 0) {
				if (got < 0)
					write_file(dir + "/error", as_bytes(errno_name(errno)));
				break;
			}
			bytes.insert(bytes.end(), buffer.begin(), buffer.begin() + got);
		}
		write_file(dir + "/log.tmp", bytes);
		std::filesystem::rename(dir + "/log.tmp", dir + "/log");
		write_file(dir + "/reads", as_bytes(std::to_string(reads) + " " + pid));
	}
}

std::string agent_file(const std::string &name)
{
	return path_exists(kAgentDir + "/" + name) ? read_text_file(kAgentDir + "/" + name) : "";
}

/*
 * Has the agent re-read its descriptor (SIGUSR1) and returns what it
 * read; adds to @problems what went wrong.
 */
Bytes agent_read(std::string &problems)
{
	std::string before = agent_file("reads");

	checked_output({"systemctl", "kill", "-s", "SIGUSR1", "--kill-who=main", kAgentUnit});
	if (!eventually([&] { return agent_file("reads") != before; }, 30s)) {
		problems += "the agent did not read its descriptor again; ";
		return {};
	}
	if (!agent_file("error").empty())
		problems += "the agent's read failed with " + agent_file("error") + "; ";
	return read_file(kAgentDir + "/log");
}

/* The agent opened the view at its start: "ok PID" for its main PID. */
std::string check_agent_opened()
{
	std::string main_pid = unit_property(kAgentUnit, "MainPID");
	std::string opened = agent_file("open");

	if (opened != "ok " + main_pid)
		return "the agent (pid " + main_pid + ") did not open the view at its start: '" +
		       opened + "'; ";
	return "";
}

std::string check_agent_reads_model()
{
	std::string problems;
	Bytes read = agent_read(problems);

	if (problems.empty() && read != model().log())
		problems += "the agent's held descriptor reads " + std::to_string(read.size()) +
			    " bytes, not the " + std::to_string(model().log().size()) +
			    " bytes of the full log; ";
	return problems;
}

/* --- boot 1 ------------------------------------------------------------ */

std::string check_ready_units()
{
	std::string problems;

	for (const std::string &unit : {kKeeperUnit, kViewUnit, kAgentUnit}) {
		std::string state = unit_property(unit, "ActiveState");
		if (state != "active")
			problems += unit + " is " + state + "; ";
	}
	for (const std::string &unit : {kKeeperUnit, kViewUnit}) {
		if (unit_property(unit, "Type") != "notify")
			problems += unit + " is not Type=notify; ";
		ktap::note(unit, ": ", unit_property(unit, "StatusText"));
	}
	if (unit_property(kKeeperUnit, "StatusText").find("keeping " + kStore) == std::string::npos)
		problems += "the keeper's status does not say it keeps " + kStore + "; ";
	/* Each starts only once the one before it is ready. */
	if (unit_number(kViewUnit, "ExecMainStartTimestampMonotonic") <
	    unit_number(kKeeperUnit, "ActiveEnterTimestampMonotonic"))
		problems += "the view started before the keeper was ready; ";
	if (unit_number(kAgentUnit, "ExecMainStartTimestampMonotonic") <
	    unit_number(kViewUnit, "ActiveEnterTimestampMonotonic"))
		problems += "the agent started before the view was ready; ";
	return problems + check_agent_opened();
}

std::string process_status(const std::string &pid, const std::string &field)
{
	std::string status = read_text_file("/proc/" + pid + "/status");
	std::size_t at = status.find("\n" + field + ":");

	if (at == std::string::npos)
		return "";
	std::size_t start = status.find_first_not_of(" \t", at + field.size() + 2);
	return status.substr(start, status.find('\n', start) - start);
}

std::string exposure(const std::string &unit)
{
	std::string out = run_command({"systemd-analyze", "security", "--no-pager", unit}).output;
	std::size_t at = out.find("Overall exposure level for " + unit + ": ");

	return at == std::string::npos ? "" : trimmed(out.substr(at, out.find('\n', at) - at));
}

std::string check_sandbox()
{
	std::string problems;
	std::string own_mounts = read_symlink("/proc/self/ns/mnt");

	for (const std::string &unit : {kKeeperUnit, kViewUnit}) {
		std::string pid = unit_property(unit, "MainPID");
		std::string expected[][2] = {
			{"CapBnd", kSysAdminOnly}, {"NoNewPrivs", "1"}, {"Seccomp", "2"}};

		for (const auto &[field, value] : expected) {
			std::string got = process_status(pid, field);
			if (got != value)
				problems += unit + " runs with " + field + " " + got + ", not " +
					    value + "; ";
		}
		bool own_namespace = read_symlink("/proc/" + pid + "/ns/mnt") != own_mounts;
		/* The view's mount must be seen by agents: no namespace of its own. */
		if (own_namespace != (unit == kKeeperUnit))
			problems += unit + (own_namespace ? " has" : " lacks") +
				    " a mount namespace of its own; ";
		ktap::note(exposure(unit));
	}
	return problems;
}

std::string check_agent_across_saves()
{
	std::string problems;

	model().start();
	for (int round = 0; round < 2; round++) {
		model().measure(20);
		problems += save_with_the_service();
		if (read_measurement_count() != 0)
			problems += "records left in the kernel after the save; ";
		model().measure(3);
		problems += full_log_problems(kStore, model());
		problems += check_agent_reads_model();
	}
	if (agent_file("open").rfind("ok ", 0) != 0 || agent_file("reads").find(" ") == std::string::npos)
		problems += "the agent did not keep its one descriptor; ";
	return problems;
}

std::string check_view_restart()
{
	std::string before = unit_property(kAgentUnit, "MainPID");
	std::string problems;

	checked_output({"systemctl", "restart", kViewUnit});
	if (!eventually([&] { return agent_file("open") == "ok " + unit_property(kAgentUnit, "MainPID"); },
			60s))
		problems += "the agent did not open the restarted view: " + agent_file("open") + "; ";
	if (unit_property(kAgentUnit, "MainPID") == before)
		problems += "restarting the view did not restart the agent; ";
	return problems + check_agent_reads_model();
}

/*
 * The view killed outright: its unit restarts it (Restart=on-failure), the
 * agent, bound to it, stops with it, and must come back with it: an agent
 * left stopped, or holding a descriptor of the dead mount (ENOTCONN), would
 * never attest again.
 */
std::string check_view_crash()
{
	std::string view_before = unit_property(kViewUnit, "MainPID");
	std::string agent_before = unit_property(kAgentUnit, "MainPID");
	std::string problems;

	checked_output({"systemctl", "kill", "--signal=SIGKILL", kViewUnit});
	bool back = eventually(
		[&] {
			std::string view = unit_property(kViewUnit, "MainPID");
			std::string agent = unit_property(kAgentUnit, "MainPID");

			return view != "0" && view != view_before && agent != "0" &&
			       agent != agent_before && agent_file("open") == "ok " + agent;
		},
		60s);
	ktap::note("after SIGKILL: view ", unit_property(kViewUnit, "ActiveState"), " (pid ",
		   unit_property(kViewUnit, "MainPID"), "), agent ",
		   unit_property(kAgentUnit, "ActiveState"), " (pid ",
		   unit_property(kAgentUnit, "MainPID"), "), the agent's open: ", agent_file("open"));
	if (!back)
		return "the view or the agent did not come back after the view was killed; ";
	return problems + check_agent_reads_model();
}

/* Asks systemd for @verb (reboot, kexec); this boot's program ends. */
int ask_systemd(const std::string &verb, unsigned long next_phase)
{
	kState.set_number("phase", next_phase);
	sync_state();
	write_file(kRebootMarker, as_bytes(verb + "\n"));
	ktap::note("systemctl ", verb, " with ", read_measurement_count(), " records in the kernel");
	checked_output({"systemctl", "--no-block", verb});
	return 0;
}

int first_boot()
{
	kState.begin(missing_staging_requirement());
	kState.report(0, check_ready_units());
	kState.report(1, check_sandbox());
	kState.report(2, check_agent_across_saves());
	kState.report(3, check_view_restart());
	kState.report(4, check_view_crash());
	/* Everything saved: the store keeps this boot's whole log. */
	std::string problems = save_with_the_service();
	problems += full_log_problems(kStore, model());
	if (!problems.empty())
		ktap::note("before the reboot: ", problems);
	write_file(kState.path("boot1-log"), model().log());
	write_file(kState.path("boot1-id"), as_bytes(this_boot()));
	return ask_systemd("reboot", 1);
}

/* --- boot 2 ------------------------------------------------------------ */

/* "ima-keeper log --boot @boot" is the log kept in the file @name. */
std::string check_boot_log(const std::string &name)
{
	std::string boot = read_text_file(kState.path(name + "-id"));
	Bytes expected = read_file(kState.path(name + "-log"));
	KeeperRun log = run_keeper(kStore, {"log", "--boot", boot});
	std::string problems = exit_problem(log, 0, "log --boot " + boot);

	if (boot == this_boot())
		problems += "the boot_id did not change; ";
	if (log.out != expected)
		problems += "the log of boot " + boot + " has " + std::to_string(log.out.size()) +
			    " bytes, not the " + std::to_string(expected.size()) + " saved; ";
	return problems;
}

std::string check_stop_during_save()
{
	std::string problems;

	model().start();
	model().measure(1500);
	std::size_t saved = count_of(keeper_journal(), "saved group");
	checked_output({"systemctl", "kill", "-s", "SIGUSR1", "--kill-who=main", kKeeperUnit});
	auto start = std::chrono::steady_clock::now();
	checked_output({"systemctl", "stop", kKeeperUnit});
	auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::steady_clock::now() - start);
	ktap::note("systemctl stop took ", took.count(), " ms");
	/* journald may store the keeper's last lines a little later. */
	std::string journal;
	eventually([&] {
		journal = keeper_journal();
		return journal.find("stopping (signal") != std::string::npos;
	}, 30s);
	if (count_of(journal, "saved group") != saved + 1)
		problems += "the save asked for before the stop did not complete: " +
			    one_line(journal) + "; ";
	if (journal.find("stopping (signal 15)") == std::string::npos)
		problems += "the keeper did not say it stopped on SIGTERM; ";
	if (unit_property(kKeeperUnit, "Result") != "success")
		problems += "the stop did not succeed: " + unit_property(kKeeperUnit, "Result") + "; ";
	if (read_measurement_count() != 0)
		problems += "records left in the kernel after the save; ";
	problems += full_log_problems(kStore, model());
	checked_output({"systemctl", "start", kKeeperUnit});
	std::string restarted;
	eventually([&] {
		std::string now = keeper_journal();

		restarted = now.size() > journal.size() ? now.substr(journal.size()) : "";
		return restarted.find("keeping " + kStore) != std::string::npos;
	}, 30s);
	ktap::note("the next start: ", one_line(restarted));
	if (restarted.find("keeping " + kStore) == std::string::npos)
		problems += "the next start did not say what it keeps: " + one_line(restarted) + "; ";
	return problems;
}

[[noreturn]] void cut_power(unsigned long next_phase)
{
	kState.set_number("phase", next_phase);
	sync_state();
	ktap::note("power cut with ", read_measurement_count(), " records in the kernel");
	power_cut();
}

int second_boot()
{
	kState.report(5, check_boot_log("boot1") + check_ready_units());
	kState.report(6, check_stop_during_save());
	model().measure(3);
	std::string problems = save_with_the_service();
	problems += full_log_problems(kStore, model());
	if (!problems.empty())
		ktap::note("before the power cut: ", problems);
	write_file(kState.path("boot2-log"), model().log());
	write_file(kState.path("boot2-id"), as_bytes(this_boot()));
	cut_power(2);
}

/* --- boot 3, and after its kexec -------------------------------------- */

std::size_t store_logs()
{
	return count_of(run_keeper(kStore, {"boots"}).out_text(), "logs/");
}

int third_boot()
{
	std::string problems = check_boot_log("boot2") + check_ready_units();

	model().start();
	model().measure(5);
	problems += save_with_the_service();
	model().measure(4);
	problems += full_log_problems(kStore, model());
	kState.report(7, problems);

	/* The full log so far, four records of it in the kernel only. */
	write_file(kState.path("boot3-log"), model().log());
	write_file(kState.path("boot3-ascii"), as_bytes(model().ascii()));
	write_file(kState.path("boot3-id"), as_bytes(this_boot()));
	kState.set_number("logs-before-kexec", store_logs());
	checked_output({"kexec", "-s", "-l", kRunningKernelImage, "--reuse-cmdline"});
	return ask_systemd("kexec", 3);
}

int after_kexec()
{
	std::string problems = check_ready_units();
	Bytes before = read_file(kState.path("boot3-log"));

	if (read_text_file(kState.path("boot3-id")) == this_boot())
		problems += "the boot_id did not change: no kexec; ";
	/* The new kernel's boot aggregate follows the records it carried over. */
	model().start_from(before, read_text_file(kState.path("boot3-ascii")));
	model().expect("boot_aggregate");
	model().measure(2);
	problems += full_log_problems(kStore, model());
	problems += save_with_the_service();
	model().measure(1);
	problems += full_log_problems(kStore, model());
	if (store_logs() != kState.number("logs-before-kexec"))
		problems += "the keeper started a new log after a kexec; ";
	kState.report(8, problems);
	return kState.number("failed") ? 1 : 0;
}

} // namespace

int main(int argc, char **argv)
{
	if (argc == 3 && std::string(argv[1]) == "--agent")
		return run_agent(argv[2]);
	if (argc != 1) {
		std::fprintf(stderr, "usage: %s [--agent DIR]\n", argv[0]);
		return 2;
	}
	return kState.run({first_boot, second_boot, third_boot, after_kexec});
}
