// SPDX-License-Identifier: GPL-2.0
#include "lib/hash.h"

#include <algorithm>
#include <bit>
#include <cstring>

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

static std::uint32_t load_be32(const std::uint8_t *p)
{
	return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 |
	       std::uint32_t(p[2]) << 8 | std::uint32_t(p[3]);
}

template <typename Compressor> void BlockHash<Compressor>::update(ByteView data)
{
	total_bytes_ += data.size();
	while (!data.empty()) {
		std::size_t take = std::min(data.size(), block_.size() - block_used_);

		std::memcpy(block_.data() + block_used_, data.data(), take);
		block_used_ += take;
		data = data.subspan(take);
		if (block_used_ == block_.size()) {
			compressor_.compress(block_.data());
			block_used_ = 0;
		}
	}
}

template <typename Compressor> void BlockHash<Compressor>::pad()
{
	std::uint64_t total_bits = total_bytes_ * 8;

	block_[block_used_++] = 0x80;
	if (block_used_ > 56) {
		std::memset(block_.data() + block_used_, 0, 64 - block_used_);
		compressor_.compress(block_.data());
		block_used_ = 0;
	}
	std::memset(block_.data() + block_used_, 0, 56 - block_used_);
	for (int i = 0; i < 8; i++)
		block_[56 + i] = static_cast<std::uint8_t>(total_bits >> (56 - 8 * i));
	compressor_.compress(block_.data());
	block_used_ = 0;
}

template <std::size_t N> static Bytes big_endian_words(const std::array<std::uint32_t, N> &words)
{
	Bytes out;

	for (std::uint32_t word : words)
		for (int shift = 24; shift >= 0; shift -= 8)
			out.push_back(static_cast<std::uint8_t>(word >> shift));
	return out;
}

void Sha1Compressor::compress(const std::uint8_t *block)
{
	std::uint32_t w[80];

	for (int i = 0; i < 16; i++)
		w[i] = load_be32(block + 4 * i);
	for (int i = 16; i < 80; i++)
		w[i] = std::rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);

	std::uint32_t a = state[0], b = state[1], c = state[2], d = state[3], e = state[4];
	for (int i = 0; i < 80; i++) {
		std::uint32_t f, k;

		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		std::uint32_t t = std::rotl(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = std::rotl(b, 30);
		b = a;
		a = t;
	}
	state[0] += a;
	state[1] += b;
	state[2] += c;
	state[3] += d;
	state[4] += e;
}

static constexpr std::uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

void Sha256Compressor::compress(const std::uint8_t *block)
{
	std::uint32_t w[64];

	for (int i = 0; i < 16; i++)
		w[i] = load_be32(block + 4 * i);
	for (int i = 16; i < 64; i++) {
		std::uint32_t s0 = std::rotr(w[i - 15], 7) ^ std::rotr(w[i - 15], 18) ^
				   (w[i - 15] >> 3);
		std::uint32_t s1 = std::rotr(w[i - 2], 17) ^ std::rotr(w[i - 2], 19) ^
				   (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}

	std::uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
	std::uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
	for (int i = 0; i < 64; i++) {
		std::uint32_t s1 = std::rotr(e, 6) ^ std::rotr(e, 11) ^ std::rotr(e, 25);
		std::uint32_t choose = (e & f) ^ (~e & g);
		std::uint32_t t1 = h + s1 + choose + sha256_k[i] + w[i];
		std::uint32_t s0 = std::rotr(a, 2) ^ std::rotr(a, 13) ^ std::rotr(a, 22);
		std::uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
		std::uint32_t t2 = s0 + majority;

		h = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	state[0] += a;
	state[1] += b;
	state[2] += c;
	state[3] += d;
	state[4] += e;
	state[5] += f;
	state[6] += g;
	state[7] += h;
}

template class BlockHash<Sha1Compressor>;
template class BlockHash<Sha256Compressor>;

Bytes Sha1::finish()
{
	pad();
	return big_endian_words(compressor_.state);
}

Bytes Sha256::finish()
{
	pad();
	return big_endian_words(compressor_.state);
}

static std::variant<Sha1, Sha256> make_hash_state(HashAlgo algo)
{
	if (algo == HashAlgo::sha1)
		return Sha1();
	return Sha256();
}

Hasher::Hasher(HashAlgo algo) : state_(make_hash_state(algo))
{
}

Hasher &Hasher::update(ByteView data)
{
	std::visit([&](auto &state) { state.update(data); }, state_);
	return *this;
}

Bytes Hasher::finish()
{
	return std::visit([](auto &state) { return state.finish(); }, state_);
}

Bytes hash(HashAlgo algo, ByteView data)
{
	return Hasher(algo).update(data).finish();
}

} // namespace ima
