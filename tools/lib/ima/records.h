/* SPDX-License-Identifier: GPL-2.0 */
/*
 * IMA measurement records and the two list formats of securityfs
 * (security/integrity/ima/ima_fs.c):
 *
 * binary (ima_measurements_show), per record, integers little-endian:
 *	u32 pcr
 *	template digest (20 bytes in the sha1 file, the digest size of <algo>
 *	                 in binary_runtime_measurements_<algo>)
 *	u32 template name length, template name
 *	u32 template data length   (absent for the "ima" template)
 *	template data
 *
 * ascii (ima_ascii_measurements_show), one line per record:
 *	"%2d <template digest hex> <template name> <field> <field>...\n"
 *
 * ima-ng template data is two length-prefixed fields:
 *	u32 len, "<algo>:" '\0' file digest       (d-ng)
 *	u32 len, file name '\0'                   (n-ng)
 * The template digest is the hash of the template data. Violations have an
 * all-zero template digest and file digest (the PCR is extended with 0xff).
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "ima/bytes.h"
#include "ima/hash.h"

namespace ima {

inline constexpr std::string_view kImaNgTemplate = "ima-ng";
inline constexpr std::string_view kImaTemplate = "ima";

/* The fields of an ima-ng record. */
struct ImaNgEvent {
	std::string digest_algo; /* "sha256" */
	Bytes file_digest;
	std::string file_name;

	bool operator==(const ImaNgEvent &) const = default;
};

struct Record {
	std::uint32_t pcr = 0;
	Bytes template_digest;
	std::string template_name;
	/* As hashed and shown in the binary list (for "ima": digest, u32 len, name). */
	Bytes template_data;
	/* Set for ima-ng records. */
	std::optional<ImaNgEvent> ima_ng;

	bool is_violation() const { return is_all_zero(template_digest); }
	bool operator==(const Record &) const = default;
};

/* One line for diagnostics: the ascii format, or a summary if it does not parse. */
std::ostream &operator<<(std::ostream &out, const Record &record);

class ParseError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

/* ima-ng template data from its fields, and back (throws ParseError). */
Bytes encode_ima_ng_template_data(const ImaNgEvent &event);
ImaNgEvent decode_ima_ng_template_data(ByteView data);

/* An ima-ng record whose template digest is computed with @template_hash. */
Record make_ima_ng_record(const ImaNgEvent &event, HashAlgo template_hash,
			  std::uint32_t pcr = 10);

/*
 * A violation as IMA records it: zero file digest, zero template digest of
 * the size of @template_hash.
 */
Record make_ima_ng_violation(std::string_view digest_algo, std::string_view file_name,
			     HashAlgo template_hash, std::uint32_t pcr = 10);

/*
 * Parses a binary list (or several concatenated). @digest_size is the size of
 * the template digests: 20 for the sha1 file, 32 for sha256, ...
 */
std::vector<Record> parse_binary_list(ByteView data, std::size_t digest_size);

/*
 * Where each record of a binary list begins, then where the last one ends
 * (data.size()): the fields' lengths checked as parse_binary_list() checks
 * them, without decoding the template data. Throws ParseError.
 */
std::vector<std::size_t> binary_record_bounds(ByteView data, std::size_t digest_size);

/* parse_binary_list() and binary_record_bounds() of the sha1 file's format. */
std::vector<Record> parse_sha1_list(ByteView data);
std::vector<std::size_t> sha1_record_bounds(ByteView data);

/* How many records the sha1 file's list @data holds. Throws ParseError. */
std::uint64_t count_sha1_records(ByteView data);

/* Parses an ascii list; supports the ima-ng template. */
std::vector<Record> parse_ascii_list(std::string_view text);

/* The binary format of the kernel; lists serialize to concatenations. */
void append_binary_record(Bytes &out, const Record &record);
Bytes serialize_binary_list(const std::vector<Record> &records);

/*
 * One line of the ascii format, with its newline, byte for byte as the
 * kernel shows the record: every built-in template and any custom format
 * (the template name is then the format). Throws ParseError for a field
 * IMA does not know or template data that does not split into the fields.
 */
std::string format_ascii_record(const Record &record);

/*
 * The event name of @record, its "n" or "n-ng" field, in any template that has
 * one (a file's path, "boot_aggregate", "kexec-cmdline", ...). Throws
 * ParseError if the template data does not split into the template's fields.
 */
std::optional<std::string> event_name(const Record &record);

/* Records @from.. of @records as the ascii list shows them (format_ascii_record()). */
std::string format_ascii_records(const std::vector<Record> &records, std::size_t from = 0);
/* A binary sha1 list in the ascii format (throws ParseError). */
std::string format_ascii_list(ByteView sha1_list);

/*
 * Whether the template digest is the @algo hash of the template data as IMA
 * computes it. A violation is accepted when its template digest is zero.
 */
bool template_digest_matches(const Record &record, HashAlgo algo);

/*
 * The record as the <algo> list shows it: template digest recomputed from
 * the template data (zero for a violation), as evmctl does to replay other
 * banks from the sha1 list.
 */
Record with_template_digest(const Record &record, HashAlgo algo);

} // namespace ima
