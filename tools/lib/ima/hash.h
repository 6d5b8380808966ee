/* SPDX-License-Identifier: GPL-2.0 */
/*
 * SHA-1 and SHA-256, from nettle (Debian: nettle-dev, which ships the static
 * libnettle.a the programs link).
 */
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>

#include <nettle/sha1.h>
#include <nettle/sha2.h>

#include "ima/bytes.h"

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

/* A hash whose algorithm is chosen at run time. */
class Hasher {
public:
	explicit Hasher(HashAlgo algo);
	Hasher &update(ByteView data);
	/* The digest; the object must not be used afterwards. */
	Bytes finish();

private:
	std::variant<sha1_ctx, sha256_ctx> state_;
};

Bytes hash(HashAlgo algo, ByteView data);

inline constexpr std::size_t kSha256BlockSize = SHA256_BLOCK_SIZE;

/* The state of SHA-256 after a whole number of 64-byte blocks. */
struct Sha256Midstate {
	std::array<std::uint32_t, 8> state{};
	std::uint64_t blocks = 0;
};

/*
 * SHA-256 that can be stopped at a block boundary and resumed there: a
 * digest of a long input checked from its middle, from the state saved
 * when it was first hashed. The state is that of nettle's struct
 * sha256_ctx, whose fields nettle's header declares: eight words, then the
 * count of whole blocks (nettle 3; nettle 2 counted bits in two words).
 */
class ResumableSha256 {
public:
	ResumableSha256();
	explicit ResumableSha256(const Sha256Midstate &midstate);
	ResumableSha256 &update(ByteView data);
	/* Bytes hashed so far, those before the midstate included. */
	std::uint64_t length() const;
	/* The state now; std::logic_error unless length() is a multiple of 64. */
	Sha256Midstate midstate() const;
	/* The digest; the object must not be used afterwards. */
	Bytes finish();

private:
	sha256_ctx ctx_;
};

static_assert(sizeof(sha256_ctx::state) == sizeof(Sha256Midstate::state),
	      "nettle's SHA-256 state is eight 32-bit words");

} // namespace ima
