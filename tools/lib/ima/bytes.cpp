// SPDX-License-Identifier: GPL-2.0
#include "ima/bytes.h"

#include <algorithm>
#include <stdexcept>

namespace ima {

ByteView as_bytes(std::string_view text)
{
	return {reinterpret_cast<const std::uint8_t *>(text.data()), text.size()};
}

Bytes to_bytes(std::string_view text)
{
	ByteView view = as_bytes(text);
	return Bytes(view.begin(), view.end());
}

std::string to_hex(ByteView bytes)
{
	static constexpr char digits[] = "0123456789abcdef";
	std::string hex;

	hex.reserve(bytes.size() * 2);
	for (std::uint8_t byte : bytes) {
		hex.push_back(digits[byte >> 4]);
		hex.push_back(digits[byte & 0xf]);
	}
	return hex;
}

static int hex_digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

Bytes from_hex(std::string_view hex)
{
	if (hex.size() % 2 != 0)
		throw std::invalid_argument("odd number of hex digits: '" +
					    std::string(hex) + "'");
	Bytes bytes;
	bytes.reserve(hex.size() / 2);
	for (std::size_t i = 0; i < hex.size(); i += 2) {
		int high = hex_digit_value(hex[i]);
		int low = hex_digit_value(hex[i + 1]);

		if (high < 0 || low < 0)
			throw std::invalid_argument("not a hex string: '" +
						    std::string(hex) + "'");
		bytes.push_back(static_cast<std::uint8_t>(high << 4 | low));
	}
	return bytes;
}

bool is_all_zero(ByteView bytes)
{
	return std::all_of(bytes.begin(), bytes.end(),
			   [](std::uint8_t byte) { return byte == 0; });
}

bool starts_with(ByteView bytes, ByteView prefix)
{
	return bytes.size() >= prefix.size() &&
	       std::equal(prefix.begin(), prefix.end(), bytes.begin());
}

void append(Bytes &out, ByteView bytes)
{
	out.insert(out.end(), bytes.begin(), bytes.end());
}

void append_le32(Bytes &out, std::uint32_t value)
{
	for (int shift = 0; shift < 32; shift += 8)
		out.push_back(static_cast<std::uint8_t>(value >> shift));
}

void append_le64(Bytes &out, std::uint64_t value)
{
	for (int shift = 0; shift < 64; shift += 8)
		out.push_back(static_cast<std::uint8_t>(value >> shift));
}

std::uint32_t load_le32(ByteView bytes, std::size_t offset)
{
	std::uint32_t value = 0;

	for (int i = 3; i >= 0; i--)
		value = value << 8 | bytes[offset + i];
	return value;
}

std::uint64_t load_le64(ByteView bytes, std::size_t offset)
{
	std::uint64_t value = 0;

	for (int i = 7; i >= 0; i--)
		value = value << 8 | bytes[offset + i];
	return value;
}

} // namespace ima
