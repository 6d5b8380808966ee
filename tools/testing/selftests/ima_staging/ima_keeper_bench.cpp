// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark: the kernel memory the measurement list takes after many
 * records (100,000 by default), with ima-keeper saving them as they come
 * and without it.
 *
 *   ima_keeper_bench [--records N] [--keeper-max-records M]
 *
 * With the keeper first (ima-keeper run --max-records M, store in /tmp),
 * then without it, N records each; every measured file is removed once
 * read, so that only IMA's memory remains. The figures are the growth of
 * SUnreclaim (IMA's records are unreclaimable slab objects) and Slab in
 * /proc/meminfo, after dropping the reclaimable caches. They are printed,
 * never asserted; the only test checks that the full log still replays to
 * PCR 10 at the end.
 */
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <unistd.h>

#include "ktap.h"
#include "lib/ima.h"
#include "lib/keeper.h"
#include "lib/memory.h"
#include "lib/require.h"
#include "lib/staging.h"

using namespace ima;

namespace {

const std::string kStore = "/tmp/bench-store";
unsigned long records_per_run = 100000;
unsigned long keeper_max_records = 10000;

void report(const std::string &what, const SlabMemory &before, const SlabMemory &after, double seconds)
{
	ktap::note(what, ": ", records_per_run, " records in ", static_cast<long>(seconds),
		   " s; kernel records left: ", read_measurement_count(),
		   "; SUnreclaim +", after.unreclaimable_kb - before.unreclaimable_kb,
		   " kB, Slab +", after.slab_kb - before.slab_kb, " kB");
}

} // namespace

KTAP_TEST(kernel_list_memory_with_and_without_keeper)
{
	require_staging();
	ktap::note("ima_flush_htable: ", booted_with_flush_htable() ? "yes" : "no");

	SlabMemory start = settled_slab_memory();
	BackgroundKeeper keeper(kStore, {"run", "--max-records", std::to_string(keeper_max_records),
					 "--interval-ms", "200"});
	ASSERT_TRUE(keeper.wait_for_err("keeping", std::chrono::seconds(60)));
	double with_seconds = measure_and_remove(records_per_run);
	EXPECT_EQ(keeper.stop(), 0);
	SlabMemory with_keeper = settled_slab_memory();
	report("with ima-keeper (run --max-records " + std::to_string(keeper_max_records) + ")",
	       start, with_keeper, with_seconds);
	ktap::note("store: ", read_file(kStore + "/logs/000001/binary_runtime_measurements").size(),
		   " bytes in ", kStore);

	double without_seconds = measure_and_remove(records_per_run);
	SlabMemory without_keeper = settled_slab_memory();
	report("without a keeper", with_keeper, without_keeper, without_seconds);
	ktap::note("kernel binary sha1 list now: ", read_binary_list_bytes("sha1").size(), " bytes");

	KeeperRun verify = run_keeper(kStore, {"verify"});
	EXPECT_EQ(verify.exit_code, 0);
	ktap::note(verify.out_text());
}

int main(int argc, char **argv)
{
	std::vector<char *> args = {argv[0]};

	for (int i = 1; i < argc; i++) {
		if (i + 1 < argc && std::strcmp(argv[i], "--records") == 0)
			records_per_run = std::stoul(argv[++i]);
		else if (i + 1 < argc && std::strcmp(argv[i], "--keeper-max-records") == 0)
			keeper_max_records = std::stoul(argv[++i]);
		else
			args.push_back(argv[i]);
	}
	args.push_back(nullptr);
	return ktap::run(static_cast<int>(args.size()) - 1, args.data());
}
