/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel's slab memory, as /proc/meminfo shows it, for tests and
 * benchmarks of what measurement records cost and what deleting them
 * gives back.
 */
#pragma once

#include <functional>
#include <string>

namespace ima {

/* The records the memory tests measure: a few MB of slab. */
inline constexpr unsigned long kMemoryRecords = 4000;

/*
 * The least part, in percent, of their memory that deleting records gives
 * back by default: all but the digest deduplication needs.
 */
inline constexpr long kMemoryReturnedPercent = 85;

struct SlabMemory {
	long slab_kb = 0;
	/* SUnreclaim: measurement records are unreclaimable slab objects. */
	long unreclaimable_kb = 0;
};

/* The field @field ("SUnreclaim") of the text of /proc/meminfo, in kB. */
long meminfo_kb(const std::string &meminfo, const std::string &field);

/*
 * The slab memory once the reclaimable caches are dropped and the objects
 * the kernel frees after an RCU grace period are gone: what is left is what
 * someone holds.
 */
SlabMemory settled_slab_memory();

/*
 * Creates @count measurements (create_measurement()) and removes each file
 * once measured, so that only the records stay in memory. Returns seconds.
 */
double measure_and_remove(unsigned long count);

/* What a number of records took in slab memory, and what deleting gave back. */
struct RecordMemory {
	unsigned long records = 0;
	long held_bytes = 0;
	long returned_bytes = 0;

	/* Whether the deletion gave back at least @percent of what was held. */
	bool returned_at_least(long percent) const
	{
		return returned_bytes * 100 >= held_bytes * percent;
	}
	std::string describe() const;
};

/*
 * Measures @count new files (measure_and_remove()), then runs @delete_them,
 * which deletes exactly those records, and compares the settled
 * unreclaimable slab memory before, between and after. The current list
 * should be empty when it starts, so that nothing else is deleted.
 */
RecordMemory measure_record_memory(unsigned long count, const std::function<void()> &delete_them);

/*
 * The check of the memory tests: kMemoryRecords new records, deleted by
 * @delete_them (which deletes exactly those), give back at least
 * kMemoryReturnedPercent of what they took; the current list is left
 * empty and the invariant holds. The figures go to the KTAP log.
 */
void expect_deletion_gives_memory_back(const std::function<void()> &delete_them);

} // namespace ima
