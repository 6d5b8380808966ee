// SPDX-License-Identifier: GPL-2.0
#include "lib/staging.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <stdexcept>
#include <system_error>
#include <unistd.h>

#include "lib/evmctl.h"
#include "ima/hash.h"
#include "ima/ima_fs.h"
#include "lib/kernel.h"
#include "ima/replay.h"
#include "lib/snapshot.h"
#include "ima/tpm.h"

namespace ima {

std::string staged_request_file()
{
	return list_file_name(ListFormat::binary, "sha1", true);
}

std::string original_request_file()
{
	return list_file_name(ListFormat::binary, "sha1", false);
}

int write_request(int fd, std::string_view request)
{
	ssize_t written = try_write(fd, request);

	if (written < 0)
		return static_cast<int>(-written);
	if (static_cast<std::size_t>(written) != request.size())
		throw std::runtime_error("request accepted in part: " + std::to_string(written) +
					 " of " + std::to_string(request.size()) + " bytes");
	return 0;
}

int send_request(std::string_view file_name, std::string_view request)
{
	UniqueFd fd = open_or_throw(ima_path(file_name), O_WRONLY);

	return write_request(fd.get(), request);
}

/*
 * The algorithms of the binary lists securityfs shows, for a boot without
 * a TPM: IMA's extra lists (sha1, and its hash algorithm if another).
 */
static std::vector<std::string> listed_algos()
{
	const std::string prefix = list_file_name(ListFormat::binary, "");
	std::vector<std::string> algos;

	for (const std::string &name : list_directory(std::string(kImaDir)))
		if (name.starts_with(prefix) && !name.ends_with(kStagedSuffix))
			algos.push_back(name.substr(prefix.size()));
	return algos;
}

const std::vector<std::string> &list_algos()
{
	static const std::vector<std::string> algos =
		tpm_available() ? stock_list_algos(tpm_pcr_banks()) : listed_algos();

	return algos;
}

std::vector<std::string> all_list_files()
{
	std::vector<std::string> names;

	for (const std::string &algo : list_algos())
		for (ListFormat format : {ListFormat::binary, ListFormat::ascii})
			for (bool staged : {false, true})
				names.push_back(list_file_name(format, algo, staged));
	return names;
}

static std::size_t count_records(std::string_view algo, const Bytes &list)
{
	std::optional<std::size_t> size = digest_size_by_name(algo);

	if (!size)
		throw std::invalid_argument("unknown digest size of " + std::string(algo));
	return parse_binary_list(list, *size).size();
}

std::size_t ListState::current_records() const
{
	return count_records("sha1", current.at("sha1"));
}

std::size_t ListState::staged_records() const
{
	return count_records("sha1", staged.at("sha1"));
}

ListState capture_lists()
{
	ListState state;

	for (const std::string &algo : list_algos()) {
		state.current[algo] = read_binary_list_bytes(algo, false);
		state.staged[algo] = read_binary_list_bytes(algo, true);
	}
	state.current_ascii = read_text_file(ima_path(list_file_name(ListFormat::ascii, "sha1")));
	state.staged_ascii =
		read_text_file(ima_path(list_file_name(ListFormat::ascii, "sha1", true)));
	state.count = read_measurement_count();
	return state;
}

std::string describe_difference(const ListState &before, const ListState &after)
{
	std::string text;

	if (before.count != after.count)
		text += "count " + std::to_string(before.count) + " -> " +
			std::to_string(after.count) + "; ";
	for (const auto &[algo, bytes] : before.current)
		if (after.current.at(algo) != bytes)
			text += "current " + algo + " list changed; ";
	for (const auto &[algo, bytes] : before.staged)
		if (after.staged.at(algo) != bytes)
			text += "staged " + algo + " list changed; ";
	if (before.current_ascii != after.current_ascii)
		text += "current ascii list changed; ";
	if (before.staged_ascii != after.staged_ascii)
		text += "staged ascii list changed; ";
	return text.empty() ? "no difference" : text;
}

std::string lists_changed_since(const ListState &before)
{
	ListState after = capture_lists();

	return after == before ? "" : describe_difference(before, after);
}

static bool no_tpm_expected_flag;

void expect_no_tpm()
{
	no_tpm_expected_flag = true;
}

bool no_tpm_expected()
{
	return no_tpm_expected_flag;
}

std::string missing_staging_requirement()
{
	if (!ima_staging_configured())
		return "CONFIG_IMA_STAGING is not set";
	if (no_tpm_expected() && tpm_available())
		return "a TPM, in a boot meant to have none (--no-tpm)";
	if (!no_tpm_expected() && !tpm_available())
		return "no TPM";
	if (!path_exists(std::string(kMeasureDir)))
		return "no measuring policy for " + std::string(kMeasureDir);
	if (!no_tpm_expected() && !nothing_deleted_since_boot())
		return "records were deleted before this program started";
	return "";
}

void SavedStore::append(const std::map<std::string, Bytes, std::less<>> &group)
{
	for (const auto &[algo, bytes] : group)
		ima::append(lists_[algo], bytes);
	records_ += count_records("sha1", group.at("sha1"));
}

const Bytes &SavedStore::saved(std::string_view algo) const
{
	static const Bytes empty;
	auto found = lists_.find(algo);

	return found == lists_.end() ? empty : found->second;
}

void SavedStore::save_to(const std::string &dir) const
{
	for (const auto &[algo, bytes] : lists_)
		write_file(dir + "/saved." + algo, bytes);
}

void SavedStore::load_from(const std::string &dir)
{
	lists_.clear();
	records_ = 0;
	for (const std::string &algo : list_algos())
		if (path_exists(dir + "/saved." + algo))
			lists_[algo] = read_file(dir + "/saved." + algo);
	if (!lists_.empty())
		records_ = count_records("sha1", saved("sha1"));
}

SavedStore &saved_store()
{
	static SavedStore store;

	return store;
}

std::map<std::string, Bytes, std::less<>> read_staged_lists()
{
	std::map<std::string, Bytes, std::less<>> lists;

	for (const std::string &algo : list_algos())
		lists[algo] = read_binary_list_bytes(algo, true);
	return lists;
}

static void request_or_throw(int fd, std::string_view request)
{
	int error = write_request(fd, request);

	if (error)
		throw std::system_error(error, std::generic_category(),
					"request " + std::string(request.substr(0, 1)));
}

void stage_save_delete(int fd, const std::function<void()> &between)
{
	request_or_throw(fd, "A\n");
	if (between)
		between();
	saved_store().append(read_staged_lists());
	request_or_throw(fd, "D\n");
}

void delete_anything_staged()
{
	UniqueFd fd = open_or_throw(ima_path(staged_request_file()), O_WRONLY);
	std::map<std::string, Bytes, std::less<>> staged = read_staged_lists();

	if (staged.at("sha1").empty())
		return;
	request_or_throw(fd.get(), "D\n");
	saved_store().append(staged);
}

Bytes first_records(std::string_view algo, const Bytes &list, std::size_t n)
{
	std::optional<std::size_t> size = digest_size_by_name(algo);

	if (!size)
		throw std::invalid_argument("unknown digest size of " + std::string(algo));
	std::vector<Record> records = parse_binary_list(list, *size);
	if (records.size() < n)
		throw std::runtime_error("the " + std::string(algo) + " list has " +
					 std::to_string(records.size()) + " records, not " +
					 std::to_string(n));
	records.resize(n);
	return serialize_binary_list(records);
}

std::size_t leading_records_size(ListFormat format, const Bytes &list, std::size_t n)
{
	if (format == ListFormat::binary)
		return first_records("sha1", list, n).size();

	std::size_t size = 0;
	for (std::size_t line = 0; line < n; line++) {
		auto newline = std::find(list.begin() + static_cast<std::ptrdiff_t>(size), list.end(),
					 '\n');
		if (newline == list.end())
			throw std::runtime_error("the ascii list has " + std::to_string(line) +
						 " records, not " + std::to_string(n));
		size = static_cast<std::size_t>(newline - list.begin()) + 1;
	}
	return size;
}

std::map<std::string, Bytes, std::less<>> read_oldest_records(std::size_t n)
{
	std::map<std::string, Bytes, std::less<>> group;

	for (const std::string &algo : list_algos())
		group[algo] = first_records(algo, read_binary_list_bytes(algo), n);
	return group;
}

int save_and_delete_oldest(int fd, std::size_t n)
{
	std::map<std::string, Bytes, std::less<>> group = read_oldest_records(n);
	int error = write_request(fd, std::to_string(n) + "\n");

	if (!error)
		saved_store().append(group);
	return error;
}

std::vector<std::string> replayable_banks()
{
	std::vector<std::string> banks;

	if (!tpm_available())
		return banks;
	for (const std::string &bank : tpm_pcr_banks())
		if (hash_algo_from_name(bank))
			banks.push_back(bank);
	return banks;
}

static std::string check_replay(const std::vector<std::string> &banks, bool with_saved)
{
	Snapshot snapshot = take_snapshot(banks, banks);
	std::string problems;

	if (banks.empty())
		return "no TPM bank to replay";
	for (const std::string &bank : banks) {
		HashAlgo algo = *hash_algo_from_name(bank);
		std::vector<Record> records;

		if (with_saved)
			records = parse_binary_list(saved_store().saved(bank), digest_size(algo));
		std::vector<Record> current = snapshot.records(bank);
		records.insert(records.end(), current.begin(), current.end());

		Bytes replayed = replay_pcr(records, algo);
		const Bytes &pcr = snapshot.pcr(bank, kImaPcr);
		if (replayed != pcr)
			problems += bank + ": " + std::to_string(records.size()) +
				    " records replay to " + to_hex(replayed) + ", PCR 10 is " +
				    to_hex(pcr) + "; ";
	}
	return problems;
}

std::string check_invariant()
{
	return check_replay(replayable_banks(), true);
}

bool nothing_deleted_since_boot()
{
	return check_replay(replayable_banks(), false).empty();
}

/*
 * PCR 10 of @bank as tpm2_pcrread reads it from the TPM, apart from the
 * kernel's sysfs files every other check reads.
 */
static Bytes pcr10_by_tpm2_tools(const std::string &bank)
{
	TempFile out("ima_pcrread");
	std::vector<std::string> argv = {"tpm2_pcrread", "-Q",	     "-T", "device:/dev/tpmrm0",
					 bank + ":10",	 "-o", out.path()};
	CommandResult result = run_command(argv);

	if (result.exit_code != 0)
		throw std::runtime_error(command_line(argv) + " failed (" +
					 std::to_string(result.exit_code) + "): " + result.output);
	return read_file(out.path());
}

/* The TPM banks evmctl 1.4 checks: any evmctl used here must check these. */
static std::string banks_evmctl_must_check()
{
	std::string problems;

	for (const std::string &bank : evmctl_banks().unknown)
		if (hash_algo_from_name(bank))
			problems += "evmctl cannot check the " + bank +
				    " bank: " + evmctl_banks().said + "; ";
	return problems;
}

std::string check_invariant_with_evmctl()
{
	const std::vector<std::string> banks = tpm_available() ? tpm_pcr_banks()
							       : std::vector<std::string>();
	Snapshot snapshot = take_snapshot({"sha1"}, banks);
	Bytes list = saved_store().saved("sha1");
	append(list, snapshot.lists.at("sha1"));

	std::string problems = banks_evmctl_must_check();
	for (const std::string &bank : banks) {
		Bytes by_tools = pcr10_by_tpm2_tools(bank);
		if (by_tools != snapshot.pcrs.at(bank).at(kImaPcr))
			problems += bank + ": tpm2_pcrread reads PCR 10 as " + to_hex(by_tools) +
				    ", sysfs as " + to_hex(snapshot.pcrs.at(bank).at(kImaPcr)) + "; ";
	}
	for (const std::string &bank : evmctl_banks().checked) {
		EvmctlResult result = evmctl_validate(list, bank, snapshot.pcrs.at(bank));

		if (!result.validated)
			problems += result.command + " failed (" + std::to_string(result.exit_code) +
				    "): " + result.output + "; ";
	}
	return problems;
}

std::vector<Record> saved_and_listed_records()
{
	std::vector<Record> records = parse_sha1_list(saved_store().saved("sha1"));

	for (bool staged : {true, false}) {
		std::vector<Record> list = read_binary_list("sha1", staged);
		records.insert(records.end(), list.begin(), list.end());
	}
	return records;
}

std::string check_booted_templates()
{
	KernelCmdline cmdline = KernelCmdline::from_proc();
	const std::string expected = cmdline.value("ima_template_fmt").value_or(
		cmdline.value("ima_template").value_or(std::string(kImaNgTemplate)));
	const std::string measured = create_measurement();
	const std::string file_prefix = std::string(kMeasureDir) + "/";
	bool found_measured = false, found_version = false;
	std::string problems;

	for (const Record &record : saved_and_listed_records()) {
		std::optional<std::string> name = event_name(record);

		if (name && name->starts_with(file_prefix)) {
			found_measured = found_measured || *name == measured;
			if (record.template_name != expected && problems.empty())
				problems = "the record of " + *name + " has the template " +
					   record.template_name + ", not " + expected + "; ";
		} else if (name == "kernel_version" && record.template_name == "ima-buf") {
			found_version = true;
		}
	}
	if (!found_measured)
		problems += "no record of " + measured + "; ";
	if (cmdline.value("ima_policy") == "critical_data" && !found_version)
		problems += "no ima-buf record of kernel_version, booted with ima_policy=critical_data; ";
	return problems;
}

std::vector<std::string> file_names(const std::vector<Record> &records)
{
	std::vector<std::string> names;

	for (const Record &record : records)
		if (std::optional<std::string> name = event_name(record))
			names.push_back(*name);
	return names;
}

bool contains_file(const std::vector<Record> &records, std::string_view file_name)
{
	std::vector<std::string> names = file_names(records);

	return std::find(names.begin(), names.end(), file_name) != names.end();
}

void measure_file(const std::string &path, std::string_view content)
{
	write_file(path, as_bytes(content));
	UniqueFd reader = open_or_throw(path, O_RDONLY);
	read_all(reader.get());
}

void measure_again(const std::string &path, std::string_view content)
{
	if (::unlink(path.c_str()))
		throw_errno("unlink " + path);
	measure_file(path, content);
}

std::size_t occurrences(const std::string &file_name)
{
	std::vector<std::string> names = file_names(read_binary_list("sha1"));

	return static_cast<std::size_t>(std::count(names.begin(), names.end(), file_name));
}

} // namespace ima
