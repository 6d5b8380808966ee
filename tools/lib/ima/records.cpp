// SPDX-License-Identifier: GPL-2.0
#include "ima/records.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <utility>

namespace ima {

/* IMA_EVENT_NAME_LEN_MAX + 1: the "ima" template hashes its name padded to it. */
static constexpr std::size_t kImaTemplateNameField = 256;
/* The digest of the "ima" template is a fixed 20-byte field. */
static constexpr std::size_t kImaTemplateDigestSize = 20;
/* MAX_TEMPLATE_NAME_LEN of ima_template.c. */
static constexpr std::uint32_t kMaxTemplateNameLen = 255;

namespace {

/* Bounds-checked reading of a byte buffer, naming the offset on errors. */
class ByteReader {
public:
	ByteReader(ByteView data, std::string context)
		: data_(data), context_(std::move(context))
	{
	}

	bool at_end() const { return offset_ == data_.size(); }
	std::size_t offset() const { return offset_; }
	/* The bytes consumed since offset @start. */
	ByteView since(std::size_t start) const { return data_.subspan(start, offset_ - start); }
	void set_context(std::string context) { context_ = std::move(context); }

	std::uint32_t read_le32(const char *what)
	{
		ByteView bytes = take(4, what);
		return load_le32(bytes, 0);
	}

	ByteView take(std::size_t size, const char *what)
	{
		if (size > data_.size() - offset_)
			fail(std::string("truncated ") + what + ": needs " +
			     std::to_string(size) + " bytes, " +
			     std::to_string(data_.size() - offset_) + " left");
		ByteView bytes = data_.subspan(offset_, size);
		offset_ += size;
		return bytes;
	}

	[[noreturn]] void fail(const std::string &message) const
	{
		throw ParseError(context_ + " at offset " + std::to_string(offset_) +
				 ": " + message);
	}

private:
	ByteView data_;
	std::string context_;
	std::size_t offset_ = 0;
};

} // namespace

static std::string to_string(ByteView bytes)
{
	return std::string(bytes.begin(), bytes.end());
}

Bytes encode_ima_ng_template_data(const ImaNgEvent &event)
{
	Bytes digest_field = to_bytes(event.digest_algo + ":");
	digest_field.push_back(0);
	append(digest_field, event.file_digest);

	Bytes name_field = to_bytes(event.file_name);
	name_field.push_back(0);

	Bytes data;
	append_le32(data, static_cast<std::uint32_t>(digest_field.size()));
	append(data, digest_field);
	append_le32(data, static_cast<std::uint32_t>(name_field.size()));
	append(data, name_field);
	return data;
}

ImaNgEvent decode_ima_ng_template_data(ByteView data)
{
	ByteReader reader(data, "ima-ng template data");
	ImaNgEvent event;

	ByteView digest_field = reader.take(reader.read_le32("d-ng length"), "d-ng field");
	std::string digest_text = to_string(digest_field);
	std::size_t nul = digest_text.find('\0');
	if (nul == std::string::npos || nul == 0 || digest_text[nul - 1] != ':')
		reader.fail("d-ng field does not start with \"<algo>:\\0\"");
	event.digest_algo = digest_text.substr(0, nul - 1);
	event.file_digest.assign(digest_field.begin() + nul + 1, digest_field.end());

	ByteView name_field = reader.take(reader.read_le32("n-ng length"), "n-ng field");
	if (name_field.empty() || name_field.back() != 0)
		reader.fail("n-ng field is not NUL-terminated");
	event.file_name = to_string(name_field.first(name_field.size() - 1));

	if (!reader.at_end())
		reader.fail("unexpected bytes after the n-ng field");
	return event;
}

Record make_ima_ng_record(const ImaNgEvent &event, HashAlgo template_hash, std::uint32_t pcr)
{
	Record record;

	record.pcr = pcr;
	record.template_name = kImaNgTemplate;
	record.template_data = encode_ima_ng_template_data(event);
	record.template_digest = hash(template_hash, record.template_data);
	record.ima_ng = event;
	return record;
}

Record make_ima_ng_violation(std::string_view digest_algo, std::string_view file_name,
			     HashAlgo template_hash, std::uint32_t pcr)
{
	std::optional<std::size_t> size = digest_size_by_name(digest_algo);
	if (!size)
		throw std::invalid_argument("unknown digest algorithm " + std::string(digest_algo));

	ImaNgEvent event{std::string(digest_algo), Bytes(*size, 0), std::string(file_name)};
	Record record = make_ima_ng_record(event, template_hash, pcr);
	record.template_digest.assign(digest_size(template_hash), 0);
	return record;
}

static Record parse_binary_record(ByteReader &reader, std::size_t digest_size)
{
	Record record;

	record.pcr = reader.read_le32("pcr");
	ByteView digest = reader.take(digest_size, "template digest");
	record.template_digest.assign(digest.begin(), digest.end());

	std::uint32_t name_len = reader.read_le32("template name length");
	if (name_len == 0 || name_len > kMaxTemplateNameLen)
		reader.fail("bad template name length " + std::to_string(name_len));
	record.template_name = to_string(reader.take(name_len, "template name"));

	if (record.template_name == kImaTemplate) {
		/* No data length: a 20-byte digest and a length-prefixed name. */
		std::size_t start = reader.offset();
		reader.take(kImaTemplateDigestSize, "ima template digest");
		reader.take(reader.read_le32("ima template name length"), "ima template name");
		ByteView data = reader.since(start);
		record.template_data.assign(data.begin(), data.end());
		return record;
	}

	ByteView data = reader.take(reader.read_le32("template data length"), "template data");
	record.template_data.assign(data.begin(), data.end());
	if (record.template_name == kImaNgTemplate) {
		try {
			record.ima_ng = decode_ima_ng_template_data(data);
		} catch (const ParseError &e) {
			reader.fail(e.what());
		}
	}
	return record;
}

std::vector<Record> parse_binary_list(ByteView data, std::size_t digest_size)
{
	ByteReader reader(data, "binary list");
	std::vector<Record> records;

	while (!reader.at_end()) {
		reader.set_context("binary list record " + std::to_string(records.size()));
		records.push_back(parse_binary_record(reader, digest_size));
	}
	return records;
}

std::vector<std::size_t> binary_record_bounds(ByteView data, std::size_t digest_size)
{
	ByteReader reader(data, "binary list");
	std::vector<std::size_t> bounds;

	while (!reader.at_end()) {
		bounds.push_back(reader.offset());
		reader.read_le32("pcr");
		reader.take(digest_size, "template digest");
		std::uint32_t name_len = reader.read_le32("template name length");
		if (name_len == 0 || name_len > kMaxTemplateNameLen) {
			reader.set_context("binary list record " + std::to_string(bounds.size() - 1));
			reader.fail("bad template name length " + std::to_string(name_len));
		}
		if (to_string(reader.take(name_len, "template name")) == kImaTemplate) {
			reader.take(kImaTemplateDigestSize, "ima template digest");
			reader.take(reader.read_le32("ima template name length"), "ima template name");
		} else {
			reader.take(reader.read_le32("template data length"), "template data");
		}
	}
	bounds.push_back(data.size());
	return bounds;
}

std::vector<Record> parse_sha1_list(ByteView data)
{
	return parse_binary_list(data, digest_size(HashAlgo::sha1));
}

std::vector<std::size_t> sha1_record_bounds(ByteView data)
{
	return binary_record_bounds(data, digest_size(HashAlgo::sha1));
}

std::uint64_t count_sha1_records(ByteView data)
{
	return sha1_record_bounds(data).size() - 1;
}

/* Splits at single spaces, as the kernel joins the fields. */
static std::vector<std::string_view> split_fields(std::string_view line)
{
	std::vector<std::string_view> fields;

	for (;;) {
		std::size_t space = line.find(' ');
		fields.push_back(line.substr(0, space));
		if (space == std::string_view::npos)
			return fields;
		line.remove_prefix(space + 1);
	}
}

static Record parse_ascii_record(std::string_view line)
{
	/* "%2d" right-aligns one-digit PCR numbers with a space. */
	line.remove_prefix(std::min(line.find_first_not_of(' '), line.size()));
	std::vector<std::string_view> fields = split_fields(line);
	if (fields.size() < 3)
		throw ParseError("too few fields");

	Record record;
	auto [end, error] = std::from_chars(fields[0].data(), fields[0].data() + fields[0].size(),
					    record.pcr);
	if (error != std::errc() || end != fields[0].data() + fields[0].size())
		throw ParseError("bad PCR number '" + std::string(fields[0]) + "'");
	try {
		record.template_digest = from_hex(fields[1]);
	} catch (const std::invalid_argument &e) {
		throw ParseError(std::string("template digest: ") + e.what());
	}
	record.template_name = fields[2];
	if (record.template_name != kImaNgTemplate)
		throw ParseError("template '" + record.template_name + "' is not supported");
	if (fields.size() != 5)
		throw ParseError("an ima-ng record has 5 fields, not " +
				 std::to_string(fields.size()));

	std::string_view digest_field = fields[3];
	std::size_t colon = digest_field.rfind(':');
	if (colon == std::string_view::npos || colon == 0)
		throw ParseError("d-ng field without \"<algo>:\"");

	ImaNgEvent event;
	event.digest_algo = digest_field.substr(0, colon);
	try {
		event.file_digest = from_hex(digest_field.substr(colon + 1));
	} catch (const std::invalid_argument &e) {
		throw ParseError(std::string("file digest: ") + e.what());
	}
	event.file_name = fields[4];
	record.template_data = encode_ima_ng_template_data(event);
	record.ima_ng = std::move(event);
	return record;
}

std::vector<Record> parse_ascii_list(std::string_view text)
{
	std::vector<Record> records;

	while (!text.empty()) {
		std::size_t newline = text.find('\n');
		if (newline == std::string_view::npos)
			throw ParseError("ascii list line " + std::to_string(records.size() + 1) +
					 ": missing newline");
		try {
			records.push_back(parse_ascii_record(text.substr(0, newline)));
		} catch (const ParseError &e) {
			throw ParseError("ascii list line " + std::to_string(records.size() + 1) +
					 ": " + e.what());
		}
		text.remove_prefix(newline + 1);
	}
	return records;
}

void append_binary_record(Bytes &out, const Record &record)
{
	append_le32(out, record.pcr);
	append(out, record.template_digest);
	append_le32(out, static_cast<std::uint32_t>(record.template_name.size()));
	append(out, as_bytes(record.template_name));
	if (record.template_name != kImaTemplate)
		append_le32(out, static_cast<std::uint32_t>(record.template_data.size()));
	append(out, record.template_data);
}

Bytes serialize_binary_list(const std::vector<Record> &records)
{
	Bytes out;

	for (const Record &record : records)
		append_binary_record(out, record);
	return out;
}

namespace {

/* How the ascii list shows a template field (ima_template_lib.c). */
enum class FieldFormat { digest, digest_with_algo, string, hex, uint };

FieldFormat field_format(std::string_view field_id)
{
	static const std::map<std::string_view, FieldFormat> formats = {
		{"d", FieldFormat::digest},
		{"n", FieldFormat::string},
		{"d-ng", FieldFormat::digest_with_algo},
		{"d-ngv2", FieldFormat::digest_with_algo},
		{"n-ng", FieldFormat::string},
		{"sig", FieldFormat::hex},
		{"buf", FieldFormat::hex},
		{"d-modsig", FieldFormat::digest_with_algo},
		{"modsig", FieldFormat::hex},
		{"evmsig", FieldFormat::hex},
		{"iuid", FieldFormat::uint},
		{"igid", FieldFormat::uint},
		{"imode", FieldFormat::uint},
		{"xattrnames", FieldFormat::string},
		{"xattrlengths", FieldFormat::hex},
		{"xattrvalues", FieldFormat::hex},
	};
	auto found = formats.find(field_id);

	if (found == formats.end())
		throw ParseError("unknown template field '" + std::string(field_id) + "'");
	return found->second;
}

/*
 * The fields of a template, from the name the lists show: that of a
 * built-in template, or the format of a custom one (ima_template_fmt=).
 */
std::vector<std::string_view> template_fields(std::string_view name)
{
	static const std::map<std::string_view, std::string_view> builtin = {
		{"ima", "d|n"},
		{"ima-ng", "d-ng|n-ng"},
		{"ima-ngv2", "d-ngv2|n-ng"},
		{"ima-sig", "d-ng|n-ng|sig"},
		{"ima-sigv2", "d-ngv2|n-ng|sig"},
		{"ima-buf", "d-ng|n-ng|buf"},
		{"ima-modsig", "d-ng|n-ng|sig|d-modsig|modsig"},
		{"evm-sig", "d-ng|n-ng|evmsig|xattrnames|xattrlengths|xattrvalues|iuid|igid|imode"},
	};
	auto found = builtin.find(name);
	std::string_view format = found != builtin.end() ? found->second : name;
	std::vector<std::string_view> fields;

	for (std::size_t at = 0;;) {
		std::size_t bar = format.find('|', at);

		fields.push_back(format.substr(at, bar - at));
		if (bar == std::string_view::npos)
			return fields;
		at = bar + 1;
	}
}

/* The bytes of @data up to its first NUL, as a string. */
std::string c_string(ByteView data)
{
	auto nul = std::find(data.begin(), data.end(), 0);

	return std::string(data.begin(), nul);
}

std::string ascii_uint(ByteView data)
{
	std::uint64_t value = 0;

	if (data.size() != 1 && data.size() != 2 && data.size() != 4 && data.size() != 8)
		return "";
	for (std::size_t i = data.size(); i-- > 0;)
		value = value << 8 | data[i];
	return std::to_string(value);
}

/* A field as ima_show_template_data_ascii() shows it; "" when empty. */
std::string ascii_field(FieldFormat format, ByteView data)
{
	if (data.empty())
		return "";
	switch (format) {
	case FieldFormat::digest_with_algo: {
		/* "<algo>:" (or "<type>:<algo>:"), NUL, digest */
		std::string prefix = c_string(data);
		std::size_t colon = prefix.rfind(':');

		if (colon == std::string::npos || colon + 2 > data.size())
			throw ParseError("digest field without '<algo>:' prefix");
		return (colon ? prefix : "") + to_hex(data.subspan(colon + 2));
	}
	case FieldFormat::digest:
	case FieldFormat::hex:
		return to_hex(data);
	case FieldFormat::string:
		return c_string(data);
	case FieldFormat::uint:
		return ascii_uint(data);
	}
	return "";
}

/* The template data's fields: length-prefixed, or the "ima" template's two. */
std::vector<ByteView> template_field_data(const Record &record, std::size_t count)
{
	ByteReader reader(record.template_data, "template data of " + record.template_name);
	std::vector<ByteView> fields;

	if (record.template_name == kImaTemplate) {
		fields.push_back(reader.take(kImaTemplateDigestSize, "digest"));
		fields.push_back(reader.take(reader.read_le32("name length"), "name"));
	} else {
		while (!reader.at_end())
			fields.push_back(reader.take(reader.read_le32("field length"), "field"));
	}
	if (fields.size() != count)
		reader.fail(std::to_string(fields.size()) + " fields, the template has " +
			    std::to_string(count));
	return fields;
}

} // namespace

std::string format_ascii_record(const Record &record)
{
	std::vector<std::string_view> ids = template_fields(record.template_name);
	std::vector<ByteView> fields = template_field_data(record, ids.size());
	std::string pcr = std::to_string(record.pcr);
	std::string line = std::string(pcr.size() < 2 ? 2 - pcr.size() : 0, ' ') + pcr + " " +
			   to_hex(record.template_digest) + " " + record.template_name;

	for (std::size_t i = 0; i < ids.size(); i++)
		line += " " + ascii_field(field_format(ids[i]), fields[i]);
	return line + "\n";
}

std::optional<std::string> event_name(const Record &record)
{
	std::vector<std::string_view> ids = template_fields(record.template_name);
	std::vector<ByteView> fields = template_field_data(record, ids.size());

	for (std::size_t i = 0; i < ids.size(); i++)
		if (ids[i] == "n" || ids[i] == "n-ng")
			return c_string(fields[i]);
	return std::nullopt;
}

std::string format_ascii_records(const std::vector<Record> &records, std::size_t from)
{
	std::string text;

	for (std::size_t i = from; i < records.size(); i++)
		text += format_ascii_record(records[i]);
	return text;
}

std::ostream &operator<<(std::ostream &out, const Record &record)
{
	try {
		std::string line = format_ascii_record(record);
		return out << line.substr(0, line.size() - 1);
	} catch (const ParseError &) {
		/* a record that does not parse: a summary */
	}
	return out << record.pcr << " " << to_hex(record.template_digest) << " "
		   << record.template_name << " (" << record.template_data.size()
		   << " bytes of template data)";
}

/* The bytes IMA hashes into the template digest (ima_calc_field_array_hash). */
static Bytes template_hash_input(const Record &record)
{
	if (record.template_name != kImaTemplate)
		return record.template_data;

	/* "ima": the 20-byte digest, then the name zero-padded to 256 bytes. */
	ByteReader reader(record.template_data, "ima template data");
	Bytes input;
	append(input, reader.take(kImaTemplateDigestSize, "digest"));
	ByteView name = reader.take(reader.read_le32("name length"), "name");
	if (name.size() >= kImaTemplateNameField)
		reader.fail("name too long");
	append(input, name);
	input.resize(kImaTemplateDigestSize + kImaTemplateNameField, 0);
	return input;
}

bool template_digest_matches(const Record &record, HashAlgo algo)
{
	if (record.template_digest.size() != digest_size(algo))
		return false;
	if (record.is_violation())
		return true;
	return hash(algo, template_hash_input(record)) == record.template_digest;
}

Record with_template_digest(const Record &record, HashAlgo algo)
{
	Record converted = record;

	if (record.is_violation())
		converted.template_digest.assign(digest_size(algo), 0);
	else
		converted.template_digest = hash(algo, template_hash_input(record));
	return converted;
}

std::string format_ascii_list(ByteView sha1_list)
{
	return format_ascii_records(parse_sha1_list(sha1_list));
}

} // namespace ima
