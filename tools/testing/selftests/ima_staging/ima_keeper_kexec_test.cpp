// SPDX-License-Identifier: GPL-2.0
/*
 * ima-keeper across kexec soft reboots: the keeper started in the next
 * kernel continues the same store, and the full log goes on as one list
 * that replays to PCR 10 (the TPM keeps its PCRs across kexec), with no
 * record lost or kept twice, even when a save was interrupted just before
 * the reboot.
 *
 *  boot 1: saves, then a save killed after committing its group but before
 *          D: the group's records are still staged and travel to the next
 *          kernel, first;
 *  boot 2: the keeper finds its pending group at the head of the new list
 *          and rolls it back, then saves; an N save killed after the kernel
 *          deleted the records but before the journal said so;
 *  boot 3: the keeper records that deletion; verify and evmctl agree, and
 *          the store has one log, which names the three boots.
 *
 * Like ima_kexec_test, it runs once per boot from the initramfs that
 * lib/kexec builds from the root file system, which carries its state and
 * the store in kStateDir. Needs ima-keeper in $PATH, /boot/bzImage and
 * CONFIG_KEXEC_FILE, CONFIG_IMA_KEXEC, CONFIG_IMA_STAGING.
 */
#include <filesystem>

#include "ktap.h"
#include "lib/ima.h"
#include "lib/keeper.h"
#include "lib/kexec.h"
#include "lib/require.h"
#include "lib/staging.h"

using namespace ima;

namespace {

const std::string kStateDir = "/var/lib/ima_keeper_kexec_test";
const std::string kStore = kStateDir + "/store";

const std::vector<std::string> kTests = {
	"keeper_saves_before_the_first_soft_reboot",
	"pending_group_is_rolled_back_after_it_travelled_to_the_next_kernel",
	"unrecorded_deletion_is_recorded_after_the_next_soft_reboot",
	"verify_and_evmctl_agree_after_two_soft_reboots",
};

const BootState kState(kStateDir, kTests);

LogModel &model()
{
	static LogModel model;

	return model;
}

std::string check_full_log()
{
	return full_log_problems(kStore, model());
}

/*
 * After a soft reboot: the full log is the one before it, followed by the
 * new kernel's boot aggregate, its only record of its own.
 */
std::string check_after_soft_reboot()
{
	Bytes before = read_file(kState.path("model"));
	std::string ascii_before = read_text_file(kState.path("model-ascii"));
	KeeperRun log = run_keeper(kStore, {"log"});
	KeeperRun ascii = run_keeper(kStore, {"log", "--format", "ascii"});
	std::string problems = exit_problem(log, 0, "log") +
			       exit_problem(ascii, 0, "log --format ascii");

	/* The kernel's last record, as it shows it: the new boot aggregate. */
	KernelLists kernel = read_kernel_lists();
	const std::size_t records = kernel.binary_bounds.size() - 1;
	if (records == 0) {
		problems += "the kernel holds no record after the soft reboot; ";
	} else {
		Bytes binary = before;
		binary.insert(binary.end(),
			      kernel.binary.begin() +
				      static_cast<std::ptrdiff_t>(kernel.binary_bounds[records - 1]),
			      kernel.binary.end());
		const std::string text =
			ascii_before + kernel.ascii.substr(kernel.ascii_bounds[records - 1]);
		if (file_names(parse_binary_list(ByteView(binary).subspan(before.size()), 20)) !=
		    std::vector<std::string>{"boot_aggregate"})
			problems += "the kernel's last record is not the new boot aggregate; ";
		if (log.out != binary)
			problems += "the full log is not the one before the soft reboot followed by "
				    "the kernel's new boot aggregate; ";
		if (ascii.out_text() != text)
			problems += "the ascii full log is not the one before the soft reboot "
				    "followed by the kernel's line of the new boot aggregate; ";
	}
	model().start_from(log.out, ascii.out_text());
	ktap::note(parse_binary_list(log.out, 20).size(), " records in the full log, ",
		   read_measurement_count(), " in the kernel after the soft reboot");
	return problems;
}

/* Soft reboots continue the log: one log, which names the three boots. */
std::string check_one_log_for_three_boots()
{
	KeeperRun boots = run_keeper(kStore, {"boots"});
	std::string text = boots.out_text();
	std::string problems = exit_problem(boots, 0, "boots");
	std::size_t boot_lines = 0;

	for (std::size_t at = text.find("\tboot "); at != std::string::npos;
	     at = text.find("\tboot ", at + 1))
		boot_lines++;
	if (boot_lines != 3 || text.find("logs/000002") != std::string::npos ||
	    text.find("not recorded yet") != std::string::npos ||
	    text.find("the current boot's log") == std::string::npos)
		problems += "ima-keeper boots does not show one log of three boots: " + text + "; ";
	ktap::note(text.substr(0, text.empty() ? 0 : text.size() - 1));
	return problems;
}

[[noreturn]] void soft_reboot(int next_phase)
{
	write_file(kState.path("model"), model().log());
	write_file(kState.path("model-ascii"), as_bytes(model().ascii()));
	kState.set_number("phase", next_phase);
	ktap::note("kexec with ", read_measurement_count(), " records in the kernel, ",
		   read_binary_list("sha1", true).size(), " staged");
	kexec_soft_reboot(kRunningKernelImage);
}

std::string missing_requirement()
{
	if (std::string missing = missing_kexec_requirement(); !missing.empty())
		return missing;
	if (!command_exists(std::string(kKeeperProgram)))
		return "no " + std::string(kKeeperProgram) + " in $PATH";
	return missing_staging_requirement();
}

void first_boot()
{
	std::string missing = missing_requirement();

	kState.begin(missing);

	model().start();
	model().measure(10);
	std::string problems = exit_problem(run_keeper(kStore, {"save"}), 0, "save");
	model().measure(5);
	problems += exit_problem(run_keeper(kStore, {"save"}, {.fault = "committed",
							     .without_cap_sys_admin = false}),
				kKilledExit, "save killed after its commit");
	if (read_binary_list("sha1", true).size() != 5)
		problems += "the interrupted save left " +
			    std::to_string(read_binary_list("sha1", true).size()) +
			    " records staged, not 5; ";
	model().measure(3);
	problems += check_full_log();
	kState.report(0, problems);
	soft_reboot(1);
}

void after_interrupted_prompt_save()
{
	std::string problems = check_after_soft_reboot();
	KeeperRun save = run_keeper(kStore, {"save"});

	problems += exit_problem(save, 0, "save");
	if (save.err.find("rolled it back") == std::string::npos)
		problems += "the keeper did not roll back its pending group: " + save.err + "; ";
	if (save.err.find("does not replay to PCR 10") != std::string::npos)
		problems += "the keeper says the log does not replay to PCR 10: " + save.err + "; ";
	if (read_measurement_count() != 0)
		problems += "records left in the kernel after the save; ";
	problems += check_full_log();
	kState.report(1, problems);

	/* N, unless ima_flush_htable refuses it. */
	std::vector<std::string> save_args = {"save"};
	if (!booted_with_flush_htable())
		save_args = {"save", "--flavor", "n"};
	model().measure(4);
	KeeperRun killed = run_keeper(kStore, save_args, {.fault = "deleted",
							  .without_cap_sys_admin = false});
	std::string problems_before_reboot;
	if (killed.exit_code != kKilledExit)
		problems_before_reboot = "save killed after the deletion: " + killed.describe() + "; ";
	model().measure(2);
	/* Readers count the deleted group once, before any reconciliation. */
	problems_before_reboot += check_full_log();
	write_file(kState.path("problems"), as_bytes(problems_before_reboot));
	soft_reboot(2);
}

int after_unrecorded_deletion()
{
	std::string problems = check_after_soft_reboot();

	problems += read_text_file(kState.path("problems"));
	KeeperRun save = run_keeper(kStore, {"save"});
	problems += exit_problem(save, 0, "save");
	if (save.err.find("was deleted from the kernel (by PCR 10") == std::string::npos)
		problems += "the keeper did not record the deletion: " + save.err + "; ";
	kState.report(2, problems + check_full_log());

	problems.clear();
	Bytes list = read_file(kStore + "/logs/000001/binary_runtime_measurements");
	append(list, read_binary_list_bytes("sha1"));
	for (const std::string &bank : replayable_banks()) {
		EvmctlResult evmctl = evmctl_validate(list, bank, read_tpm_pcrs(bank));

		if (!evmctl.validated)
			problems += evmctl.command + ": " + evmctl.output + "; ";
	}
	KeeperRun verify = run_keeper(kStore, {"verify"});
	problems += exit_problem(verify, 0, "verify");
	ktap::note(verify.out_text().substr(0, verify.out_text().size() - 1));
	problems += check_one_log_for_three_boots();
	kState.report(3, problems);
	return kState.number("failed") ? 1 : 0;
}

} // namespace

int main()
{
	return kState.run({
		BootState::rebooting(first_boot),
		BootState::rebooting(after_interrupted_prompt_save),
		after_unrecorded_deletion,
	});
}
