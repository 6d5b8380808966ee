/* SPDX-License-Identifier: GPL-2.0 */
/*
 * SHA-1 and SHA-256 (FIPS 180-4), self-contained so that the test programs
 * link statically without a crypto library.
 */
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>

#include "lib/bytes.h"

namespace ima {

enum class HashAlgo { sha1, sha256 };

/* The kernel's name of the algorithm ("sha1", "sha256"). */
std::string_view hash_name(HashAlgo algo);
std::optional<HashAlgo> hash_algo_from_name(std::string_view name);
std::size_t digest_size(HashAlgo algo);

/*
 * Digest size of a hash algorithm as the kernel names it in TPM banks and
 * measurement file suffixes (sha1, sha256, sha384, sha512, sm3).
 */
std::optional<std::size_t> digest_size_by_name(std::string_view name);

/* The Merkle-Damgard padding and 64-byte block buffering shared by both. */
template <typename Compressor> class BlockHash {
public:
	void update(ByteView data);

protected:
	/* Pads the message and processes the final block(s). */
	void pad();

	Compressor compressor_;

private:
	std::array<std::uint8_t, 64> block_{};
	std::size_t block_used_ = 0;
	std::uint64_t total_bytes_ = 0;
};

struct Sha1Compressor {
	std::array<std::uint32_t, 5> state{0x67452301, 0xefcdab89, 0x98badcfe,
					   0x10325476, 0xc3d2e1f0};
	void compress(const std::uint8_t *block);
};

struct Sha256Compressor {
	std::array<std::uint32_t, 8> state{0x6a09e667, 0xbb67ae85, 0x3c6ef372,
					   0xa54ff53a, 0x510e527f, 0x9b05688c,
					   0x1f83d9ab, 0x5be0cd19};
	void compress(const std::uint8_t *block);
};

class Sha1 : public BlockHash<Sha1Compressor> {
public:
	/* The digest; the object must not be used afterwards. */
	Bytes finish();
};

class Sha256 : public BlockHash<Sha256Compressor> {
public:
	Bytes finish();
};

/* A hash whose algorithm is chosen at run time. */
class Hasher {
public:
	explicit Hasher(HashAlgo algo);
	Hasher &update(ByteView data);
	Bytes finish();

private:
	std::variant<Sha1, Sha256> state_;
};

Bytes hash(HashAlgo algo, ByteView data);

} // namespace ima
