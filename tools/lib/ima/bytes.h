/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Byte buffers, hex text and the little-endian integers of the IMA formats.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ima {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

/* The bytes of a string, without any terminator. */
ByteView as_bytes(std::string_view text);
Bytes to_bytes(std::string_view text);

/* Lower-case hex, two digits per byte. */
std::string to_hex(ByteView bytes);

/* Parses hex digits (either case); throws std::invalid_argument otherwise. */
Bytes from_hex(std::string_view hex);

bool is_all_zero(ByteView bytes);

/* Whether @bytes begins with @prefix. */
bool starts_with(ByteView bytes, ByteView prefix);

void append(Bytes &out, ByteView bytes);
void append_le32(Bytes &out, std::uint32_t value);
void append_le64(Bytes &out, std::uint64_t value);

/* Reads a little-endian u32 or u64 at @offset; the caller checks the bounds. */
std::uint32_t load_le32(ByteView bytes, std::size_t offset);
std::uint64_t load_le64(ByteView bytes, std::size_t offset);

} // namespace ima
