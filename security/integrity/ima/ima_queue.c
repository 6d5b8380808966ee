// SPDX-License-Identifier: GPL-2.0-only
/*
 * Copyright (C) 2005,2006,2007,2008 IBM Corporation
 *
 * Authors:
 * Serge Hallyn <serue@us.ibm.com>
 * Reiner Sailer <sailer@watson.ibm.com>
 * Mimi Zohar <zohar@us.ibm.com>
 *
 * File: ima_queue.c
 *       Implements queues that store template measurements and
 *       maintains aggregate over the stored measurements
 *       in the pre-configured TPM PCR (if available).
 *       The measurement list is append-only, unless
 *       CONFIG_IMA_STAGING lets user space delete records
 *       it has saved (ima_staging.c).
 */

#include <linux/rculist.h>
#include <linux/rhashtable.h>
#include <linux/slab.h>
#include <kunit/visibility.h>
#include "ima.h"

#define AUDIT_CAUSE_LEN_MAX 32

/* pre-allocated array of tpm_digest structures to extend a PCR */
static struct tpm_digest *digests;

#define IMA_MLIST_INIT(name) {					\
	.head = LIST_HEAD_INIT(name.head),			\
	.count = ATOMIC_LONG_INIT(0),				\
	.binary_size = IMA_EMPTY_BINARY_SIZE,			\
}

struct ima_mlist ima_measurements = IMA_MLIST_INIT(ima_measurements);

/* mutex protects atomicity of extending measurement list
 * and extending the TPM PCR aggregate. Since tpm_extend can take
 * long (and the tpm driver uses a mutex), we can't use the spinlock.
 * Staging (ima_staging.c) moves and deletes records under it too.
 */
DEFINE_MUTEX(ima_extend_list_mutex);

#ifdef CONFIG_IMA_STAGING
/*
 * The digest table holds the template digest (of ima_hash_algo) and the
 * PCR of every record measured, so that a measurement already recorded
 * is dropped.  An entry lives apart from its record so that it can
 * outlast it: a deleted record leaves only its entry behind, and
 * deduplication goes on as if it had not been deleted.  The table is an
 * rhashtable, which grows with its contents (in a worker, or in place
 * when inserts outrun it): a lookup costs the same however many records
 * were measured.
 *
 * Entries are added with ima_extend_list_mutex held, and only under it
 * is a table looked up.  An entry is never removed from a live table: a
 * whole table is freed once no lookup can reach it.
 */
struct ima_digest {
	struct rhash_head node;
	/* the key: @pcr and @digest, compared as one run of bytes */
	u32 pcr;
	u8 digest[];	/* hash_digest_size[ima_hash_algo] bytes */
};

/* A key to look up, laid out as in struct ima_digest */
struct ima_digest_key {
	u32 pcr;
	u8 digest[HASH_MAX_DIGESTSIZE];
};

static_assert(offsetof(struct ima_digest, digest) ==
	      offsetof(struct ima_digest, pcr) + sizeof(u32));
static_assert(offsetof(struct ima_digest_key, digest) == sizeof(u32));

static struct kmem_cache *ima_digest_cache __ro_after_init;
static struct rhashtable_params ima_digest_params __ro_after_init;

struct rhashtable *ima_htable_alloc(void)
{
	struct rhashtable *table;

	table = kzalloc(sizeof(*table), GFP_KERNEL);
	if (table && rhashtable_init(table, &ima_digest_params)) {
		kfree(table);
		table = NULL;
	}
	return table;
}

static void ima_digest_free(void *ptr, void *arg)
{
	kmem_cache_free(ima_digest_cache, ptr);
}

/* Free @table and its entries; no lookup may reach it any more. */
void ima_htable_free(struct rhashtable *table)
{
	rhashtable_free_and_destroy(table, ima_digest_free, NULL);
	kfree(table);
}

VISIBLE_IF_KUNIT struct ima_digest *ima_digest_alloc(const u8 *digest,
						     int pcr)
{
	struct ima_digest *d;

	d = kmem_cache_alloc(ima_digest_cache, GFP_KERNEL);
	if (d) {
		d->pcr = pcr;
		memcpy(d->digest, digest, hash_digest_size[ima_hash_algo]);
	}
	return d;
}

/*
 * Add @d to @table, or free it if its digest is there already.  Return
 * false if the table could not take it (no memory to grow it): the
 * digest is then not remembered, and a later measurement of it is
 * recorded again, which costs a record but loses nothing.
 */
VISIBLE_IF_KUNIT bool ima_htable_add(struct rhashtable *table,
				     struct ima_digest *d)
{
	int ret;

	ret = rhashtable_lookup_insert_fast(table, &d->node,
					    ima_digest_params);
	if (ret)
		ima_digest_free(d, NULL);
	return !ret || ret == -EEXIST;
}

VISIBLE_IF_KUNIT bool ima_htable_lookup(struct rhashtable *table,
					const u8 *digest, int pcr)
{
	struct ima_digest_key key = { .pcr = pcr };

	memcpy(key.digest, digest, hash_digest_size[ima_hash_algo]);
	return !!rhashtable_lookup_fast(table, &key, ima_digest_params);
}

struct ima_mlist ima_measurements_staged =
	IMA_MLIST_INIT(ima_measurements_staged);

struct ima_staging ima_staging = {
	.measurements = &ima_measurements,
	.staged = &ima_measurements_staged,
};

struct ima_h_table ima_htable = {
	.violations = ATOMIC_LONG_INIT(0),
};

/* The digest tables */
static struct rhashtable **ima_htables[] = {
	&ima_staging.htable, &ima_staging.htable_staged,
	&ima_staging.htable_spare,
};

/*
 * Whether the tables of @s hold @digest for @pcr: the current one, and
 * until the staged records are deleted, theirs.  Called with
 * ima_extend_list_mutex held.
 */
VISIBLE_IF_KUNIT bool ima_staging_lookup(struct ima_staging *s,
					 const u8 *digest, int pcr)
{
	lockdep_assert_held(&ima_extend_list_mutex);
	return ima_htable_lookup(s->htable, digest, pcr) ||
	       (s->htable_staged &&
		ima_htable_lookup(s->htable_staged, digest, pcr));
}

static bool ima_lookup_digest_entry(u8 *digest_value, int pcr)
{
	return ima_staging_lookup(&ima_staging, digest_value, pcr);
}

static bool ima_measurements_suspended(void)
{
	return ima_staging.suspended;
}

/*
 * Remember the digest @d of the record just added in @qe, or of none if
 * its allocation failed.  A violation is never looked up: it has no
 * digest entry.  Called with ima_extend_list_mutex held.
 */
static void ima_remember_digest(struct ima_queue_entry *qe,
				struct ima_digest *d, int violation)
{
	lockdep_assert_held(&ima_extend_list_mutex);
	if (violation)
		return;
	if (!d || !ima_htable_add(ima_staging.htable, d))
		pr_warn_ratelimited("digest not remembered: a file measured again is recorded again\n");
}

/* Free the digest tables and their entries; nothing can reach them. */
static void __init ima_exit_htable(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ima_htables); i++) {
		if (*ima_htables[i])
			ima_htable_free(*ima_htables[i]);
		*ima_htables[i] = NULL;
	}
	kmem_cache_destroy(ima_digest_cache);
	ima_digest_cache = NULL;
}

/*
 * Set up the digest table before the first measurement: the size of
 * its entries depends on ima_hash_algo.  ima_init() runs again, with
 * the default hash algorithm, when it failed, maybe after it measured
 * the boot aggregate: what the failed run left is freed first.  No
 * record points to an entry, so a record it added only loses its
 * deduplication.
 */
int __init ima_init_htable(void)
{
	unsigned int size = hash_digest_size[ima_hash_algo];

	ima_exit_htable();
	if (IS_ENABLED(CONFIG_IMA_DISABLE_HTABLE))
		return 0;

	ima_digest_params.head_offset = offsetof(struct ima_digest, node);
	ima_digest_params.key_offset = offsetof(struct ima_digest, pcr);
	ima_digest_params.key_len = offsetof(struct ima_digest_key, digest) +
				    size;
	/* the key's bytes end the entry: no padding after them */
	ima_digest_cache = kmem_cache_create("ima_digest",
					     offsetof(struct ima_digest,
						      digest) + size,
					     0, 0, NULL);
	if (!ima_digest_cache)
		return -ENOMEM;

	ima_staging.htable = ima_htable_alloc();
	if (!ima_staging.htable)
		goto nomem;
	if (ima_staging.flush_htable) {
		ima_staging.htable_spare = ima_htable_alloc();
		if (!ima_staging.htable_spare)
			goto nomem;
	}
	return 0;
nomem:
	ima_exit_htable();
	return -ENOMEM;
}
#else
/* key: inode (before secure-hashing a file) */
struct ima_h_table ima_htable = {
	.violations = ATOMIC_LONG_INIT(0),
	.queue[0 ... IMA_MEASURE_HTABLE_SIZE - 1] = HLIST_HEAD_INIT
};

/* lookup up the digest value in the hash table, and return the entry */
static struct ima_queue_entry *ima_lookup_digest_entry(u8 *digest_value,
						       int pcr)
{
	struct ima_queue_entry *qe, *ret = NULL;
	unsigned int key;
	int rc;

	key = ima_hash_key(digest_value);
	rcu_read_lock();
	hlist_for_each_entry_rcu(qe, &ima_htable.queue[key], hnext) {
		rc = memcmp(qe->entry->digests[ima_hash_algo_idx].digest,
			    digest_value, hash_digest_size[ima_hash_algo]);
		if ((rc == 0) && (qe->entry->pcr == pcr)) {
			ret = qe;
			break;
		}
	}
	rcu_read_unlock();
	return ret;
}

/* Records are never removed: the table links them, violations too. */
struct ima_digest;

static inline struct ima_digest *ima_digest_alloc(const u8 *digest, int pcr)
{
	return NULL;
}

static inline void ima_digest_free(void *ptr, void *arg)
{
}

static void ima_remember_digest(struct ima_queue_entry *qe,
				struct ima_digest *d, int violation)
{
	unsigned int key;

	key = ima_hash_key(qe->entry->digests[ima_hash_algo_idx].digest);
	hlist_add_head_rcu(&qe->hnext, &ima_htable.queue[key]);
}

static bool ima_measurements_suspended(void)
{
	return false;
}
#endif

/* Add serialized sizes; ULONG_MAX means not tracked or too large. */
unsigned long ima_binary_size_add(unsigned long size, unsigned long more)
{
	return (size < ULONG_MAX - more) ? size + more : ULONG_MAX;
}

/*
 * The size of the template data of an "ima" record as
 * ima_measurements_show() writes it: the digest without its length, the
 * file name without its terminating NUL.
 */
static int ima_template_data_binary_size(struct ima_template_entry *entry)
{
	const struct ima_template_field *field;
	int i, size = 0;

	for (i = 0; i < entry->template_desc->num_fields; i++) {
		field = entry->template_desc->fields[i];
		if (!strcmp(field->field_id, "d"))
			size += entry->template_data[i].len;
		else if (!strcmp(field->field_id, "n"))
			size += sizeof(u32) +
				strlen(entry->template_data[i].data);
		else
			size += sizeof(u32) + entry->template_data[i].len;
	}
	return size;
}

/*
 * Calculate the memory required for serializing a single
 * binary_runtime_measurement list entry, which contains a
 * couple of variable length fields (e.g template name and data).
 * It must be the number of bytes ima_measurements_show() writes for
 * the entry into the kexec buffer, for every template: a custom one
 * (ima_template_fmt=) has no name and is shown by its format.
 */
int ima_binary_record_size(struct ima_template_entry *entry)
{
	const char *name = entry->template_desc->name;
	int size = 0;

	if (!*name)
		name = entry->template_desc->fmt;

	size += sizeof(u32);	/* pcr */
	size += TPM_DIGEST_SIZE;
	size += sizeof(int);	/* template name size field */
	size += strlen(name);
	if (!strcmp(name, IMA_TEMPLATE_IMA_NAME))
		return size + ima_template_data_binary_size(entry);

	size += sizeof(entry->template_data_len);
	size += entry->template_data_len;
	return size;
}

static struct ima_queue_entry *ima_alloc_queue_entry(void)
{
	struct ima_queue_entry *qe;

	qe = kmalloc(sizeof(*qe), GFP_KERNEL);
	if (!qe)
		pr_err("OUT OF MEMORY ERROR creating queue entry\n");
	return qe;
}

/* ima_add_template_entry helper function:
 * - Add template entry to the measurement list, in @qe.
 *
 * (Called with ima_extend_list_mutex held.)
 */
static void ima_add_digest_entry(struct ima_queue_entry *qe,
				 struct ima_template_entry *entry)
{
	qe->entry = entry;

	INIT_LIST_HEAD(&qe->later);
	list_add_tail_rcu(&qe->later, &ima_measurements.head);

	atomic_long_inc(&ima_measurements.count);

	if (ima_measurements.binary_size != ULONG_MAX)
		ima_measurements.binary_size =
			ima_binary_size_add(ima_measurements.binary_size,
					    ima_binary_record_size(entry));
}

/*
 * Return the amount of memory required for serializing the
 * entire binary_runtime_measurement list, including the ima_kexec_hdr
 * structure.  With CONFIG_IMA_STAGING the sizes are read under the
 * lock: staging moves records, and their size, from one list to the
 * other.
 */
unsigned long ima_get_binary_runtime_size(void)
{
	unsigned long binary_runtime_size;

#ifdef CONFIG_IMA_STAGING
	mutex_lock(&ima_extend_list_mutex);
	binary_runtime_size = ima_binary_size_add(ima_measurements.binary_size,
						  ima_measurements_staged.binary_size);
	mutex_unlock(&ima_extend_list_mutex);
#else
	binary_runtime_size = ima_measurements.binary_size;
#endif

	if (binary_runtime_size >= (ULONG_MAX - sizeof(struct ima_kexec_hdr)))
		return ULONG_MAX;
	else
		return binary_runtime_size + sizeof(struct ima_kexec_hdr);
}

static int ima_pcr_extend(struct tpm_digest *digests_arg, int pcr)
{
	int result = 0;

	if (!ima_tpm_chip)
		return result;

	result = tpm_pcr_extend(ima_tpm_chip, pcr, digests_arg);
	if (result != 0)
		pr_err("Error Communicating to TPM chip, result: %d\n", result);
	return result;
}

/*
 * Add template entry to the measurement list and hash table, and
 * extend the pcr.
 *
 * On systems which support carrying the IMA measurement list across
 * kexec, maintain the total memory size required for serializing the
 * binary_runtime_measurements.
 */
int ima_add_template_entry(struct ima_template_entry *entry, int violation,
			   const char *op, struct inode *inode,
			   const unsigned char *filename)
{
	u8 *digest = entry->digests[ima_hash_algo_idx].digest;
	struct tpm_digest *digests_arg = entry->digests;
	const char *audit_cause = "hash_added";
	char tpm_audit_cause[AUDIT_CAUSE_LEN_MAX];
	struct ima_queue_entry *qe = NULL;
	struct ima_digest *d = NULL;
	int audit_info = 1;
	int result = 0, tpmresult = 0;

	/*
	 * With CONFIG_IMA_STAGING the record's queue entry and digest entry
	 * are allocated before the lock, so that no allocation holds it:
	 * the record fails without its queue entry, and goes without its
	 * digest entry (only deduplication is lost).  A violation is never
	 * looked up: it needs no digest entry.  Without staging, as before,
	 * the queue entry is allocated under the lock, once the digest was
	 * not found.
	 */
	if (IS_ENABLED(CONFIG_IMA_STAGING)) {
		qe = ima_alloc_queue_entry();
		if (!violation && !IS_ENABLED(CONFIG_IMA_DISABLE_HTABLE))
			d = ima_digest_alloc(digest, entry->pcr);
	}

	mutex_lock(&ima_extend_list_mutex);
	if (ima_measurements_suspended()) {
		audit_cause = "measurement_suspended";
		audit_info = 0;
		result = -EBUSY;
		goto out;
	}

	if (!violation && !IS_ENABLED(CONFIG_IMA_DISABLE_HTABLE)) {
		if (ima_lookup_digest_entry(digest, entry->pcr)) {
			audit_cause = "hash_exists";
			result = -EEXIST;
			goto out;
		}
	}

	if (!IS_ENABLED(CONFIG_IMA_STAGING))
		qe = ima_alloc_queue_entry();
	if (!qe) {
		result = -ENOMEM;
		audit_cause = "ENOMEM";
		audit_info = 0;
		goto out;
	}
	ima_add_digest_entry(qe, entry);
	if (!IS_ENABLED(CONFIG_IMA_DISABLE_HTABLE)) {
		ima_remember_digest(qe, d, violation);
		d = NULL;
	}
	qe = NULL;

	if (violation)		/* invalidate pcr */
		digests_arg = digests;

	tpmresult = ima_pcr_extend(digests_arg, entry->pcr);
	if (tpmresult != 0) {
		snprintf(tpm_audit_cause, AUDIT_CAUSE_LEN_MAX, "TPM_error(%d)",
			 tpmresult);
		audit_cause = tpm_audit_cause;
		audit_info = 0;
	}
out:
	mutex_unlock(&ima_extend_list_mutex);
	/* what staging allocated before the lock for a record not added */
	if (IS_ENABLED(CONFIG_IMA_STAGING)) {
		kfree(qe);
		if (d)
			ima_digest_free(d, NULL);
	}
	integrity_audit_msg(AUDIT_INTEGRITY_PCR, inode, filename,
			    op, audit_cause, result, audit_info);
	return result;
}

int ima_restore_measurement_entry(struct ima_template_entry *entry)
{
	struct ima_queue_entry *qe = ima_alloc_queue_entry();

	if (!qe)
		return -ENOMEM;
	mutex_lock(&ima_extend_list_mutex);
	ima_add_digest_entry(qe, entry);
	mutex_unlock(&ima_extend_list_mutex);
	return 0;
}

int __init ima_init_digests(void)
{
	u16 digest_size;
	u16 crypto_id;
	int i;

	if (!ima_tpm_chip)
		return 0;

	digests = kcalloc(ima_tpm_chip->nr_allocated_banks, sizeof(*digests),
			  GFP_NOFS);
	if (!digests)
		return -ENOMEM;

	for (i = 0; i < ima_tpm_chip->nr_allocated_banks; i++) {
		digests[i].alg_id = ima_tpm_chip->allocated_banks[i].alg_id;
		digest_size = ima_tpm_chip->allocated_banks[i].digest_size;
		crypto_id = ima_tpm_chip->allocated_banks[i].crypto_id;

		/* for unmapped TPM algorithms digest is still a padded SHA1 */
		if (crypto_id == HASH_ALGO__LAST)
			digest_size = SHA1_DIGEST_SIZE;

		memset(digests[i].digest, 0xff, digest_size);
	}

	return 0;
}
