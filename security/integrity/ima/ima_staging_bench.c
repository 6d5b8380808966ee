// SPDX-License-Identifier: GPL-2.0-only
/*
 * Benchmark hooks for IMA measurement staging (CONFIG_IMA_STAGING_BENCH).
 *
 * debugfs ima_staging_bench/add: writing a number appends that many
 * records to the measurement list through ima_store_template(), the path
 * of a file measurement, holding ima_extend_list_mutex once per record.
 * The records are ima-ng (or whatever the template is) records of made-up
 * files "bench-<number>" with a made-up file digest: the benchmark fills
 * long lists without creating a million files.
 *
 * debugfs ima_staging_bench/add_unhashed: the same records, appended the
 * way records carried over kexec are, without their digests in the
 * digest table.
 *
 * debugfs ima_staging_bench/walk_locked: writing a number N walks to the
 * N-th record of the current list with ima_extend_list_mutex held, the
 * locked section of the design staging does not use.
 *
 * debugfs ima_staging_bench/htable: the digest table as it is now
 * ("entries", "buckets", "rehashing": 1 while the table is being resized)
 * and "added_rehashing", the hashed records "add" appended while a resize
 * was in progress, so that a benchmark can tell what an append's hold
 * time depends on.
 *
 * They are for benchmarks only: they let root add records that are not
 * measurements.
 */

#include <linux/debugfs.h>
#include <linux/init.h>
#include <linux/rhashtable.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>
#include "ima.h"

#define BENCH_NAME_LEN	32

/* Numbers the made-up records, so that every one has its own digest. */
static atomic64_t bench_next = ATOMIC64_INIT(0);
/* Hashed records added while the digest table was being resized. */
static atomic64_t bench_added_rehashing = ATOMIC64_INIT(0);

/*
 * The digest table new records go to, or NULL; under rcu_read_lock().
 * With ima_flush_htable, A moves it to the staged records, and D frees
 * it a grace period after detaching it.
 */
static struct rhashtable *bench_htable(void)
{
	return READ_ONCE(ima_staging.htable);
}

/* Is @ht being resized?  Under rcu_read_lock(). */
static bool bench_htable_rehashing(struct rhashtable *ht)
{
	struct bucket_table *tbl = rcu_dereference(ht->tbl);

	return rcu_access_pointer(tbl->future_tbl);
}

static int bench_add_record(bool hashed)
{
	struct ima_template_entry *entry;
	struct ima_iint_cache tmp_iint, *iint = &tmp_iint;
	struct ima_max_digest_data hash;
	struct ima_digest_data *hash_hdr = container_of(&hash.hdr,
						struct ima_digest_data, hdr);
	char name[BENCH_NAME_LEN];
	struct ima_event_data event_data = { .iint = iint, .filename = name };
	u64 nr = atomic64_inc_return(&bench_next);
	int ret;

	memset(iint, 0, sizeof(*iint));
	memset(&hash, 0, sizeof(hash));
	iint->ima_hash = hash_hdr;
	iint->ima_hash->algo = ima_hash_algo;
	iint->ima_hash->length = hash_digest_size[ima_hash_algo];
	memcpy(iint->ima_hash->digest, &nr, sizeof(nr));
	snprintf(name, sizeof(name), "bench-%llu", nr);

	ret = ima_alloc_init_template(&event_data, &entry, NULL);
	if (ret < 0)
		return ret;
	if (hashed) {
		struct rhashtable *ht;

		rcu_read_lock();
		ht = bench_htable();
		if (ht && bench_htable_rehashing(ht))
			atomic64_inc(&bench_added_rehashing);
		rcu_read_unlock();
		ret = ima_store_template(entry, 0, NULL, name,
					 CONFIG_IMA_MEASURE_PCR_IDX);
	} else {
		entry->pcr = CONFIG_IMA_MEASURE_PCR_IDX;
		ret = ima_calc_field_array_hash(&entry->template_data[0],
						entry);
		if (!ret)
			ret = ima_restore_measurement_entry(entry);
	}
	if (ret < 0)
		ima_free_template_entry(entry);
	return ret;
}

static ssize_t bench_add(const char __user *buf, size_t len, bool hashed)
{
	unsigned long n;
	int ret;

	ret = kstrtoul_from_user(buf, len, 10, &n);
	if (ret)
		return ret;
	while (n--) {
		if (fatal_signal_pending(current))
			return -EINTR;
		ret = bench_add_record(hashed);
		if (ret)
			return ret;
		cond_resched();
	}
	return len;
}

static ssize_t bench_add_write(struct file *file, const char __user *buf,
			       size_t len, loff_t *ppos)
{
	return bench_add(buf, len, true);
}

static ssize_t bench_add_unhashed_write(struct file *file,
					const char __user *buf, size_t len,
					loff_t *ppos)
{
	return bench_add(buf, len, false);
}

static ssize_t bench_walk_locked_write(struct file *file,
				       const char __user *buf, size_t len,
				       loff_t *ppos)
{
	unsigned long n, size;
	int ret;

	ret = kstrtoul_from_user(buf, len, 10, &n);
	if (ret)
		return ret;
	ret = ima_walk_measurements_locked(n, &size);
	if (ret)
		return ret;
	pr_debug("walked %lu records, %lu bytes serialized\n", n, size);
	return len;
}

static int bench_htable_show(struct seq_file *m, void *v)
{
	struct bucket_table *tbl;
	struct rhashtable *ht;
	int ret = 0;

	rcu_read_lock();
	ht = bench_htable();
	if (ht) {
		tbl = rcu_dereference(ht->tbl);
		seq_printf(m, "entries %u\nbuckets %u\nrehashing %d\nadded_rehashing %lld\n",
			   atomic_read(&ht->nelems), tbl->size,
			   bench_htable_rehashing(ht),
			   (long long)atomic64_read(&bench_added_rehashing));
	} else {
		ret = -ENOENT;
	}
	rcu_read_unlock();
	return ret;
}
DEFINE_SHOW_ATTRIBUTE(bench_htable);

static const struct file_operations bench_add_fops = {
	.write = bench_add_write,
	.llseek = noop_llseek,
};

static const struct file_operations bench_add_unhashed_fops = {
	.write = bench_add_unhashed_write,
	.llseek = noop_llseek,
};

static const struct file_operations bench_walk_locked_fops = {
	.write = bench_walk_locked_write,
	.llseek = noop_llseek,
};

static int __init ima_staging_bench_init(void)
{
	struct dentry *dir;

	dir = debugfs_create_dir("ima_staging_bench", NULL);
	debugfs_create_file("add", 0200, dir, NULL, &bench_add_fops);
	debugfs_create_file("add_unhashed", 0200, dir, NULL,
			    &bench_add_unhashed_fops);
	debugfs_create_file("walk_locked", 0200, dir, NULL,
			    &bench_walk_locked_fops);
	debugfs_create_file("htable", 0400, dir, NULL, &bench_htable_fops);
	return 0;
}
late_initcall(ima_staging_bench_init);
