// SPDX-License-Identifier: GPL-2.0
/*
 * Basic checks of the IMA measurement lists of the running kernel:
 * file names, modes and symlinks (stock 6.12, or the staging contract with
 * CONFIG_IMA_STAGING=y), the record count, replay of the lists to TPM
 * PCR 10, template digests, ascii/binary agreement, and validation by
 * evmctl (which must also reject a list with a record missing).
 */
#include <algorithm>
#include <cstdio>
#include <set>
#include <sys/stat.h>

#include "ktap.h"
#include "lib/ima.h"

using namespace ima;

static constexpr int kCountAttempts = 10;
static constexpr int kMeasurementsToCreate = 3;

static void require_ima_securityfs()
{
	if (!ima_securityfs_available())
		ktap::skip("no IMA securityfs at " + std::string(kImaDir));
}

static void require_tpm()
{
	if (!tpm_available())
		ktap::skip("no TPM at " + std::string(kTpmSysfsDir));
}

static std::vector<std::string> tpm_banks_or_none()
{
	return tpm_available() ? tpm_pcr_banks() : std::vector<std::string>();
}

/* List algorithms this library can hash (sha1, sha256) that have list files. */
static std::vector<std::string> hashable_list_algos()
{
	std::vector<std::string> algos;

	for (const std::string &algo : stock_list_algos(tpm_banks_or_none()))
		if (hash_algo_from_name(algo))
			algos.push_back(algo);
	return algos;
}

/* TPM banks that can be replayed: sha1 and sha256, which have list files too. */
static std::vector<std::string> replayable_banks()
{
	std::vector<std::string> banks;

	for (const std::string &bank : tpm_pcr_banks())
		if (hash_algo_from_name(bank))
			banks.push_back(bank);
	if (banks.empty())
		ktap::skip("the TPM has neither a sha1 nor a sha256 PCR bank");
	return banks;
}

static std::string octal_mode(mode_t mode)
{
	char text[8];

	std::snprintf(text, sizeof(text), "0%03o", static_cast<unsigned>(mode & 07777));
	return text;
}

static void expect_node(const std::string &name, mode_t type, mode_t mode)
{
	ktap::ScopedContext context("checking " + name);
	struct stat st;

	if (::lstat(ima_path(name).c_str(), &st) != 0) {
		ktap::fail_at(__FILE__, __LINE__, "missing: " + ima_path(name));
		return;
	}
	EXPECT_EQ(st.st_mode & S_IFMT, type);
	EXPECT_EQ(octal_mode(st.st_mode), octal_mode(mode));
	EXPECT_EQ(st.st_uid, 0u);
	EXPECT_EQ(st.st_gid, 0u);
}

/* "binary_runtime_measurements_tpm_alg_<hex id>[_staged]": no sysfs bank. */
static bool is_unnamed_bank_list(std::string_view name)
{
	for (ListFormat format : {ListFormat::binary, ListFormat::ascii}) {
		std::string prefix = list_symlink_name(format) + "_tpm_alg_";

		if (!name.starts_with(prefix))
			continue;
		name.remove_prefix(prefix.size());
		if (name.ends_with(kStagedSuffix))
			name.remove_suffix(kStagedSuffix.size());
		return !name.empty() &&
		       name.find_first_not_of("0123456789abcdef") == std::string_view::npos;
	}
	return false;
}

static bool is_list_file(std::string_view name)
{
	return name.find("_runtime_measurements") != std::string_view::npos;
}

KTAP_TEST(list_files_have_expected_names_and_modes)
{
	require_ima_securityfs();
	bool staging = ima_staging_configured();
	mode_t list_mode = staging ? 0660 : 0440;
	std::vector<std::string> algos = stock_list_algos(tpm_banks_or_none());

	ktap::note(staging ? "CONFIG_IMA_STAGING=y: expecting the staging files"
			   : "CONFIG_IMA_STAGING is not set: expecting stock 6.12");
	std::set<std::string> expected;
	for (const std::string &algo : algos) {
		for (ListFormat format : {ListFormat::binary, ListFormat::ascii}) {
			expected.insert(list_file_name(format, algo));
			if (staging)
				expected.insert(list_file_name(format, algo, true));
		}
	}
	for (const std::string &name : expected)
		expect_node(name, S_IFREG, list_mode);
	expect_node(std::string(kCountFile), S_IFREG, 0440);
	expect_node(std::string(kViolationsFile), S_IFREG, 0440);

	for (const std::string &name : list_directory(std::string(kImaDir))) {
		bool symlink = false;
		for (ListFormat format : {ListFormat::binary, ListFormat::ascii})
			symlink = symlink || name == list_symlink_name(format) ||
				  (staging && name == list_symlink_name(format, true));
		if (!is_list_file(name) || expected.count(name) || symlink)
			continue;
		if (is_unnamed_bank_list(name) && (staging || !name.ends_with(kStagedSuffix))) {
			expect_node(name, S_IFREG, list_mode);
			continue;
		}
		ktap::fail_at(__FILE__, __LINE__, "unexpected file " + ima_path(name));
	}
}

static void expect_symlink(const std::string &path, const std::string &target)
{
	ktap::ScopedContext context("checking " + path);
	struct stat st;

	if (::lstat(path.c_str(), &st) != 0) {
		ktap::fail_at(__FILE__, __LINE__, "missing: " + path);
		return;
	}
	ASSERT_TRUE(S_ISLNK(st.st_mode));
	EXPECT_EQ(octal_mode(st.st_mode), "0444");
	EXPECT_EQ(read_symlink(path), target);
}

KTAP_TEST(symlinks_point_like_6_12)
{
	require_ima_securityfs();
	bool staging = ima_staging_configured();

	expect_symlink(std::string(kSecurityfsDir) + "/ima", "integrity/ima");
	for (ListFormat format : {ListFormat::binary, ListFormat::ascii}) {
		expect_symlink(ima_path(list_symlink_name(format)), list_file_name(format, "sha1"));
		if (staging)
			expect_symlink(ima_path(list_symlink_name(format, true)),
				       list_file_name(format, "sha1", true));
		else
			EXPECT_FALSE(path_exists(ima_path(list_symlink_name(format, true))));
	}
}

KTAP_TEST(count_matches_binary_lists)
{
	require_ima_securityfs();
	std::vector<std::string> algos = hashable_list_algos();

	/* Retried until no record was added while the lists were read. */
	for (int attempt = 0; attempt < kCountAttempts; attempt++) {
		unsigned long before = read_measurement_count();
		std::vector<std::vector<Record>> lists;
		for (const std::string &algo : algos)
			lists.push_back(read_binary_list(algo));
		if (read_measurement_count() != before)
			continue;

		ktap::note("runtime_measurements_count: ", before);
		for (std::size_t i = 0; i < algos.size(); i++) {
			ktap::ScopedContext context("counting " +
						    list_file_name(ListFormat::binary, algos[i]));
			EXPECT_EQ(lists[i].size(), before);
		}
		return;
	}
	ktap::fail_at(__FILE__, __LINE__, "the count kept changing while the lists were read");
}

KTAP_TEST(lists_replay_to_tpm_pcr10)
{
	require_ima_securityfs();
	require_tpm();
	std::vector<std::string> banks = replayable_banks();

	std::vector<std::string> created;
	for (int i = 0; i < kMeasurementsToCreate; i++)
		created.push_back(create_measurement());

	Snapshot snapshot = take_snapshot(banks, banks);
	for (const std::string &bank : banks) {
		ktap::ScopedContext context("replaying the " + bank + " bank");
		std::vector<Record> records = snapshot.records(bank);
		HashAlgo algo = *hash_algo_from_name(bank);

		for (const std::string &path : created)
			EXPECT_TRUE(std::any_of(records.begin(), records.end(),
						[&](const Record &record) {
							return record.ima_ng &&
							       record.ima_ng->file_name == path;
						}));
		ktap::note(bank, ": ", records.size(), " records");
		EXPECT_EQ(replay_pcr(records, algo), snapshot.pcr(bank, kImaPcr));
	}
}

KTAP_TEST(template_digests_verify)
{
	require_ima_securityfs();

	for (const std::string &algo : hashable_list_algos()) {
		ktap::ScopedContext context("verifying " +
					    list_file_name(ListFormat::binary, algo));
		std::vector<Record> records = read_binary_list(algo);
		std::size_t bad = 0, violations = 0;

		for (std::size_t i = 0; i < records.size(); i++) {
			if (records[i].is_violation())
				violations++;
			if (template_digest_matches(records[i], *hash_algo_from_name(algo)))
				continue;
			if (bad++ < 5)
				ktap::note("record ", i, " does not verify: ", records[i]);
		}
		ktap::note(algo, ": ", records.size(), " records, ", violations, " violations");
		EXPECT_EQ(bad, 0u);
	}
}

KTAP_TEST(ascii_and_binary_lists_agree)
{
	require_ima_securityfs();

	for (const std::string &algo : hashable_list_algos()) {
		ktap::ScopedContext context("comparing the " + algo + " lists");
		std::size_t digest = *digest_size_by_name(algo);
		std::vector<Record> binary, ascii;

		/* Retried until no record was added while both were read. */
		for (int attempt = 0; attempt < kCountAttempts; attempt++) {
			Bytes before = read_binary_list_bytes(algo);
			ascii = read_ascii_list(algo);
			if (read_binary_list_bytes(algo) == before) {
				binary = parse_binary_list(before, digest);
				break;
			}
		}
		ASSERT_FALSE(binary.empty());
		ASSERT_EQ(ascii.size(), binary.size());
		for (std::size_t i = 0; i < binary.size(); i++) {
			if (ascii[i] == binary[i])
				continue;
			ktap::note("record ", i, " differs:\n  binary: ", binary[i],
				   "\n  ascii:  ", ascii[i]);
			ktap::fail_at(__FILE__, __LINE__, "ascii and binary records differ");
			break;
		}
	}
}

KTAP_TEST(binary_lists_reserialize_identically)
{
	require_ima_securityfs();

	for (const std::string &algo : hashable_list_algos()) {
		ktap::ScopedContext context("reserializing the " + algo + " list");
		Bytes list = read_binary_list_bytes(algo);
		std::vector<Record> records = parse_binary_list(list, *digest_size_by_name(algo));
		Bytes reserialized = serialize_binary_list(records);

		EXPECT_EQ(reserialized.size(), list.size());
		EXPECT_TRUE(reserialized == list);
	}
}

static void require_evmctl()
{
	if (!command_exists(std::string(kEvmctl)))
		ktap::skip("evmctl is not installed");
}

/* The sha1 list (the one evmctl reads) and the PCRs of @banks. */
static Snapshot evmctl_snapshot(const std::vector<std::string> &banks)
{
	for (int i = 0; i < kMeasurementsToCreate; i++)
		create_measurement();
	return take_snapshot({"sha1"}, banks);
}

static void expect_evmctl_verdict(const EvmctlResult &result, bool validated)
{
	if (result.validated != validated)
		ktap::note(result.command, " exited with ", result.exit_code, ":\n", result.output);
	EXPECT_EQ(result.validated, validated);
}

/*
 * Every bank of the TPM that evmctl can check, which must include the
 * banks this library replays (sha1, sha256); the others are noted, with
 * what evmctl said of them.
 */
static std::vector<std::string> evmctl_checked_banks()
{
	const EvmctlBanks &banks = evmctl_banks();

	for (const std::string &bank : banks.unknown)
		ktap::note("evmctl cannot check the ", bank, " bank");
	if (!banks.unknown.empty())
		ktap::note(banks.said);
	for (const std::string &bank : replayable_banks()) {
		ktap::ScopedContext context("evmctl checks the " + bank + " bank");
		EXPECT_TRUE(std::count(banks.checked.begin(), banks.checked.end(), bank));
	}
	return banks.checked;
}

KTAP_TEST(evmctl_validates_list_against_tpm)
{
	require_ima_securityfs();
	require_tpm();
	require_evmctl();
	std::vector<std::string> banks = evmctl_checked_banks();
	Snapshot snapshot = evmctl_snapshot(banks);

	for (const std::string &bank : banks) {
		ktap::ScopedContext context("validating the " + bank + " bank");
		expect_evmctl_verdict(evmctl_validate(snapshot.lists.at("sha1"), bank,
						      snapshot.pcrs.at(bank)),
				      true);
	}
}

KTAP_TEST(evmctl_rejects_list_with_record_removed)
{
	require_ima_securityfs();
	require_tpm();
	require_evmctl();
	std::vector<std::string> banks = evmctl_checked_banks();
	Snapshot snapshot = evmctl_snapshot(banks);

	/*
	 * evmctl accepts a list when a prefix of it replays to the PCR, so the
	 * record removed is one in the middle, not the last one.
	 */
	std::vector<Record> records = snapshot.records("sha1");
	ASSERT_GE(records.size(), static_cast<std::size_t>(kMeasurementsToCreate));
	std::size_t removed = records.size() / 2;
	ktap::note("removing record ", removed, " of ", records.size(), ": ", records[removed]);
	records.erase(records.begin() + static_cast<std::ptrdiff_t>(removed));

	for (const std::string &bank : banks) {
		ktap::ScopedContext context("validating the " + bank + " bank");
		expect_evmctl_verdict(evmctl_validate(serialize_binary_list(records), bank,
						      snapshot.pcrs.at(bank)),
				      false);
	}
}

int main(int argc, char **argv)
{
	return ktap::run(argc, argv);
}
