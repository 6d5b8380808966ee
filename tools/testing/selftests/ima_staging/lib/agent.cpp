// SPDX-License-Identifier: GPL-2.0
#include "lib/agent.h"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <sys/random.h>
#include <system_error>

#include "ima/ima_fs.h"
#include "ima/records.h"
#include "ima/replay.h"
#include "lib/staging.h"
#include "ima/sys.h"

namespace ima {

TempDir::TempDir(std::string_view prefix)
{
	const char *tmp = std::getenv("TMPDIR");
	std::string pattern = std::string(tmp ? tmp : "/tmp") + "/" + std::string(prefix) + ".XXXXXX";

	if (!::mkdtemp(pattern.data()))
		throw_errno("mkdtemp " + pattern);
	path_ = pattern;
}

TempDir::~TempDir()
{
	std::error_code ignored;

	std::filesystem::remove_all(path_, ignored);
}

static std::string run_tpm2(const std::vector<std::string> &argv)
{
	CommandResult result = run_command(argv);

	if (result.exit_code != 0)
		throw std::runtime_error(command_line(argv) + " failed (" +
					 std::to_string(result.exit_code) + "): " + result.output);
	return result.output;
}

AttestationKey::AttestationKey() : dir_("ima_agent")
{
	/* The kernel's resource manager flushes what each command leaves loaded. */
	::setenv("TPM2TOOLS_TCTI", "device:/dev/tpmrm0", 0);
	run_tpm2({"tpm2_createprimary", "-Q", "-C", "o", "-g", "sha256", "-G", "ecc", "-c",
		  dir_.file("primary.ctx")});
	run_tpm2({"tpm2_create", "-Q", "-C", dir_.file("primary.ctx"), "-g", "sha256", "-G",
		  "ecc256:ecdsa-sha256:null", "-a",
		  "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign", "-u",
		  dir_.file("ak.pub"), "-r", dir_.file("ak.priv")});
	run_tpm2({"tpm2_load", "-Q", "-C", dir_.file("primary.ctx"), "-u", dir_.file("ak.pub"),
		  "-r", dir_.file("ak.priv"), "-c", dir_.file("ak.ctx")});
	run_tpm2({"tpm2_readpublic", "-Q", "-c", dir_.file("ak.ctx"), "-f", "pem", "-o",
		  dir_.file("ak.pem")});
}

static Bytes fresh_nonce()
{
	Bytes nonce(16);

	if (::getrandom(nonce.data(), nonce.size(), 0) != static_cast<ssize_t>(nonce.size()))
		throw_errno("getrandom");
	return nonce;
}

/* Reads the big-endian fields of a TPM structure, checking its bounds. */
class TpmReader {
public:
	explicit TpmReader(ByteView data) : data_(data) {}

	std::uint64_t number(std::size_t size)
	{
		std::uint64_t value = 0;

		for (std::uint8_t byte : take(size))
			value = value << 8 | byte;
		return value;
	}
	/* A TPM2B: a 16-bit size, then that many bytes. */
	Bytes sized() { return bytes(number(2)); }
	Bytes bytes(std::size_t size)
	{
		ByteView view = take(size);
		return Bytes(view.begin(), view.end());
	}

private:
	ByteView take(std::size_t size)
	{
		if (size > data_.size() - at_)
			throw std::runtime_error("TPMS_ATTEST too short");
		ByteView view = data_.subspan(at_, size);
		at_ += size;
		return view;
	}

	ByteView data_;
	std::size_t at_ = 0;
};

/*
 * The PCR digest of a quote's TPMS_ATTEST (TPM 2.0 Part 2, 10.12), checking
 * that it quotes PCR 10 of the sha256 bank alone, with @nonce.
 */
static Bytes attested_pcr10_digest(ByteView attest, const Bytes &nonce)
{
	constexpr std::uint32_t kGenerated = 0xff544347;	/* TPM_GENERATED_VALUE */
	constexpr std::uint16_t kAttestQuote = 0x8018;
	constexpr std::uint16_t kAlgSha256 = 0x000b;
	const Bytes pcr10_only = {0x00, 0x04, 0x00};
	TpmReader reader(attest);

	if (reader.number(4) != kGenerated || reader.number(2) != kAttestQuote)
		throw std::runtime_error("not a quote");
	reader.sized();					/* qualifiedSigner */
	if (reader.sized() != nonce)			/* extraData */
		throw std::runtime_error("the quote has another nonce");
	reader.bytes(17 + 8);				/* clockInfo, firmwareVersion */
	if (reader.number(4) != 1 || reader.number(2) != kAlgSha256 ||
	    reader.bytes(reader.number(1)) != pcr10_only)
		throw std::runtime_error("the quote selects other PCRs than sha256 PCR 10");
	return reader.sized();				/* pcrDigest */
}

Bytes AttestationKey::quote_pcr10()
{
	Bytes nonce = fresh_nonce();

	/* No -o: tpm2_quote would read the PCRs again, racing new measurements. */
	run_tpm2({"tpm2_quote", "-Q", "-c", dir_.file("ak.ctx"), "-l", "sha256:10", "-q",
		  to_hex(nonce), "-g", "sha256", "-m", dir_.file("quote.msg"), "-s",
		  dir_.file("quote.sig")});
	run_tpm2({"tpm2_checkquote", "-Q", "-u", dir_.file("ak.pem"), "-g", "sha256", "-m",
		  dir_.file("quote.msg"), "-s", dir_.file("quote.sig"), "-q", to_hex(nonce)});
	return attested_pcr10_digest(read_file(dir_.file("quote.msg")), nonce);
}

Bytes pcr_composite_digest(const Bytes &pcr_value)
{
	return hash(HashAlgo::sha256, pcr_value);
}

/*
 * How many of @current, replayed after @saved, give the PCR value whose
 * digest was @quoted: the quoted records. None if no prefix does.
 */
static std::optional<std::size_t> quoted_prefix(const std::vector<Record> &saved,
						const std::vector<Record> &current,
						const Bytes &quoted)
{
	PcrReplay replay(HashAlgo::sha256);

	replay.extend(saved);
	if (pcr_composite_digest(replay.value()) == quoted)
		return 0;
	for (std::size_t i = 0; i < current.size(); i++) {
		replay.extend(current[i]);
		if (pcr_composite_digest(replay.value()) == quoted)
			return i + 1;
	}
	return std::nullopt;
}

AgentRound agent_round(int fd, AttestationKey &key)
{
	AgentRound round;
	std::vector<Record> saved = parse_binary_list(saved_store().saved("sha256"), 32);

	round.quoted_digest = key.quote_pcr10();
	/* Read after the quote: the list holds every quoted record, maybe more. */
	std::vector<Record> current = read_binary_list("sha256");
	std::optional<std::size_t> n = quoted_prefix(saved, current, round.quoted_digest);
	if (!n)
		throw std::runtime_error("no prefix of the " + std::to_string(current.size()) +
					 " current records replays to the quoted PCR 10 digest " +
					 to_hex(round.quoted_digest));
	round.quoted = *n;
	round.left = current.size() - *n;
	if (round.quoted == 0)
		return round;

	int error = save_and_delete_oldest(fd, round.quoted);
	if (error)
		throw std::system_error(error, std::generic_category(),
					"deleting " + std::to_string(round.quoted) + " records");
	return round;
}

} // namespace ima
