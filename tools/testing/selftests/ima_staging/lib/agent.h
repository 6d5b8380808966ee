/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The attestation agent workflow that computes N from a TPM quote: quote PCR
 * 10 with an attestation key, verify the quote, replay the records until the
 * running value equals the quoted PCR; those records are the ones the quote
 * covers. Save them, then delete exactly them by writing their number.
 *
 * The TPM is used through tpm2-tools (tpm2_createprimary, tpm2_create,
 * tpm2_load, tpm2_readpublic, tpm2_quote, tpm2_checkquote), on the kernel's
 * resource manager /dev/tpmrm0 unless TPM2TOOLS_TCTI says otherwise.
 */
#pragma once

#include <cstddef>
#include <string>

#include "ima/bytes.h"

namespace ima {

/* A directory created under $TMPDIR and removed, with its files, on destruction. */
class TempDir {
public:
	explicit TempDir(std::string_view prefix = "ima_staging");
	TempDir(const TempDir &) = delete;
	TempDir &operator=(const TempDir &) = delete;
	~TempDir();

	const std::string &path() const noexcept { return path_; }
	std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

private:
	std::string path_;
};

/* A restricted signing key in the TPM's owner hierarchy. */
class AttestationKey {
public:
	/* Creates the key; throws if a tpm2-tools command fails. */
	AttestationKey();

	/*
	 * Quotes PCR 10 of the sha256 bank with a fresh nonce, verifies the
	 * quote's signature and nonce with tpm2_checkquote and the key's
	 * public part, and returns the PCR digest the quote attests: the
	 * sha256 of the PCR value.
	 */
	Bytes quote_pcr10();

private:
	TempDir dir_;
};

/* What one agent round did. */
struct AgentRound {
	std::size_t quoted = 0;		/* current records the quote covered: N */
	std::size_t left = 0;		/* records appended after the quote, kept */
	Bytes quoted_digest;		/* the quote's digest of sha256 PCR 10 */
};

/* The digest a quote of the sha256 PCR 10 alone attests for @pcr_value. */
Bytes pcr_composite_digest(const Bytes &pcr_value);

/*
 * One round on @fd, an original measurement file the caller holds open for
 * write across the whole round: quote, read the current lists, find the
 * prefix of the sha256 list that, replayed after the saved records, gives
 * the quoted PCR, save that prefix of every list and write its length.
 * Throws if no prefix matches or the deletion fails.
 */
AgentRound agent_round(int fd, AttestationKey &key);

} // namespace ima
