/* SPDX-License-Identifier: GPL-2.0 */
/*
 * SHA-1 and SHA-256, from nettle (Debian: nettle-dev, which ships the static
 * libnettle.a the programs link).
 */
#pragma once

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

} // namespace ima
