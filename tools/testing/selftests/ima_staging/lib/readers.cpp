// SPDX-License-Identifier: GPL-2.0
#include "lib/readers.h"

#include <algorithm>
#include <fcntl.h>
#include <stdexcept>
#include <unistd.h>

#include "ktap.h"
#include "lib/staging.h"

namespace ima {

std::vector<PartwayReader> open_partway_readers(bool staged)
{
	std::vector<PartwayReader> readers;

	for (const std::string &algo : list_algos())
		for (ListFormat format : {ListFormat::binary, ListFormat::ascii}) {
			std::string path = ima_path(list_file_name(format, algo, staged));
			Bytes list = read_file(path);
			UniqueFd fd = open_or_throw(path, O_RDONLY);

			if (list.size() <= kPartway)
				throw std::runtime_error(path + " holds " +
							 std::to_string(list.size()) + " bytes");
			read_exact(fd.get(), kPartway);
			readers.push_back({path, format, algo, std::move(list), std::move(fd)});
		}
	return readers;
}

/* The size of the first record of @reader's list. */
static std::size_t first_record_size(const PartwayReader &reader)
{
	if (reader.format == ListFormat::binary)
		return first_records(reader.algo, reader.list, 1).size();
	return leading_records_size(ListFormat::ascii, reader.list, 1);
}

/* @size bytes of @bytes from @offset, fewer at its end. */
static Bytes slice(const Bytes &bytes, std::size_t offset, std::size_t size)
{
	auto from = bytes.begin() + static_cast<long>(std::min(offset, bytes.size()));
	auto to = bytes.begin() + static_cast<long>(std::min(offset + size, bytes.size()));

	return Bytes(from, to);
}

void expect_every_reader_stale(std::vector<PartwayReader> &readers)
{
	for (PartwayReader &reader : readers) {
		ktap::ScopedContext context(reader.path);
		ReadsUntilError next = read_until_error(reader.fd.get(), kSmallReads);

		EXPECT_EQ(errno_name(next.error), "ESTALE");
		EXPECT_LE(kPartway + next.bytes.size(), first_record_size(reader));
		EXPECT_EQ(next.bytes, slice(reader.list, kPartway, next.bytes.size()));
		ReadsUntilError again = read_until_error(reader.fd.get(), kSmallReads);
		EXPECT_EQ(errno_name(again.error), "ESTALE");
		EXPECT_EQ(again.bytes.size(), 0u);
		ASSERT_EQ(::lseek(reader.fd.get(), 0, SEEK_SET), 0);
		EXPECT_EQ(read_all(reader.fd.get()), read_file(reader.path));
	}
}

void expect_every_reader_reads_on(std::vector<PartwayReader> &readers)
{
	for (PartwayReader &reader : readers) {
		ktap::ScopedContext context(reader.path);
		ReadsUntilError rest = read_until_error(reader.fd.get(), kSmallReads);

		EXPECT_EQ(rest.error, 0);
		EXPECT_EQ(rest.bytes, slice(reader.list, kPartway, reader.list.size()));
	}
}

} // namespace ima
