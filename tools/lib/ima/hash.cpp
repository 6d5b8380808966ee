// SPDX-License-Identifier: GPL-2.0
#include "ima/hash.h"

#include <algorithm>
#include <stdexcept>

namespace ima {

std::string_view hash_name(HashAlgo algo)
{
	return algo == HashAlgo::sha1 ? "sha1" : "sha256";
}

std::optional<HashAlgo> hash_algo_from_name(std::string_view name)
{
	if (name == "sha1")
		return HashAlgo::sha1;
	if (name == "sha256")
		return HashAlgo::sha256;
	return std::nullopt;
}

std::size_t digest_size(HashAlgo algo)
{
	return algo == HashAlgo::sha1 ? 20 : 32;
}

std::optional<std::size_t> digest_size_by_name(std::string_view name)
{
	if (name == "sha1")
		return 20;
	if (name == "sha256" || name == "sm3")
		return 32;
	if (name == "sha384")
		return 48;
	if (name == "sha512")
		return 64;
	return std::nullopt;
}

namespace {

std::variant<sha1_ctx, sha256_ctx> make_hash_state(HashAlgo algo)
{
	if (algo == HashAlgo::sha1) {
		sha1_ctx ctx;

		sha1_init(&ctx);
		return ctx;
	}
	sha256_ctx ctx;

	sha256_init(&ctx);
	return ctx;
}

} // namespace

Hasher::Hasher(HashAlgo algo) : state_(make_hash_state(algo))
{
}

Hasher &Hasher::update(ByteView data)
{
	if (auto *ctx = std::get_if<sha1_ctx>(&state_))
		sha1_update(ctx, data.size(), data.data());
	else
		sha256_update(&std::get<sha256_ctx>(state_), data.size(), data.data());
	return *this;
}

Bytes Hasher::finish()
{
	if (auto *ctx = std::get_if<sha1_ctx>(&state_)) {
		Bytes digest(SHA1_DIGEST_SIZE);

		sha1_digest(ctx, digest.size(), digest.data());
		return digest;
	}
	Bytes digest(SHA256_DIGEST_SIZE);

	sha256_digest(&std::get<sha256_ctx>(state_), digest.size(), digest.data());
	return digest;
}

Bytes hash(HashAlgo algo, ByteView data)
{
	return Hasher(algo).update(data).finish();
}

ResumableSha256::ResumableSha256()
{
	sha256_init(&ctx_);
}

ResumableSha256::ResumableSha256(const Sha256Midstate &midstate)
{
	sha256_init(&ctx_);
	std::copy(midstate.state.begin(), midstate.state.end(), ctx_.state);
	ctx_.count = midstate.blocks;
}

ResumableSha256 &ResumableSha256::update(ByteView data)
{
	sha256_update(&ctx_, data.size(), data.data());
	return *this;
}

std::uint64_t ResumableSha256::length() const
{
	return ctx_.count * kSha256BlockSize + ctx_.index;
}

Sha256Midstate ResumableSha256::midstate() const
{
	Sha256Midstate midstate;

	if (ctx_.index)
		throw std::logic_error("a SHA-256 midstate inside a block");
	std::copy(std::begin(ctx_.state), std::end(ctx_.state), midstate.state.begin());
	midstate.blocks = ctx_.count;
	return midstate;
}

Bytes ResumableSha256::finish()
{
	Bytes digest(SHA256_DIGEST_SIZE);

	sha256_digest(&ctx_, digest.size(), digest.data());
	return digest;
}

} // namespace ima
