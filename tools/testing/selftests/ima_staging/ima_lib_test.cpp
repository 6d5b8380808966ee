// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the selftest library on data made here: hash known answers,
 * the binary and ascii list formats, PCR replay, evmctl's pcrs file and
 * verdicts, kernel config and command line parsing, process helpers.
 * Independent of the running kernel, so they run on a build host and in the
 * test guest alike.
 */
#include <cerrno>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktap.h"
#include "lib/generator.h"
#include "lib/ima.h"

using namespace ima;

static std::string hex_of_hash(HashAlgo algo, std::string_view text)
{
	return to_hex(hash(algo, as_bytes(text)));
}

KTAP_TEST(sha1_known_answers)
{
	EXPECT_EQ(hex_of_hash(HashAlgo::sha1, ""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	EXPECT_EQ(hex_of_hash(HashAlgo::sha1, "abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
	EXPECT_EQ(hex_of_hash(HashAlgo::sha1,
			      "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
		  "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
	EXPECT_EQ(hex_of_hash(HashAlgo::sha1, std::string(1000000, 'a')),
		  "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

KTAP_TEST(sha256_known_answers)
{
	EXPECT_EQ(hex_of_hash(HashAlgo::sha256, ""),
		  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	EXPECT_EQ(hex_of_hash(HashAlgo::sha256, "abc"),
		  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	EXPECT_EQ(hex_of_hash(HashAlgo::sha256,
			      "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	EXPECT_EQ(hex_of_hash(HashAlgo::sha256, std::string(1000000, 'a')),
		  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Every split of messages around the 55/56/64-byte padding boundaries. */
KTAP_TEST(hash_updates_in_pieces_match_one_shot)
{
	for (HashAlgo algo : {HashAlgo::sha1, HashAlgo::sha256}) {
		ktap::ScopedContext context(std::string(hash_name(algo)));

		for (std::size_t length = 0; length <= 130; length++) {
			Bytes message(length);
			for (std::size_t i = 0; i < length; i++)
				message[i] = static_cast<std::uint8_t>(i * 7 + length);
			Bytes expected = hash(algo, message);
			ByteView view(message);

			for (std::size_t split = 0; split <= length; split++) {
				Bytes pieces = Hasher(algo)
						       .update(view.first(split))
						       .update(view.subspan(split))
						       .finish();
				ASSERT_EQ(pieces, expected);
			}
		}
	}
}

/*
 * SHA-256 stopped at every block boundary of a message and resumed from
 * its midstate gives the one-shot digest; a midstate inside a block is
 * refused.
 */
KTAP_TEST(sha256_resumed_from_a_midstate_matches_one_shot)
{
	Bytes message(1000);
	for (std::size_t i = 0; i < message.size(); i++)
		message[i] = static_cast<std::uint8_t>(i * 13 + 5);
	const Bytes expected = hash(HashAlgo::sha256, message);
	ByteView view(message);

	for (std::size_t stop = 0; stop <= message.size(); stop += kSha256BlockSize) {
		ktap::ScopedContext context("stopped after " + std::to_string(stop) + " bytes");
		Sha256Midstate midstate = ResumableSha256().update(view.first(stop)).midstate();

		EXPECT_EQ(midstate.blocks, stop / kSha256BlockSize);
		ResumableSha256 resumed(midstate);
		EXPECT_EQ(resumed.length(), stop);
		EXPECT_TRUE(resumed.update(view.subspan(stop)).finish() == expected);
	}
	EXPECT_TRUE(ResumableSha256().update(view).finish() == expected);
	ResumableSha256 inside_a_block;
	inside_a_block.update(view.first(kSha256BlockSize + 1));
	EXPECT_THROW(inside_a_block.midstate(), std::logic_error);
}

KTAP_TEST(hex_round_trip)
{
	Bytes bytes = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};

	EXPECT_EQ(to_hex(bytes), "00017f80abff");
	EXPECT_EQ(from_hex("00017f80abff"), bytes);
	EXPECT_EQ(from_hex("00017F80ABFF"), bytes);
	EXPECT_THROW(from_hex("abc"), std::invalid_argument);
	EXPECT_THROW(from_hex("zz"), std::invalid_argument);
}

static ImaNgEvent synthetic_event(int index)
{
	std::string number = std::to_string(index);

	return {"sha256", hash(HashAlgo::sha256, as_bytes("file" + number)), "/measure/f" + number};
}

static std::vector<Record> synthetic_records(int count, HashAlgo template_hash)
{
	std::vector<Record> records;

	for (int i = 0; i < count; i++)
		records.push_back(make_ima_ng_record(synthetic_event(i), template_hash));
	return records;
}

/* Expected bytes and digests computed independently (Python hashlib). */
KTAP_TEST(ima_ng_template_data_layout)
{
	ImaNgEvent event = synthetic_event(0);
	Bytes data = encode_ima_ng_template_data(event);

	EXPECT_EQ(to_hex(data), "28000000"
				"7368613235363a00"
				"56f3fd843f7ae959a8409e0ae7c067a0e862a6faa7a22bad147ee90ee5992bd7"
				"0c000000"
				"2f6d6561737572652f663000");
	EXPECT_EQ(decode_ima_ng_template_data(data), event);
	EXPECT_EQ(to_hex(make_ima_ng_record(event, HashAlgo::sha1).template_digest),
		  "c9ee22f697c8ffd771df235f132c5d96cd47e1f3");
	EXPECT_EQ(to_hex(make_ima_ng_record(event, HashAlgo::sha256).template_digest),
		  "6e1dd98b779df38f58a7071ae3f0185153b1fa64d39cb7569949260bc402fe8e");
	EXPECT_THROW(decode_ima_ng_template_data(ByteView(data).first(data.size() - 1)),
		     ParseError);
}

KTAP_TEST(binary_record_layout)
{
	Record record = make_ima_ng_record(synthetic_event(0), HashAlgo::sha1, 11);
	Bytes expected;

	append(expected, Bytes{11, 0, 0, 0});
	append(expected, record.template_digest);
	append(expected, Bytes{6, 0, 0, 0});
	append(expected, as_bytes("ima-ng"));
	append(expected, Bytes{static_cast<std::uint8_t>(record.template_data.size()), 0, 0, 0});
	append(expected, record.template_data);

	EXPECT_EQ(serialize_binary_list({record}), expected);
}

KTAP_TEST(binary_list_round_trip)
{
	for (HashAlgo algo : {HashAlgo::sha1, HashAlgo::sha256}) {
		ktap::ScopedContext context(std::string(hash_name(algo)));
		std::vector<Record> records = synthetic_records(3, algo);

		records.push_back(make_ima_ng_violation("sha256", "/measure/busy", algo));
		records.push_back(make_ima_ng_record(synthetic_event(9), algo, 11));

		Bytes list = serialize_binary_list(records);
		EXPECT_EQ(parse_binary_list(list, digest_size(algo)), records);

		/* Concatenated lists parse as one. */
		Bytes twice = list;
		append(twice, list);
		std::vector<Record> expected = records;
		expected.insert(expected.end(), records.begin(), records.end());
		EXPECT_EQ(parse_binary_list(twice, digest_size(algo)), expected);
	}
	EXPECT_TRUE(parse_binary_list({}, 20).empty());
}

/* The "ima" template: no data length, a 20-byte digest and a counted name. */
KTAP_TEST(binary_parser_reads_ima_template)
{
	Bytes file_digest = hash(HashAlgo::sha1, as_bytes("content"));
	std::string name = "/bin/true";
	Bytes data = file_digest;
	append_le32(data, static_cast<std::uint32_t>(name.size()));
	append(data, as_bytes(name));

	/* ima_calc_field_array_hash: digest, then the name zero-padded to 256. */
	Bytes hashed = file_digest;
	append(hashed, as_bytes(name));
	hashed.resize(20 + 256, 0);

	Record record;
	record.pcr = 10;
	record.template_digest = hash(HashAlgo::sha1, hashed);
	record.template_name = "ima";
	record.template_data = data;

	Bytes list = serialize_binary_list({record});
	EXPECT_EQ(list.size(), 4 + 20 + 4 + 3 + data.size());
	std::vector<Record> parsed = parse_binary_list(list, 20);
	ASSERT_EQ(parsed.size(), 1u);
	EXPECT_EQ(parsed[0], record);
	EXPECT_TRUE(template_digest_matches(parsed[0], HashAlgo::sha1));
}

KTAP_TEST(binary_parser_rejects_truncated_lists)
{
	std::vector<Record> records = synthetic_records(2, HashAlgo::sha1);
	Bytes list = serialize_binary_list(records);
	std::size_t record_size = list.size() / 2;

	for (std::size_t size = 1; size < list.size(); size++) {
		if (size == record_size)
			continue;
		ktap::ScopedContext context("list cut to " + std::to_string(size) + " bytes");
		EXPECT_THROW(parse_binary_list(ByteView(list).first(size), 20), ParseError);
		EXPECT_THROW(count_sha1_records(ByteView(list).first(size)), ParseError);
	}
	EXPECT_EQ(count_sha1_records(list), 2u);
	EXPECT_EQ(count_sha1_records(ByteView(list).first(record_size)), 1u);
	EXPECT_EQ(count_sha1_records({}), 0u);
	/* A sha1 list read with the sha256 digest size does not parse. */
	EXPECT_THROW(parse_binary_list(list, 32), ParseError);
}

KTAP_TEST(ascii_format_round_trip)
{
	std::vector<Record> records = synthetic_records(2, HashAlgo::sha256);
	records.push_back(make_ima_ng_violation("sha256", "/measure/busy", HashAlgo::sha256));
	records.push_back(make_ima_ng_record(synthetic_event(5), HashAlgo::sha256, 9));

	std::string text;
	for (const Record &record : records)
		text += format_ascii_record(record);
	EXPECT_EQ(parse_ascii_list(text), records);
	EXPECT_EQ(format_ascii_record(records[3]).substr(0, 3), " 9 ");
}

/* A record of @template_name whose template data holds @fields. */
Record record_with_fields(const std::string &template_name, const std::vector<Bytes> &fields)
{
	Record record;

	record.pcr = 10;
	record.template_digest = Bytes(20, 0x5a);
	record.template_name = template_name;
	for (const Bytes &field : fields) {
		append_le32(record.template_data, static_cast<std::uint32_t>(field.size()));
		append(record.template_data, field);
	}
	return record;
}

Bytes text_bytes(std::string_view text, bool with_nul)
{
	Bytes bytes(text.begin(), text.end());

	if (with_nul)
		bytes.push_back(0);
	return bytes;
}

/* "<prefix>" NUL and @size bytes of @fill: a d-ng or d-ngv2 field. */
Bytes digest_field(std::string_view prefix, std::size_t size, std::uint8_t fill)
{
	Bytes field = text_bytes(prefix, true);

	append(field, Bytes(size, fill));
	return field;
}

/* The lines the kernel's ascii list shows (ima_ascii_measurements_show). */
KTAP_TEST(ascii_format_of_every_template_is_the_kernels)
{
	const std::string digest = to_hex(Bytes(20, 0x5a));
	const std::string file_digest = to_hex(Bytes(32, 0x11));

	/* ima-sig without a signature: the empty field still takes its space. */
	Record sig = record_with_fields("ima-sig", {digest_field("sha256:", 32, 0x11),
						    text_bytes("/bin/ls", true), Bytes()});
	EXPECT_EQ(format_ascii_record(sig),
		  "10 " + digest + " ima-sig sha256:" + file_digest + " /bin/ls \n");

	/* The "ima" template: a bare digest and name, no field lengths for the digest. */
	Record legacy;
	legacy.pcr = 10;
	legacy.template_digest = Bytes(20, 0x5a);
	legacy.template_name = "ima";
	append(legacy.template_data, Bytes(20, 0x22));
	append_le32(legacy.template_data, 7);
	append(legacy.template_data, text_bytes("/bin/ls", false));
	EXPECT_EQ(format_ascii_record(legacy),
		  "10 " + digest + " ima " + to_hex(Bytes(20, 0x22)) + " /bin/ls\n");

	/* ima-buf: the buffer in hex. */
	Record buf = record_with_fields("ima-buf", {digest_field("sha256:", 32, 0x11),
						    text_bytes("kernel_version", true),
						    text_bytes("6.12", false)});
	EXPECT_EQ(format_ascii_record(buf),
		  "10 " + digest + " ima-buf sha256:" + file_digest + " kernel_version 362e3132\n");

	/* A custom format: type and algorithm, a signature, numbers. */
	Bytes uid;
	append_le32(uid, 1000);
	Record custom = record_with_fields("d-ngv2|n-ng|sig|iuid|imode",
					   {digest_field("ima:sha256:", 32, 0x11),
					    text_bytes("/x", true), Bytes{0xab, 0xcd, 0xef}, uid,
					    Bytes{0xa4, 0x81}});
	EXPECT_EQ(format_ascii_record(custom), "10 " + digest + " d-ngv2|n-ng|sig|iuid|imode ima:sha256:" +
						       file_digest + " /x abcdef 1000 33188\n");

	/* Template data that does not split into the template's fields. */
	Record short_sig = record_with_fields("ima-sig", {digest_field("sha256:", 32, 0x11)});
	EXPECT_THROW(format_ascii_record(short_sig), ParseError);
	Record unknown = record_with_fields("d-ng|nofield", {digest_field("sha256:", 32, 0x11), Bytes()});
	EXPECT_THROW(format_ascii_record(unknown), ParseError);
}

KTAP_TEST(event_name_of_every_template)
{
	Record ng = make_ima_ng_record(synthetic_event(1), HashAlgo::sha1);
	EXPECT_EQ(event_name(ng), std::optional<std::string>(synthetic_event(1).file_name));

	Record legacy;
	legacy.template_name = "ima";
	append(legacy.template_data, Bytes(20, 0x22));
	append_le32(legacy.template_data, 7);
	append(legacy.template_data, text_bytes("/bin/ls", false));
	EXPECT_EQ(event_name(legacy), std::optional<std::string>("/bin/ls"));

	Record buf = record_with_fields("ima-buf", {digest_field("sha256:", 32, 0x11),
						    text_bytes("kexec-cmdline", true),
						    text_bytes("quiet", false)});
	EXPECT_EQ(event_name(buf), std::optional<std::string>("kexec-cmdline"));

	Record custom = record_with_fields("d-ngv2|n-ng|sig|iuid|imode",
					   {digest_field("ima:sha256:", 32, 0x11),
					    text_bytes("/x", true), Bytes(), Bytes(4, 0), Bytes(2, 0)});
	EXPECT_EQ(event_name(custom), std::optional<std::string>("/x"));

	Record nameless = record_with_fields("d-ng|sig", {digest_field("sha256:", 32, 0x11),
							  Bytes()});
	EXPECT_EQ(event_name(nameless), std::nullopt);

	Record short_sig = record_with_fields("ima-sig", {digest_field("sha256:", 32, 0x11)});
	EXPECT_THROW(event_name(short_sig), ParseError);
}

KTAP_TEST(ascii_parser_reads_kernel_line)
{
	Record expected = make_ima_ng_record(synthetic_event(1), HashAlgo::sha1);
	std::string line = "10 " + to_hex(expected.template_digest) + " ima-ng sha256:" +
			   to_hex(expected.ima_ng->file_digest) + " /measure/f1\n";

	std::vector<Record> parsed = parse_ascii_list(line);
	ASSERT_EQ(parsed.size(), 1u);
	EXPECT_EQ(parsed[0], expected);
}

KTAP_TEST(ascii_parser_rejects_malformed_lines)
{
	Record record = make_ima_ng_record(synthetic_event(1), HashAlgo::sha1);
	std::string good = format_ascii_record(record);

	EXPECT_EQ(parse_ascii_list(good).size(), 1u);
	EXPECT_THROW(parse_ascii_list(good.substr(0, good.size() - 1)), ParseError);
	EXPECT_THROW(parse_ascii_list("x" + good), ParseError);
	EXPECT_THROW(parse_ascii_list("10 zz ima-ng sha256:00 /f\n"), ParseError);
	EXPECT_THROW(parse_ascii_list("10 00 ima-ng 00 /f\n"), ParseError);
	EXPECT_THROW(parse_ascii_list("10 00 ima-ng sha256:00\n"), ParseError);
	EXPECT_THROW(parse_ascii_list("10 00 ima-sig sha256:00 /f \n"), ParseError);
}

KTAP_TEST(template_digest_verification)
{
	for (HashAlgo algo : {HashAlgo::sha1, HashAlgo::sha256}) {
		ktap::ScopedContext context(std::string(hash_name(algo)));
		Record record = make_ima_ng_record(synthetic_event(3), algo);
		HashAlgo other = algo == HashAlgo::sha1 ? HashAlgo::sha256 : HashAlgo::sha1;

		EXPECT_TRUE(template_digest_matches(record, algo));
		EXPECT_FALSE(template_digest_matches(record, other));
		EXPECT_TRUE(template_digest_matches(
			make_ima_ng_violation("sha256", "/measure/busy", algo), algo));

		Record tampered = record;
		tampered.template_data.back() ^= 1;
		EXPECT_FALSE(template_digest_matches(tampered, algo));
	}
}

KTAP_TEST(template_digest_of_another_algorithm)
{
	ImaNgEvent event = synthetic_event(4);
	Record violation = make_ima_ng_violation("sha256", "/measure/busy", HashAlgo::sha1);

	EXPECT_EQ(with_template_digest(make_ima_ng_record(event, HashAlgo::sha1), HashAlgo::sha256),
		  make_ima_ng_record(event, HashAlgo::sha256));
	EXPECT_EQ(with_template_digest(violation, HashAlgo::sha256),
		  make_ima_ng_violation("sha256", "/measure/busy", HashAlgo::sha256));
}

/* PCR values computed independently (Python hashlib) for the same records. */
KTAP_TEST(replay_matches_independent_values)
{
	EXPECT_EQ(to_hex(replay_pcr(synthetic_records(3, HashAlgo::sha1), HashAlgo::sha1)),
		  "6ff465ffcb0278a0d1a13d97ebd0c88ba892f1c4");
	EXPECT_EQ(to_hex(replay_pcr(synthetic_records(3, HashAlgo::sha256), HashAlgo::sha256)),
		  "431975c924776fe7e2371f0762f9f2fee2050c231daf4ce694b3294546c10dda");

	/* A violation third: extended with 0xff bytes. */
	for (HashAlgo algo : {HashAlgo::sha1, HashAlgo::sha256}) {
		std::vector<Record> records = synthetic_records(4, algo);
		records[2] = make_ima_ng_violation("sha256", "/measure/f2", algo);
		std::string expected = algo == HashAlgo::sha1
			? "09468bb6198e17d3b21b958ac07f37b60e2e3116"
			: "c177fc85f6d82b4f651bfd34786cbec62d3c80501574854f8cc151e2a73e7f94";
		EXPECT_EQ(to_hex(replay_pcr(records, algo)), expected);
	}
}

KTAP_TEST(replay_selects_pcr_and_checks_digest_size)
{
	std::vector<Record> records = synthetic_records(3, HashAlgo::sha256);
	Bytes pcr10 = replay_pcr(records, HashAlgo::sha256);

	std::vector<Record> mixed = records;
	mixed.insert(mixed.begin() + 1,
		     make_ima_ng_record(synthetic_event(7), HashAlgo::sha256, 11));
	PcrReplay replay(HashAlgo::sha256);
	replay.extend(mixed);
	EXPECT_EQ(replay.value(), pcr10);
	EXPECT_EQ(replay.extended(), 3u);

	/* PCR 11 holds the one record extended into it. */
	Bytes pcr11_extension(32, 0);
	append(pcr11_extension, mixed[1].template_digest);
	EXPECT_EQ(replay_pcr(mixed, HashAlgo::sha256, 11), hash(HashAlgo::sha256, pcr11_extension));

	EXPECT_EQ(replay_pcr({}, HashAlgo::sha1), Bytes(20, 0));
	/* sha1 template digests cannot replay the sha256 bank. */
	EXPECT_THROW(replay_pcr(synthetic_records(1, HashAlgo::sha1), HashAlgo::sha256),
		     std::invalid_argument);
}

/* Saved groups followed by the rest replay like the whole list. */
KTAP_TEST(replay_of_groups_equals_replay_of_whole)
{
	std::vector<Record> records = synthetic_records(7, HashAlgo::sha1);
	PcrReplay replay(HashAlgo::sha1);

	replay.extend(std::vector<Record>(records.begin(), records.begin() + 2));
	replay.extend(std::vector<Record>(records.begin() + 2, records.begin() + 5));
	replay.extend(std::vector<Record>(records.begin() + 5, records.end()));
	EXPECT_EQ(replay.value(), replay_pcr(records, HashAlgo::sha1));
	EXPECT_EQ(replay.extended(), records.size());
}

KTAP_TEST(evmctl_pcrs_file_format)
{
	std::vector<Bytes> pcrs(12, Bytes(20, 0));
	pcrs[10] = from_hex("6ff465ffcb0278a0d1a13d97ebd0c88ba892f1c4");
	std::string text = format_evmctl_pcrs(pcrs);

	EXPECT_TRUE(text.starts_with("PCR-00: 0000000000000000000000000000000000000000\n"
				     "PCR-01: "));
	EXPECT_NE(text.find("\nPCR-10: 6ff465ffcb0278a0d1a13d97ebd0c88ba892f1c4\n"
			    "PCR-11: "),
		  std::string::npos);
	EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 12);
}

/* PCRs 0-23 with PCR 10 replayed from @records. */
static std::vector<Bytes> pcrs_for(const std::vector<Record> &records, HashAlgo bank)
{
	std::vector<Bytes> pcrs(kTpmPcrCount, Bytes(digest_size(bank), 0));

	pcrs[kImaPcr] = replay_pcr(records, bank);
	return pcrs;
}

static void expect_evmctl_verdict(const std::vector<Record> &sha1_records,
				  const std::vector<Bytes> &pcrs, HashAlgo bank, bool validated)
{
	EvmctlResult result = evmctl_validate(serialize_binary_list(sha1_records),
					      hash_name(bank), pcrs);
	if (result.validated != validated)
		ktap::note(result.command, " exited with ", result.exit_code, ":\n", result.output);
	EXPECT_EQ(result.validated, validated);
}

/* evmctl agrees with this library's writer and replay, and can say no. */
KTAP_TEST(evmctl_checks_synthetic_lists)
{
	if (!command_exists(std::string(kEvmctl)))
		ktap::skip("evmctl is not installed");

	std::vector<Record> sha1_records = synthetic_records(5, HashAlgo::sha1);
	std::vector<Record> sha256_records = synthetic_records(5, HashAlgo::sha256);
	sha1_records[2] = make_ima_ng_violation("sha256", "/measure/f2", HashAlgo::sha1);
	sha256_records[2] = make_ima_ng_violation("sha256", "/measure/f2", HashAlgo::sha256);

	std::vector<Record> gap = sha1_records;
	gap.erase(gap.begin() + 1);

	for (HashAlgo bank : {HashAlgo::sha1, HashAlgo::sha256}) {
		ktap::ScopedContext context(std::string(hash_name(bank)) + " bank");
		const std::vector<Record> &bank_records =
			bank == HashAlgo::sha1 ? sha1_records : sha256_records;
		std::vector<Bytes> pcrs = pcrs_for(bank_records, bank);

		expect_evmctl_verdict(sha1_records, pcrs, bank, true);
		expect_evmctl_verdict(gap, pcrs, bank, false);
	}
}

KTAP_TEST(kernel_config_parsing)
{
	KernelConfig config = KernelConfig::parse("#\n"
						  "# Automatically generated file; DO NOT EDIT.\n"
						  "CONFIG_IMA=y\n"
						  "# CONFIG_IMA_STAGING is not set\n"
						  "CONFIG_TCG_TIS=m\n"
						  "CONFIG_IMA_MEASURE_PCR_IDX=10\n"
						  "CONFIG_IMA_DEFAULT_TEMPLATE=\"ima-ng\"");

	EXPECT_TRUE(config.is_builtin("CONFIG_IMA"));
	EXPECT_FALSE(config.is_builtin("CONFIG_IMA_STAGING"));
	EXPECT_FALSE(config.value("CONFIG_IMA_STAGING").has_value());
	EXPECT_FALSE(config.is_builtin("CONFIG_TCG_TIS"));
	EXPECT_EQ(config.value("CONFIG_TCG_TIS").value_or(""), "m");
	EXPECT_EQ(config.value("CONFIG_IMA_MEASURE_PCR_IDX").value_or(""), "10");
	EXPECT_EQ(config.value("CONFIG_IMA_DEFAULT_TEMPLATE").value_or(""), "\"ima-ng\"");
}

KTAP_TEST(kernel_cmdline_parsing)
{
	KernelCmdline cmdline = KernelCmdline::parse(
		"console=ttyS0 ima_flush_htable  ima_policy=tcb dyndbg=\"file ima* +p\"\n");

	EXPECT_TRUE(cmdline.has("ima_flush_htable"));
	EXPECT_EQ(cmdline.value("ima_flush_htable").value_or("unset"), "");
	EXPECT_EQ(cmdline.value("console").value_or(""), "ttyS0");
	EXPECT_EQ(cmdline.value("ima_policy").value_or(""), "tcb");
	EXPECT_EQ(cmdline.value("dyndbg").value_or(""), "file ima* +p");
	EXPECT_FALSE(cmdline.has("ima_flush"));
	EXPECT_FALSE(cmdline.has("tcb"));
}

KTAP_TEST(stock_list_file_names)
{
	using Algos = std::vector<std::string>;

	EXPECT_EQ(stock_list_algos({"sha1", "sha256"}), (Algos{"sha1", "sha256"}));
	EXPECT_EQ(stock_list_algos({"sha256", "sha384"}), (Algos{"sha256", "sha384", "sha1"}));
	EXPECT_EQ(stock_list_algos({}), Algos{"sha1"});

	EXPECT_EQ(list_file_name(ListFormat::binary, "sha256"),
		  "binary_runtime_measurements_sha256");
	EXPECT_EQ(list_file_name(ListFormat::ascii, "sha1", true),
		  "ascii_runtime_measurements_sha1_staged");
	EXPECT_EQ(list_symlink_name(ListFormat::binary), "binary_runtime_measurements");
	EXPECT_EQ(list_symlink_name(ListFormat::ascii, true), "ascii_runtime_measurements_staged");
	EXPECT_EQ(ima_path("violations"), "/sys/kernel/security/ima/violations");
}

KTAP_TEST(run_command_captures_output_and_exit_code)
{
	CommandResult result = run_command({"sh", "-c", "echo out; echo err >&2; exit 3"});

	EXPECT_EQ(result.exit_code, 3);
	EXPECT_EQ(result.output, "out\nerr\n");
	EXPECT_EQ(run_command({"/nonexistent/program"}).exit_code, 127);
}

KTAP_TEST(child_process_is_killed_and_reaped)
{
	pid_t pid;
	{
		ChildProcess child = ChildProcess::fork_and_run([] {
			::pause();
			return 0;
		});
		pid = child.pid();
	}
	/* Reaped by the destructor: no such child any more. */
	EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
	EXPECT_EQ(errno, ECHILD);

	ChildProcess exits = ChildProcess::fork_and_run([] { return 42; });
	EXPECT_EQ(exits.wait(), 42);
	ChildProcess throws = ChildProcess::fork_and_run([]() -> int {
		throw std::runtime_error("expected in the child");
	});
	EXPECT_EQ(throws.wait(), 127);
}

/*
 * A check that fails in a child must not pass unseen, nor unwind the child
 * into this test: each ends the child with exit code 1. The diagnostics the
 * failing checks print are expected; they come from the children.
 */
KTAP_TEST(checks_and_skips_in_a_child_fail_the_child)
{
	ktap::note("the next failure reports come from children, on purpose");
	ChildProcess expects = ChildProcess::fork_and_run([] {
		EXPECT_EQ(1, 2);
		return 0;
	});
	EXPECT_EQ(expects.wait(), 1);
	ChildProcess asserts = ChildProcess::fork_and_run([]() -> int {
		ASSERT_TRUE(false);
		return 0;
	});
	EXPECT_EQ(asserts.wait(), 1);
	ChildProcess skips = ChildProcess::fork_and_run([]() -> int {
		ktap::skip("expected in the child");
	});
	EXPECT_EQ(skips.wait(), 1);
	ChildProcess passes = ChildProcess::fork_and_run([] {
		EXPECT_EQ(1, 1);
		return 0;
	});
	EXPECT_EQ(passes.wait(), 0);
}

KTAP_TEST(spawned_command_gets_its_environment_and_files)
{
	TempFile out("ima_lib_test_out");
	UniqueFd out_fd = open_or_throw(out.path(), O_WRONLY | O_TRUNC);
	PreparedCommand command({"sh", "-c", "echo \"${IMA_LIB_TEST_VALUE-unset}\""},
				"IMA_LIB_TEST_VALUE", "set by the test");

	EXPECT_EQ(ChildProcess::spawn(command, {out_fd.get(), -1}).wait(), 0);
	EXPECT_EQ(read_text_file(out.path()), "set by the test\n");

	::setenv("IMA_LIB_TEST_VALUE", "inherited", 1);
	PreparedCommand unset({"sh", "-c", "echo \"${IMA_LIB_TEST_VALUE-unset}\""},
			      "IMA_LIB_TEST_VALUE", std::nullopt);
	PreparedCommand inherits({"sh", "-c", "echo \"${IMA_LIB_TEST_VALUE-unset}\""});
	::unsetenv("IMA_LIB_TEST_VALUE");
	EXPECT_EQ(ChildProcess::spawn(unset, {out_fd.get(), -1}).wait(), 0);
	EXPECT_EQ(ChildProcess::spawn(inherits, {out_fd.get(), -1}).wait(), 0);
	EXPECT_EQ(read_text_file(out.path()), "set by the test\nunset\ninherited\n");

	PreparedCommand missing({"/nonexistent/program"});
	EXPECT_EQ(ChildProcess::spawn(missing, {out_fd.get(), out_fd.get()}).wait(), 127);
	EXPECT_EQ(find_command("/nonexistent/program"), std::optional<std::string>("/nonexistent/program"));
	EXPECT_FALSE(find_command("no-such-command-anywhere").has_value());
	EXPECT_TRUE(find_command("sh").has_value());
}

KTAP_TEST(temp_file_and_whole_file_io)
{
	std::string path;
	Bytes data(200000);
	for (std::size_t i = 0; i < data.size(); i++)
		data[i] = static_cast<std::uint8_t>(i % 251);
	{
		TempFile file("ima_lib_test");
		path = file.path();
		file.write(data);
		EXPECT_EQ(read_file(path), data);
		file.write("text");
		EXPECT_EQ(read_text_file(path), "text");
	}
	EXPECT_FALSE(path_exists(path));
}

KTAP_TEST(errors_carry_errno)
{
	OpenResult missing = try_open("/nonexistent/file", O_RDONLY);
	EXPECT_EQ(missing.error, ENOENT);
	EXPECT_FALSE(static_cast<bool>(missing.fd));

	try {
		read_file("/nonexistent/file");
		ktap::fail_at(__FILE__, __LINE__, "read_file of a missing file did not throw");
	} catch (const std::system_error &e) {
		EXPECT_EQ(e.code().value(), ENOENT);
		EXPECT_NE(std::string(e.what()).find("/nonexistent/file"), std::string::npos);
	}

	TempFile file("ima_lib_test");
	OpenResult read_only = try_open(file.path(), O_RDONLY);
	ASSERT_EQ(read_only.error, 0);
	EXPECT_EQ(try_write(read_only.fd.get(), "x"), -EBADF);
}

KTAP_TEST(measurement_event_of_a_created_file)
{
	ImaNgEvent event = measurement_event("/measure/m-1", HashAlgo::sha256);

	EXPECT_EQ(measurement_content("/measure/m-1"), "/measure/m-1\n");
	EXPECT_EQ(event.digest_algo, "sha256");
	EXPECT_EQ(event.file_digest, hash(HashAlgo::sha256, as_bytes("/measure/m-1\n")));
	EXPECT_EQ(event.file_name, "/measure/m-1");
}

KTAP_TEST(errno_names)
{
	EXPECT_EQ(errno_name(EBUSY), "EBUSY");
	EXPECT_EQ(errno_name(ENOENT), "ENOENT");
	EXPECT_EQ(errno_name(0x7fff), "errno 32767");
}

KTAP_TEST(read_exact_reads_whole_messages)
{
	Pipe pipe;
	Bytes message = to_bytes("twelve bytes");

	write_all(pipe.write_end.get(), message);
	write_all(pipe.write_end.get(), as_bytes("tail"));
	EXPECT_EQ(read_exact(pipe.read_end.get(), message.size()), message);
	pipe.write_end.reset();
	/* Four bytes are left: a message of eight is cut short by the end of file. */
	EXPECT_THROW(read_exact(pipe.read_end.get(), 8), std::runtime_error);
}

KTAP_TEST(looping_child_reports_when_stopped)
{
	unsigned long steps = 0;
	LoopingChild counter([&steps]() { steps++; }, [&steps]() { return std::to_string(steps); });

	counter.pause();
	counter.resume();
	/* The child counts in its own memory: the report carries its count. */
	EXPECT_GE(std::stoul(counter.stop()), 0ul);
	EXPECT_EQ(steps, 0ul);

	/* Stopped before or after its first step, the child fails. */
	auto fail = []() -> std::string { throw std::runtime_error("expected in the child"); };
	LoopingChild failing([fail]() { fail(); }, fail);
	EXPECT_THROW(failing.stop(), std::runtime_error);
}

int main(int argc, char **argv)
{
	return ktap::run(argc, argv);
}
