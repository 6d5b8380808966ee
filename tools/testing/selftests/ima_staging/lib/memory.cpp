// SPDX-License-Identifier: GPL-2.0
#include "lib/memory.h"

#include <chrono>
#include <stdexcept>
#include <thread>
#include <unistd.h>

#include "ima/bytes.h"
#include "ima/ima_fs.h"
#include "ima/sys.h"
#include "ktap.h"
#include "lib/staging.h"

namespace ima {

long meminfo_kb(const std::string &meminfo, const std::string &field)
{
	std::string text = "\n" + meminfo;
	std::size_t at = text.find("\n" + field + ":");

	if (at == std::string::npos)
		throw std::runtime_error("no " + field + " in /proc/meminfo");
	return std::stol(text.substr(at + field.size() + 2));
}

namespace {

void drop_caches()
{
	::sync();
	write_file("/proc/sys/vm/drop_caches", as_bytes("3\n"));
}

} // namespace

SlabMemory settled_slab_memory()
{
	/*
	 * Dropped dentries and inodes are freed after a grace period: drop,
	 * wait for those frees, drop what they released.
	 */
	drop_caches();
	std::this_thread::sleep_for(std::chrono::milliseconds(300));
	drop_caches();
	std::string meminfo = read_text_file("/proc/meminfo");
	return {meminfo_kb(meminfo, "Slab"), meminfo_kb(meminfo, "SUnreclaim")};
}

double measure_and_remove(unsigned long count)
{
	auto start = std::chrono::steady_clock::now();

	for (unsigned long i = 0; i < count; i++) {
		std::string path = create_measurement();

		if (::unlink(path.c_str()))
			throw_errno("unlink " + path);
	}
	return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string RecordMemory::describe() const
{
	auto per_record = [this](long bytes) { return std::to_string(bytes / static_cast<long>(records)); };

	return std::to_string(records) + " records took " + std::to_string(held_bytes / 1024) + " kB (" +
	       per_record(held_bytes) + " B each); deleting them gave back " +
	       std::to_string(returned_bytes / 1024) + " kB (" + per_record(returned_bytes) + " B each, " +
	       std::to_string(held_bytes ? returned_bytes * 100 / held_bytes : 0) + " %)";
}

RecordMemory measure_record_memory(unsigned long count, const std::function<void()> &delete_them)
{
	if (count == 0)
		throw std::invalid_argument("measure_record_memory: no records");
	long before = settled_slab_memory().unreclaimable_kb;
	measure_and_remove(count);
	long with_records = settled_slab_memory().unreclaimable_kb;
	delete_them();
	long after = settled_slab_memory().unreclaimable_kb;
	return {count, (with_records - before) * 1024, (with_records - after) * 1024};
}

void expect_deletion_gives_memory_back(const std::function<void()> &delete_them)
{
	RecordMemory memory = measure_record_memory(kMemoryRecords, delete_them);

	ktap::note(memory.describe());
	EXPECT_EQ(read_measurement_count(), 0u);
	/* a record takes hundreds of bytes: the figures measured the records */
	EXPECT_GT(memory.held_bytes, static_cast<long>(100 * kMemoryRecords));
	EXPECT_TRUE(memory.returned_at_least(kMemoryReturnedPercent));
	EXPECT_EQ(check_invariant(), "");
}

} // namespace ima
