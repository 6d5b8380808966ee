// SPDX-License-Identifier: GPL-2.0
/*
 * The kexec hand-over of the measurement list at its limits: a custom
 * template (ima_template_fmt=), records measured between kexec_file_load()
 * and the reboot within CONFIG_IMA_KEXEC_EXTRA_MEMORY_KB, and more records
 * than that. Every soft reboot must carry whole records: the next kernel
 * never fails to restore the list, and carries either every record (which
 * then replay to PCR 10, the TPM is not reset by kexec) or, past the
 * headroom, a prefix of them.
 *
 * Like ima_kexec_test, it runs once per boot, its state in kStateDir, its
 * KTAP one stream across the boots. It needs the kernel booted with
 * ima_template_fmt=d-ng|n-ng, /boot/bzImage, CONFIG_KEXEC_FILE,
 * CONFIG_IMA_KEXEC and CONFIG_IMA_STAGING; it deletes no record.
 */
#include <algorithm>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include "ktap.h"
#include "lib/ima.h"
#include "lib/kernel.h"
#include "lib/kexec.h"
#include "lib/staging.h"

using namespace ima;

namespace {

const std::string kStateDir = "/var/lib/ima_kexec_handover_test";
const std::string kCustomFormat = "d-ng|n-ng";
const std::string kRestoreError = "Failed to restore the measurement list";

/* The records of the first boot: a list well beyond half a page. */
constexpr int kFirstBootRecords = 3000;
/* The scenario of the headroom: 300 records, A, 50, load, 150, reboot. */
constexpr int kBeforeStaging = 300;
constexpr int kAfterStaging = 50;
constexpr int kAfterLoad = 150;
/* How much the records measured after the last load exceed the headroom. */
constexpr std::size_t kBeyondHeadroom = 8192;
constexpr std::size_t kPageSize = 4096;

/* The checks, one per boot after the first, in order. */
const std::vector<std::string> kTests = {
	"custom_template_list_carried_whole",
	"records_measured_after_load_within_headroom_carried",
	"records_beyond_headroom_leave_a_valid_prefix",
};

const BootState kState(kStateDir, kTests);

void measure(unsigned long count)
{
	for (unsigned long i = 0; i < count; i++)
		create_measurement();
}

/* Staged and current records: what a soft reboot carries. */
unsigned long records_in_kernel()
{
	return read_binary_list("sha1", true).size() + read_measurement_count();
}

/* The staged list followed by the current one, as the kexec buffer holds them. */
Bytes list_in_kernel()
{
	Bytes list = read_binary_list_bytes("sha1", true);

	append(list, read_binary_list_bytes("sha1"));
	return list;
}

/* The reserve CONFIG_IMA_KEXEC_EXTRA_MEMORY_KB makes, half a page if 0 or unset. */
std::size_t kexec_headroom()
{
	std::optional<std::string> kb =
		KernelConfig::from_proc().value("CONFIG_IMA_KEXEC_EXTRA_MEMORY_KB");
	std::size_t bytes = kb ? std::stoul(*kb) * 1024 : 0;

	return bytes ? bytes : kPageSize / 2;
}

/* The size of the record the last create_measurement() added, in the kexec format. */
std::size_t last_record_size()
{
	std::vector<Record> records = read_binary_list("sha1");
	Bytes bytes;

	if (records.empty())
		throw std::runtime_error("the current list is empty");
	append_binary_record(bytes, records.back());
	return bytes.size();
}

/*
 * The new kernel's dmesg may have lost its early lines: the host also
 * checks the console log, which keeps them (console_check() of
 * scripts/ima-staging).
 */
std::string restore_problems()
{
	ktap::note("ISTEST-CONSOLE refuse ", kRestoreError);
	CommandResult dmesg = run_command({"dmesg"});

	if (dmesg.exit_code != 0)
		return "dmesg failed: " + dmesg.output + "; ";
	if (dmesg.output.find(kRestoreError) != std::string::npos)
		return "the kernel logged \"" + kRestoreError + "\"; ";
	return "";
}

/* Every record the previous kernel held came over, and the list replays. */
std::string check_everything_carried()
{
	std::string problems = restore_problems() + check_invariant();
	unsigned long expected = kState.number("expected") + 1;

	if (read_measurement_count() != expected)
		problems += "records after the soft reboot: " +
			    std::to_string(read_measurement_count()) + ", expected " +
			    std::to_string(expected) + " (with the new boot aggregate); ";
	ktap::note(read_measurement_count(), " records after the soft reboot, ", expected,
		   " expected");
	return problems;
}

/*
 * Keeps the state and soft reboots, after measuring @after_load files
 * between the load and the reboot. The kernel is to carry @expected records.
 */
[[noreturn]] void soft_reboot(unsigned long next_phase, unsigned long expected,
			      unsigned long after_load)
{
	kState.set_number("expected", expected);
	kState.set_number("after_load", after_load);
	kState.set_number("phase", next_phase);
	write_file(kState.path("at_load"), list_in_kernel());
	ktap::note("kexec with ", records_in_kernel(), " records in the kernel, ", after_load,
		   " more to measure after the load");
	kexec_soft_reboot(kRunningKernelImage, [after_load] { measure(after_load); });
}

std::string missing_requirement()
{
	if (std::string missing = missing_kexec_requirement(); !missing.empty())
		return missing;
	if (KernelCmdline::from_proc().value("ima_template_fmt") != kCustomFormat)
		return "the kernel was not booted with ima_template_fmt=" + kCustomFormat;
	return missing_staging_requirement();
}

/* Phase 0, the first boot: a long list of a custom template, kexec at once. */
void first_boot()
{
	std::string missing = missing_requirement();

	kState.begin(missing);
	measure(kFirstBootRecords);
	soft_reboot(1, records_in_kernel(), 0);
}

/*
 * Phase 1: the custom template's list came over whole. Then 300 records,
 * A, 50 more, load, 150 more, reboot.
 */
void after_custom_template()
{
	std::string problems = check_everything_carried();
	std::vector<Record> records = read_binary_list("sha1");

	if (std::none_of(records.begin(), records.end(),
			 [](const Record &r) { return r.template_name == kCustomFormat; }))
		problems += "no record of the template " + kCustomFormat + "; ";
	kState.report(0, problems);

	measure(kBeforeStaging);
	UniqueFd fd = open_or_throw(ima_path(staged_request_file()), O_RDWR);
	if (int error = write_request(fd.get(), "A\n"))
		throw std::runtime_error("A failed: errno " + std::to_string(error));
	fd.reset();
	measure(kAfterStaging);
	/* The selftests' config sets CONFIG_IMA_KEXEC_EXTRA_MEMORY_KB=40: ~370 records. */
	if (kAfterLoad * last_record_size() > kexec_headroom())
		ktap::note("the headroom of ", kexec_headroom(), " bytes holds fewer than ",
			   kAfterLoad, " records: they cannot all be carried");
	soft_reboot(2, records_in_kernel() + kAfterLoad, kAfterLoad);
}

/*
 * Phase 2: the records measured after the load came over too. Then load,
 * and measure more than the headroom holds before the reboot.
 */
void after_headroom()
{
	kState.report(1, check_everything_carried());

	std::size_t beyond = kexec_headroom() + kPageSize + kBeyondHeadroom;
	unsigned long after_load = beyond / last_record_size() + 1;

	soft_reboot(3, records_in_kernel() + after_load, after_load);
}

/* The index of the first boot aggregate at or after @from, or records.size(). */
std::size_t boot_aggregate_from(const std::vector<Record> &records, std::size_t from)
{
	for (std::size_t i = from; i < records.size(); i++) {
		/* the custom format has the fields of ima-ng */
		if (decode_ima_ng_template_data(records[i].template_data).file_name ==
		    "boot_aggregate")
			return i;
	}
	return records.size();
}

/*
 * Whether @records starts with @prefix. The template name is left out: the
 * next kernel names a restored record by the first template of its format,
 * "ima-ng" for d-ng|n-ng, which its template digest does not cover.
 */
bool starts_with_records(const std::vector<Record> &records, const std::vector<Record> &prefix)
{
	auto same = [](const Record &a, const Record &b) {
		return a.pcr == b.pcr && a.template_digest == b.template_digest &&
		       a.template_data == b.template_data;
	};

	return records.size() >= prefix.size() &&
	       std::equal(prefix.begin(), prefix.end(), records.begin(), same);
}

/*
 * Phase 3: past the headroom, the next kernel restored a valid prefix: the
 * whole list of the load, some of the records measured after it, then its
 * own boot aggregate, and no restore error.
 */
int after_beyond_headroom()
{
	std::string problems = restore_problems();
	std::vector<Record> at_load = parse_binary_list(read_file(kState.path("at_load")), 20);
	std::vector<Record> records = read_binary_list("sha1");
	std::size_t loaded = at_load.size();
	unsigned long after_load = kState.number("after_load");
	std::size_t carried = boot_aggregate_from(records, loaded);
	std::size_t lost = loaded + after_load - std::min(carried, loaded + after_load);

	if (!starts_with_records(records, at_load))
		problems += "the list does not start with the list of the kexec load; ";
	if (carried == records.size())
		problems += "no boot aggregate after the carried records; ";
	else if (carried <= loaded || carried >= loaded + after_load)
		problems += std::to_string(carried - loaded) + " of the " +
			    std::to_string(after_load) +
			    " records measured after the load carried, expected some, not all; ";
	ktap::note(carried, " records carried, ", lost, " left behind");
	/* The previous kernel logged that number before the kexec: on the host's console log. */
	ktap::note("ISTEST-CONSOLE expect ima: ", lost,
		   " measurement records not carried over kexec: no room left");
	kState.report(2, problems);
	return kState.number("failed") ? 1 : 0;
}

} // namespace

int main()
{
	return kState.run({
		BootState::rebooting(first_boot),
		BootState::rebooting(after_custom_template),
		BootState::rebooting(after_headroom),
		after_beyond_headroom,
	});
}
