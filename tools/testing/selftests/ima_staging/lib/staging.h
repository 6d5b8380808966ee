/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Driving IMA measurement staging (Documentation/security/IMA-export-delete.rst)
 * and checking what it must preserve.
 *
 * Requests are single write()s: "A\n" and "D\n" to a _staged file, "N\n" to
 * an original file. A test that deletes records saves them first in the
 * SavedStore, so that the saved records followed by the current list must
 * replay to PCR 10 of every bank (the invariant of the contract).
 */
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ima/bytes.h"
#include "ima/ima_fs.h"
#include "ima/records.h"
#include "ima/sys.h"

namespace ima {

/* The file every request of one kind goes to in these tests. */
std::string staged_request_file();	/* binary_runtime_measurements_sha1_staged */
std::string original_request_file();	/* binary_runtime_measurements_sha1 */

/* One write() of @request on @fd: 0 if it was accepted whole, else the errno. */
int write_request(int fd, std::string_view request);

/* Opens @file_name (in the IMA directory) for write, writes @request, closes. */
int send_request(std::string_view file_name, std::string_view request);

/*
 * The algorithms with measurement list files: every TPM bank, plus sha1;
 * without a TPM, the lists securityfs shows.
 */
const std::vector<std::string> &list_algos();

/*
 * Every measurement list file of list_algos(), original and staged, binary
 * and ascii (the symlinks to the sha1 files not included).
 */
std::vector<std::string> all_list_files();

/*
 * Everything the kernel shows of its lists: both lists in the binary format
 * of every algorithm, the ascii lists of sha1, and the record count.
 */
struct ListState {
	std::map<std::string, Bytes, std::less<>> current;
	std::map<std::string, Bytes, std::less<>> staged;
	std::string current_ascii;
	std::string staged_ascii;
	unsigned long count = 0;

	bool operator==(const ListState &) const = default;
	std::size_t current_records() const;
	std::size_t staged_records() const;
};

ListState capture_lists();

/* Short description of how two states differ, for a failure report. */
std::string describe_difference(const ListState &before, const ListState &after);

/* How the lists changed since @before was captured; empty if they did not. */
std::string lists_changed_since(const ListState &before);

/*
 * What the staging tests need that this system lacks, or an empty string:
 * CONFIG_IMA_STAGING, a TPM, the measuring policy on /measure, and a list
 * nothing was deleted from yet (so that the invariant can be checked).
 * After expect_no_tpm(), the boot must have no TPM instead, and the list
 * is taken as it is: without a PCR nothing tells what was deleted.
 */
std::string missing_staging_requirement();

/*
 * This boot is meant to have no TPM: a suite booted without one, and told
 * the program so (its --no-tpm).
 */
void expect_no_tpm();
bool no_tpm_expected();

/*
 * The records user space saved since boot, per algorithm, as one binary
 * list (groups concatenated in the order they were saved).
 */
class SavedStore {
public:
	void append(const std::map<std::string, Bytes, std::less<>> &group);
	const Bytes &saved(std::string_view algo) const;
	std::size_t records() const { return records_; }

	/* Keeps the store in @dir as one file "saved.<algo>" per algorithm. */
	void save_to(const std::string &dir) const;
	/* Replaces the contents by what save_to() left in @dir, if anything. */
	void load_from(const std::string &dir);

private:
	std::map<std::string, Bytes, std::less<>> lists_;
	std::size_t records_ = 0;
};

/* The store of this test program; every deletion it makes is saved there. */
SavedStore &saved_store();

/* Reads the staged lists of every algorithm through fresh opens. */
std::map<std::string, Bytes, std::less<>> read_staged_lists();

/*
 * The prompt cycle of a service that keeps every record: on @fd (a _staged
 * file open for write), A, read and save the staged lists, then D.
 * @between runs after A, before the lists are read (it may measure files).
 * Throws if a request fails.
 */
void stage_save_delete(int fd, const std::function<void()> &between = {});

/*
 * The first @n records of @list, a binary list of @algo, in the binary
 * format; throws if it has fewer.
 */
Bytes first_records(std::string_view algo, const Bytes &list, std::size_t n);

/*
 * The number of bytes the first @n records take in @list, the contents of a
 * sha1 list file in @format; throws if it has fewer.
 */
std::size_t leading_records_size(ListFormat format, const Bytes &list, std::size_t n);

/*
 * The piece size of read_until_error() in the tests of a reader across a
 * request: smaller than a record, so that a read resumes inside a list.
 */
inline constexpr std::size_t kSmallReads = 64;

/*
 * Leaves nothing staged: saves the staged records, if any, and deletes them
 * with D through a write open of its own. Throws if that fails.
 */
void delete_anything_staged();

/* The first @n records of every current list, in the binary format. */
std::map<std::string, Bytes, std::less<>> read_oldest_records(std::size_t n);

/*
 * Deletes the @n oldest records the staging-and-deleting-N way: reads them
 * from every current list, writes "<n>\n" to @fd (an original file open
 * for write) and, if that succeeded, saves them. Returns the write's errno.
 */
int save_and_delete_oldest(int fd, std::size_t n);

/* The TPM banks whose replay these tests compute (sha1, sha256); none without a TPM. */
std::vector<std::string> replayable_banks();

/*
 * Checks the invariant against the TPM: for every bank, the saved records
 * followed by the current list replay to PCR 10. Returns an empty string,
 * or what did not match.
 */
std::string check_invariant();

/*
 * Checks the invariant with evmctl: the sha1 binary lists of the saved
 * records and the current list concatenated, validated against every bank
 * of PCR 10 of the TPM that evmctl can check (evmctl_banks(): sha1 and
 * sha256 at least). PCR 10 of every bank is read once more with
 * tpm2_pcrread, which must agree with the kernel's sysfs value. Returns an
 * empty string, or what did not match.
 */
std::string check_invariant_with_evmctl();

/*
 * Whether nothing was deleted before this program started: the current list
 * alone replays to PCR 10. The invariant can only be checked then.
 */
bool nothing_deleted_since_boot();

/* Creates @path with @content and reads it, so that IMA measures it. */
void measure_file(const std::string &path, std::string_view content);

/*
 * Replaces @path by a new file with the same content, and reads it: IMA
 * measures it again unless it remembers the digest of its record.
 */
void measure_again(const std::string &path, std::string_view content);

/* How many records of the current sha1 list measured @file_name. */
std::size_t occurrences(const std::string &file_name);

/*
 * Every record since boot, from the sha1 files: those saved, then the
 * staged list, then the current one.
 */
std::vector<Record> saved_and_listed_records();

/*
 * Whether the records are of the templates the kernel was booted for: a
 * file measured now and every file's record so far (saved, staged or
 * current) of ima_template_fmt=, else ima_template=, else ima-ng; with
 * ima_policy=critical_data, an ima-buf record of the kernel version too.
 * "" if so, else what is wrong.
 */
std::string check_booted_templates();

/* The event names of @records (event_name()): the files they measured. */
std::vector<std::string> file_names(const std::vector<Record> &records);
bool contains_file(const std::vector<Record> &records, std::string_view file_name);

} // namespace ima
