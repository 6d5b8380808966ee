// SPDX-License-Identifier: GPL-2.0
/*
 * kexec soft reboots with measurement staging. The program boots the same
 * kernel again with kexec_file_load() several times, with A, D and N in
 * between, and checks after each soft reboot that the records saved so far
 * followed by the new kernel's list replay to PCR 10 (the TPM is not reset
 * by kexec) and that the record counts add up.
 *
 * Booted with ima_policy=critical_data, every kernel also measures its
 * version as an ima-buf record: the program checks that each boot's is
 * carried by every later soft reboot, saved or not.
 *
 * It runs once per boot: the guest's /init starts it again from the
 * initramfs the program built from its own root file system, which carries
 * its state in kStateDir. Its KTAP output is one stream across the boots.
 * It needs /boot/bzImage (the running kernel) and CONFIG_KEXEC_FILE,
 * CONFIG_IMA_KEXEC and CONFIG_IMA_STAGING.
 */
#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <unistd.h>

#include "ktap.h"
#include "lib/ima.h"
#include "lib/kexec.h"
#include "lib/staging.h"

using namespace ima;

namespace {

const std::string kStateDir = "/var/lib/ima_kexec_test";

/* The checks, one per boot after the first, in order. */
const std::vector<std::string> kTests = {
	"first_boot_list_replays_to_pcr10",
	"kexec_with_nothing_staged",
	"kexec_between_stage_and_delete",
	"kexec_after_delete",
	"kexec_after_delete_n_with_measurements_racing_it",
	"evmctl_agrees_after_four_soft_reboots",
};

const BootState kState(kStateDir, kTests);

/* The ima-buf record of ima_policy=critical_data. */
const std::string kKernelVersion = "kernel_version";

/* Records saved plus records in the kernel. */
unsigned long total_records()
{
	return saved_store().records() + read_measurement_count();
}

/* The records named @name saved so far, staged and current. */
unsigned long records_named(const std::string &name)
{
	std::vector<Record> records = saved_and_listed_records();

	return static_cast<unsigned long>(std::count_if(records.begin(), records.end(),
		[&name](const Record &record) { return event_name(record) == name; }));
}

/*
 * The records a soft reboot must carry: every one so far, and the new
 * kernel adds those every boot measures (its boot aggregate, and its
 * kernel version with ima_policy=critical_data: an ima-buf record), as
 * many as the first boot began with.
 */
std::string check_after_soft_reboot()
{
	std::string problems = check_invariant();
	unsigned long expected = kState.number("expected_total") + kState.number("boot_records");
	bool raced = path_exists(kState.path("raced"));

	/* Measurements racing the reboot add records we cannot count. */
	if (raced ? total_records() < expected : total_records() != expected)
		problems += "saved + current records: " + std::to_string(total_records()) +
			    (raced ? ", expected at least " : ", expected ") +
			    std::to_string(expected) + " (" +
			    std::to_string(saved_store().records()) + " saved); ";
	/* Each boot's own ima-buf record, carried by every kexec since. */
	unsigned long boots = kState.number("phase") + 1;
	unsigned long versions = records_named(kKernelVersion);
	if (versions != boots * kState.number("boot_versions"))
		problems += std::to_string(versions) + " " + kKernelVersion + " records after " +
			    std::to_string(boots) + " boots; ";
	if (raced)
		ktap::note(total_records() - std::min(total_records(), expected),
			   " records measured while the reboot raced them made it over");
	ktap::note(saved_store().records(), " records saved, ", read_measurement_count(),
		   " in the kernel after the soft reboot");
	return problems;
}

void measure(int count)
{
	for (int i = 0; i < count; i++)
		create_measurement();
}

/*
 * Keeps the state and boots the same kernel with it. With @race, another
 * process measures files from the kexec load on, into the reboot. (The kexec
 * buffer is sized at load time with half a page to spare, as in 6.12: records
 * measured before the load are all copied.)
 */
[[noreturn]] void soft_reboot(unsigned long next_phase, bool race = false)
{
	saved_store().save_to(kStateDir);
	/* Staged records travel too. */
	kState.set_number("expected_total",
			   total_records() + read_binary_list("sha1", true).size());
	kState.set_number("phase", next_phase);
	ktap::note("kexec with ", read_measurement_count(), " records in the kernel, ",
		   read_binary_list("sha1", true).size(), " staged");

	/* Outlives the callback: the reboot ends it, a failed one kills it. */
	std::optional<ChildProcess> measuring;

	kexec_soft_reboot(kRunningKernelImage, [race, &measuring] {
		if (!race)
			return;
		measuring.emplace(ChildProcess::fork_and_run([]() -> int {
			for (;;)
				create_measurement();
		}));
		/* A few records, well within the half page, before the reboot. */
		::usleep(10000);
	});
}

std::string missing_requirement()
{
	if (std::string missing = missing_kexec_requirement(); !missing.empty())
		return missing;
	return missing_staging_requirement();
}

/* Phase 0, the first boot: nothing staged, kexec. */
void first_boot()
{
	std::string missing = missing_requirement();

	kState.begin(missing);
	kState.set_number("boot_records", read_measurement_count());
	kState.set_number("boot_versions", records_named(kKernelVersion));
	std::string problems = check_invariant();
	if (kState.number("boot_versions") != 1)
		problems += std::to_string(kState.number("boot_versions")) + " " + kKernelVersion +
			    " records: the suite boots with ima_policy=critical_data; ";
	kState.report(0, problems);
	measure(5);
	soft_reboot(1);
}

/* Phase 1: after a kexec with nothing staged. Stage, keep the staged group, kexec. */
void after_nothing_staged()
{
	kState.report(1, check_after_soft_reboot());
	measure(3);
	UniqueFd fd = open_or_throw(ima_path(staged_request_file()), O_RDWR);
	if (int error = write_request(fd.get(), "A\n"))
		throw std::runtime_error("A failed: errno " + std::to_string(error));
	/* Read, but not deleted: they go to the next kernel, first. */
	for (const auto &[algo, bytes] : read_staged_lists())
		write_file(kState.path("staged." + algo), bytes);
	measure(2);
	fd.reset();
	soft_reboot(2);
}

/* Phase 2: after a kexec between A and D. A, save, D, then kexec. */
void after_stage_without_delete()
{
	std::string problems = check_after_soft_reboot();

	for (const std::string &algo : list_algos()) {
		Bytes staged = read_file(kState.path("staged." + algo));
		Bytes current = read_binary_list_bytes(algo);

		if (!starts_with(current, staged))
			problems += "the " + algo + " list does not start with the staged records; ";
		if (!read_binary_list_bytes(algo, true).empty())
			problems += "records are staged in the new kernel; ";
	}
	UniqueFd fd = open_or_throw(ima_path(staged_request_file()), O_RDWR);
	if (int error = write_request(fd.get(), "D\n"); error != ENOENT)
		problems += "D after the soft reboot: errno " + std::to_string(error) +
			    ", expected ENOENT; ";
	kState.report(2, problems);

	measure(3);
	stage_save_delete(fd.get(), [] { measure(2); });
	fd.reset();
	soft_reboot(3);
}

/*
 * Phase 3: after a kexec after D. Delete N, then kexec while another
 * process keeps measuring files: measurement is suspended before the list
 * is copied, so no record extends the PCR without reaching the next kernel.
 * (Without the suspension a racing record breaks the replay if it lands
 * between the copy and the TPM's shutdown: this check can catch that, but
 * not on every run.)
 */
void after_delete()
{
	kState.report(3, check_after_soft_reboot());
	measure(4);
	UniqueFd fd = open_or_throw(ima_path(original_request_file()), O_WRONLY);
	if (int error = save_and_delete_oldest(fd.get(), 3))
		throw std::runtime_error("N failed: errno " + std::to_string(error));
	measure(1);
	fd.reset();
	write_file(kState.path("raced"), as_bytes("1\n"));
	soft_reboot(4, true);
}

/* Phase 4: after a kexec after N. The last checks. */
int after_delete_n()
{
	kState.report(4, check_after_soft_reboot());
	kState.report(5, check_invariant_with_evmctl());
	return kState.number("failed") ? 1 : 0;
}

/* A phase after a soft reboot: it starts from the store the last boot saved. */
std::function<int()> resumed(std::function<int()> phase)
{
	return [phase = std::move(phase)] {
		saved_store().load_from(kStateDir);
		return phase();
	};
}

} // namespace

int main()
{
	return kState.run({
		BootState::rebooting(first_boot),
		resumed(BootState::rebooting(after_nothing_staged)),
		resumed(BootState::rebooting(after_stage_without_delete)),
		resumed(BootState::rebooting(after_delete)),
		resumed(after_delete_n),
	});
}
