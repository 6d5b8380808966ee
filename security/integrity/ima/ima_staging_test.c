// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests of the measurement list logic behind CONFIG_IMA_STAGING.
 *
 * Every test builds its own lists, digest tables and records in a
 * private struct ima_staging: none touches the live measurement list, and
 * none extends a PCR.  A record's number is kept in its template digest,
 * so the tests can check which records went where, in which order, and
 * which digests a table remembers.
 */

#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/rhashtable.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include "ima.h"

#define TEST_TEMPLATE_NAME	"ima-test"

struct suspender;

struct staging_test {
	struct ima_mlist measurements;
	struct ima_mlist staged;
	struct ima_staging s;
	unsigned int next_record;
	struct kunit *test;
	struct suspender *suspender;
	bool suspended_during_n;
	unsigned long gen_before_n;
};

static struct ima_template_desc test_desc = {
	.name = TEST_TEMPLATE_NAME,
	.num_fields = 1,
};

static unsigned long empty_size(void)
{
	return IS_ENABLED(CONFIG_IMA_KEXEC) ? 0 : ULONG_MAX;
}

static void init_mlist(struct ima_mlist *list)
{
	INIT_LIST_HEAD(&list->head);
	atomic_long_set(&list->count, 0);
	list->binary_size = empty_size();
}

/* The template digest of record @number, as alloc_record() makes it. */
static void record_digest(u32 number, u8 *digest)
{
	memset(digest, 0, hash_digest_size[ima_hash_algo]);
	memcpy(digest, &number, sizeof(number));
}

/* Does @table remember the digest of record @number? */
static bool remembers(struct rhashtable *table, u32 number)
{
	u8 digest[HASH_MAX_DIGESTSIZE];

	record_digest(number, digest);
	return ima_htable_lookup(table, digest, 0);
}

/* ima_staging_lookup(), with the lock it wants. */
static bool staging_lookup(struct ima_staging *s, const u8 *digest, int pcr)
{
	bool found;

	mutex_lock(&ima_extend_list_mutex);
	found = ima_staging_lookup(s, digest, pcr);
	mutex_unlock(&ima_extend_list_mutex);
	return found;
}

/* Would a measurement of record @number be dropped as a duplicate? */
static bool recorded(struct ima_staging *s, u32 number)
{
	u8 digest[HASH_MAX_DIGESTSIZE];

	record_digest(number, digest);
	return staging_lookup(s, digest, 0);
}

static void remember(struct kunit *test, struct rhashtable *table,
		     u32 number)
{
	u8 digest[HASH_MAX_DIGESTSIZE];
	struct ima_digest *d;

	record_digest(number, digest);
	d = ima_digest_alloc(digest, 0);
	KUNIT_ASSERT_NOT_NULL(test, d);
	KUNIT_ASSERT_TRUE(test, ima_htable_add(table, d));
}

/* Records are numbered in the order they are added, from 0. */
static u32 record_number(struct ima_queue_entry *qe)
{
	u32 number;

	memcpy(&number, qe->entry->digests[ima_hash_algo_idx].digest,
	       sizeof(number));
	return number;
}

static u32 record_number_at(struct list_head *p)
{
	return record_number(list_entry(p, struct ima_queue_entry, later));
}

static u32 template_data_len(u32 number)
{
	return 8 + number % 5;
}

/* The serialized size of record @number, as the kexec buffer needs it. */
static unsigned long record_size(u32 number)
{
	return sizeof(u32) + TPM_DIGEST_SIZE + sizeof(int) +
	       strlen(TEST_TEMPLATE_NAME) + sizeof(u32) +
	       template_data_len(number);
}

static unsigned long records_size(u32 first, u32 count)
{
	unsigned long size = 0;

	while (count--)
		size += record_size(first++);
	return size;
}

/* The size a list of these records accounts: kexec alone needs it. */
static unsigned long list_size(u32 first, u32 count)
{
	if (!count)
		return empty_size();
	return IS_ENABLED(CONFIG_IMA_KEXEC) ? records_size(first, count) :
					      ULONG_MAX;
}

static struct ima_queue_entry *alloc_record(struct kunit *test, u32 number)
{
	struct ima_template_entry *entry;
	struct ima_queue_entry *qe;
	u32 len = template_data_len(number);

	entry = kzalloc(struct_size(entry, template_data, 1), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, entry);
	entry->template_desc = &test_desc;
	entry->digests = kcalloc(ima_hash_algo_idx + 1,
				 sizeof(*entry->digests), GFP_KERNEL);
	entry->template_data[0].data = kzalloc(len, GFP_KERNEL);
	qe = kzalloc(sizeof(*qe), GFP_KERNEL);
	if (!entry->digests || !entry->template_data[0].data || !qe) {
		ima_free_template_entry(entry);
		kfree(qe);
		KUNIT_FAIL_AND_ABORT(test, "out of memory");
	}
	memcpy(entry->digests[ima_hash_algo_idx].digest, &number,
	       sizeof(number));
	entry->template_data[0].len = len;
	entry->template_data_len = len;
	qe->entry = entry;
	return qe;
}

/*
 * Append @count records to the current list, as ima_add_digest_entry(),
 * and with @hashed remember their digests, as ima_add_template_entry().
 */
static void add_records(struct kunit *test, struct staging_test *t,
			unsigned int count, bool hashed)
{
	struct ima_mlist *list = t->s.measurements;
	struct ima_queue_entry *qe;

	while (count--) {
		qe = alloc_record(test, t->next_record);
		list_add_tail(&qe->later, &list->head);
		atomic_long_inc(&list->count);
		if (list->binary_size != ULONG_MAX)
			list->binary_size += record_size(t->next_record);
		if (hashed)
			remember(test, t->s.htable, t->next_record);
		t->next_record++;
	}
}

/* @list holds records @first to @first + @count - 1, in order. */
static void expect_records(struct kunit *test, struct ima_mlist *list,
			   u32 first, u32 count)
{
	struct ima_queue_entry *qe;
	u32 number = first;

	KUNIT_EXPECT_EQ(test, atomic_long_read(&list->count), (long)count);
	KUNIT_EXPECT_EQ(test, list->binary_size, list_size(first, count));
	list_for_each_entry(qe, &list->head, later) {
		KUNIT_EXPECT_EQ(test, record_number(qe), number);
		number++;
	}
	KUNIT_EXPECT_EQ(test, number - first, count);
}

/* The number of digests @table remembers. */
static unsigned int table_digests(struct rhashtable *table)
{
	return atomic_read(&table->nelems);
}

/* A table for the test's struct ima_staging, freed with it. */
static struct rhashtable *new_table(struct kunit *test)
{
	struct rhashtable *table = ima_htable_alloc();

	KUNIT_ASSERT_NOT_NULL(test, table);
	return table;
}

static int staging_test_init(struct kunit *test)
{
	struct staging_test *t;

	t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, t);
	init_mlist(&t->measurements);
	init_mlist(&t->staged);
	t->s.measurements = &t->measurements;
	t->s.staged = &t->staged;
	t->test = test;
	test->priv = t;
	t->s.htable = new_table(test);
	t->s.htable_spare = new_table(test);
	return 0;
}

static void free_record(struct ima_queue_entry *qe)
{
	ima_free_template_entry(qe->entry);
	kfree(qe);
}

static void free_list(struct ima_mlist *list)
{
	struct ima_queue_entry *qe, *tmp;

	list_for_each_entry_safe(qe, tmp, &list->head, later)
		free_record(qe);
	INIT_LIST_HEAD(&list->head);
}

/* Frees the records on the lists and the tables. */
static void staging_test_exit(struct kunit *test)
{
	struct staging_test *t = test->priv;
	struct rhashtable *tables[3];
	unsigned int i;

	if (!t)
		return;
	tables[0] = t->s.htable;
	tables[1] = t->s.htable_staged;
	tables[2] = t->s.htable_spare;
	free_list(&t->measurements);
	free_list(&t->staged);
	for (i = 0; i < ARRAY_SIZE(tables); i++)
		if (tables[i])
			ima_htable_free(tables[i]);
}

static void stage_moves_the_whole_list(struct kunit *test)
{
	struct staging_test *t = test->priv;

	add_records(test, t, 5, false);
	KUNIT_ASSERT_EQ(test, ima_stage_measurements(&t->s), 0);
	expect_records(test, &t->staged, 0, 5);
	expect_records(test, &t->measurements, 0, 0);

	/* new records go to the empty current list */
	add_records(test, t, 2, false);
	expect_records(test, &t->staged, 0, 5);
	expect_records(test, &t->measurements, 5, 2);
}

static void stage_refuses_and_changes_nothing(struct kunit *test)
{
	struct staging_test *t = test->priv;

	KUNIT_EXPECT_EQ(test, ima_stage_measurements(&t->s), -ENOENT);
	expect_records(test, &t->staged, 0, 0);

	add_records(test, t, 3, false);
	KUNIT_ASSERT_EQ(test, ima_stage_measurements(&t->s), 0);
	add_records(test, t, 2, false);
	KUNIT_EXPECT_EQ(test, ima_stage_measurements(&t->s), -EEXIST);
	expect_records(test, &t->staged, 0, 3);
	expect_records(test, &t->measurements, 3, 2);
}

/*
 * D left @table and @spare where they were, and the digests of records 0
 * to @count - 1, deleted or not, are still looked up.
 */
static void expect_tables_kept(struct kunit *test, struct staging_test *t,
			       struct rhashtable *table,
			       struct rhashtable *spare, u32 count)
{
	u32 i;

	KUNIT_EXPECT_PTR_EQ(test, t->s.htable, table);
	KUNIT_EXPECT_PTR_EQ(test, t->s.htable_spare, spare);
	KUNIT_EXPECT_EQ(test, table_digests(table), count);
	for (i = 0; i < count; i++)
		KUNIT_EXPECT_TRUE(test, recorded(&t->s, i));
}

static void delete_staged_keeps_digests_by_default(struct kunit *test)
{
	struct staging_test *t = test->priv;
	struct rhashtable *table = t->s.htable;
	struct rhashtable *spare = t->s.htable_spare;

	add_records(test, t, 4, true);
	KUNIT_ASSERT_EQ(test, ima_stage_measurements(&t->s), 0);
	add_records(test, t, 1, true);
	KUNIT_ASSERT_EQ(test, ima_delete_staged_measurements(&t->s), 4);
	expect_records(test, &t->staged, 0, 0);
	expect_records(test, &t->measurements, 4, 1);

	/* the records are freed, their digests stay in the same table */
	expect_tables_kept(test, t, table, spare, 5);
	KUNIT_EXPECT_FALSE(test, recorded(&t->s, 5));
	KUNIT_EXPECT_EQ(test, ima_delete_staged_measurements(&t->s), -ENOENT);
}

static void delete_staged_flushes_the_staged_table(struct kunit *test)
{
	struct staging_test *t = test->priv;
	struct rhashtable *first = t->s.htable;
	struct rhashtable *second = t->s.htable_spare;
	u32 i;

	t->s.flush_htable = true;
	add_records(test, t, 4, true);
	KUNIT_ASSERT_EQ(test, ima_stage_measurements(&t->s), 0);
	/* the records' table moved with them, new ones go to the spare */
	KUNIT_EXPECT_PTR_EQ(test, t->s.htable_staged, first);
	KUNIT_EXPECT_PTR_EQ(test, t->s.htable, second);
	KUNIT_EXPECT_NULL(test, t->s.htable_spare);

	add_records(test, t, 2, true);
	KUNIT_EXPECT_EQ(test, table_digests(second), 2);
	/* until D, the staged records' digests are still looked up */
	for (i = 0; i < 6; i++)
		KUNIT_EXPECT_TRUE(test, recorded(&t->s, i));
	KUNIT_ASSERT_EQ(test, ima_delete_staged_measurements(&t->s), 4);
	expect_records(test, &t->staged, 0, 0);
	expect_records(test, &t->measurements, 4, 2);

	/* the staged table went with the records; a new spare is empty */
	KUNIT_EXPECT_NULL(test, t->s.htable_staged);
	KUNIT_EXPECT_PTR_EQ(test, t->s.htable, second);
	KUNIT_ASSERT_NOT_NULL(test, t->s.htable_spare);
	KUNIT_EXPECT_EQ(test, table_digests(t->s.htable_spare), 0);
	KUNIT_EXPECT_EQ(test, table_digests(second), 2);
	for (i = 0; i < 4; i++)
		KUNIT_EXPECT_FALSE(test, recorded(&t->s, i));
	KUNIT_EXPECT_TRUE(test, recorded(&t->s, 4));
	KUNIT_EXPECT_TRUE(test, recorded(&t->s, 5));

	/* the next cycle moves the second table */
	KUNIT_ASSERT_EQ(test, ima_stage_measurements(&t->s), 0);
	KUNIT_EXPECT_PTR_EQ(test, t->s.htable_staged, second);
	KUNIT_ASSERT_EQ(test, ima_delete_staged_measurements(&t->s), 2);
	KUNIT_EXPECT_EQ(test, table_digests(t->s.htable), 0);
	KUNIT_EXPECT_EQ(test, table_digests(t->s.htable_spare), 0);
}

static void delete_n_deletes_the_oldest(struct kunit *test)
{
	struct staging_test *t = test->priv;

	add_records(test, t, 10, true);
	KUNIT_ASSERT_EQ(test, ima_delete_measurements(&t->s, 3), 0);
	expect_records(test, &t->measurements, 3, 7);
	expect_records(test, &t->staged, 0, 0);
	/* the digests of the deleted records stay in the table */
	KUNIT_EXPECT_EQ(test, table_digests(t->s.htable), 10);
	KUNIT_EXPECT_TRUE(test, recorded(&t->s, 0));
	KUNIT_EXPECT_TRUE(test, recorded(&t->s, 2));

	KUNIT_ASSERT_EQ(test, ima_delete_measurements(&t->s, 1), 0);
	expect_records(test, &t->measurements, 4, 6);
}

static void delete_n_of_the_whole_list(struct kunit *test)
{
	struct staging_test *t = test->priv;

	add_records(test, t, 6, false);
	KUNIT_ASSERT_EQ(test, ima_delete_measurements(&t->s, 6), 0);
	expect_records(test, &t->measurements, 6, 0);
	expect_records(test, &t->staged, 0, 0);

	add_records(test, t, 2, false);
	expect_records(test, &t->measurements, 6, 2);
}

static void delete_n_refuses_and_changes_nothing(struct kunit *test)
{
	struct staging_test *t = test->priv;

	KUNIT_EXPECT_EQ(test, ima_delete_measurements(&t->s, 1), -ENOENT);
	add_records(test, t, 5, false);
	KUNIT_EXPECT_EQ(test, ima_delete_measurements(&t->s, 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, ima_delete_measurements(&t->s, 6), -ENOENT);
	KUNIT_EXPECT_EQ(test, ima_delete_measurements(&t->s, ULONG_MAX),
			-ENOENT);
	expect_records(test, &t->measurements, 0, 5);

	t->s.flush_htable = true;
	KUNIT_EXPECT_EQ(test, ima_delete_measurements(&t->s, 1), -EINVAL);
	t->s.flush_htable = false;
	expect_records(test, &t->measurements, 0, 5);

	KUNIT_ASSERT_EQ(test, ima_stage_measurements(&t->s), 0);
	add_records(test, t, 1, false);
	KUNIT_EXPECT_EQ(test, ima_delete_measurements(&t->s, 1), -EEXIST);
	expect_records(test, &t->staged, 0, 5);
	expect_records(test, &t->measurements, 5, 1);
}

/* What N does when records are appended after its walk, before its cut. */
static void cut_front_keeps_the_records_appended_after_the_walk(struct kunit *test)
{
	struct staging_test *t = test->priv;
	struct list_head *first, *nth;
	unsigned long size = 0;

	add_records(test, t, 5, false);
	nth = ima_mlist_nth(&t->measurements, 2, &size);
	KUNIT_EXPECT_EQ(test, record_number_at(nth), 1);
	KUNIT_EXPECT_EQ(test, size, records_size(0, 2));
	add_records(test, t, 3, false);

	mutex_lock(&ima_extend_list_mutex);
	first = ima_mlist_cut_front(&t->measurements, nth, 2, size);
	mutex_unlock(&ima_extend_list_mutex);
	KUNIT_EXPECT_EQ(test, record_number_at(first), 0);
	expect_records(test, &t->measurements, 2, 6);
	ima_free_records(first, 2);
}

static void cut_front_of_every_record(struct kunit *test)
{
	struct staging_test *t = test->priv;
	struct list_head *first, *nth;
	unsigned long size = 0;

	add_records(test, t, 3, false);
	nth = ima_mlist_nth(&t->measurements, 3, &size);
	mutex_lock(&ima_extend_list_mutex);
	first = ima_mlist_cut_front(&t->measurements, nth, 3, size);
	mutex_unlock(&ima_extend_list_mutex);
	expect_records(test, &t->measurements, 3, 0);
	KUNIT_EXPECT_TRUE(test, list_empty(&t->measurements.head));
	ima_free_records(first, 3);

	/* and the emptied list takes new records */
	add_records(test, t, 2, false);
	expect_records(test, &t->measurements, 3, 2);
}

static void suspended_requests_fail_and_change_nothing(struct kunit *test)
{
	struct staging_test *t = test->priv;

	add_records(test, t, 3, false);
	KUNIT_ASSERT_EQ(test, ima_stage_measurements(&t->s), 0);
	add_records(test, t, 2, false);
	t->s.suspended = true;

	KUNIT_EXPECT_EQ(test, ima_delete_staged_measurements(&t->s), -ESTALE);
	KUNIT_EXPECT_EQ(test, ima_delete_measurements(&t->s, 1), -ESTALE);
	KUNIT_EXPECT_EQ(test, ima_stage_measurements(&t->s), -EACCES);
	expect_records(test, &t->staged, 0, 3);
	expect_records(test, &t->measurements, 3, 2);

	/* and with nothing staged */
	t->s.suspended = false;
	KUNIT_ASSERT_EQ(test, ima_delete_staged_measurements(&t->s), 3);
	t->s.suspended = true;
	KUNIT_EXPECT_EQ(test, ima_stage_measurements(&t->s), -EACCES);
	KUNIT_EXPECT_EQ(test, ima_delete_measurements(&t->s, 1), -ESTALE);
	expect_records(test, &t->staged, 0, 0);
	expect_records(test, &t->measurements, 3, 2);
}

/* A record of @desc whose fields hold @name or @len bytes of data. */
static struct ima_queue_entry *alloc_template_record(struct kunit *test,
						     struct ima_template_desc *desc,
						     const char *name, u32 len)
{
	int digests = max(ima_sha1_idx, ima_hash_algo_idx) + 1;
	struct ima_template_entry *entry;
	struct ima_queue_entry *qe;
	u32 field_len;
	int i;

	entry = kzalloc(struct_size(entry, template_data, desc->num_fields),
			GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, entry);
	entry->template_desc = desc;
	entry->pcr = 10;
	entry->digests = kcalloc(digests, sizeof(*entry->digests), GFP_KERNEL);
	qe = kzalloc(sizeof(*qe), GFP_KERNEL);
	if (!entry->digests || !qe)
		goto nomem;
	for (i = 0; i < desc->num_fields; i++) {
		const char *id = desc->fields[i]->field_id;

		/* strings keep their NUL, as the templates store them */
		if (!strcmp(id, "n") || !strcmp(id, "n-ng") ||
		    !strcmp(id, "xattrnames")) {
			field_len = strlen(name) + 1;
			entry->template_data[i].data = kstrdup(name, GFP_KERNEL);
		} else {
			field_len = !strcmp(id, "d") ? SHA1_DIGEST_SIZE : len;
			entry->template_data[i].data = kzalloc(field_len,
							       GFP_KERNEL);
		}
		if (!entry->template_data[i].data)
			goto nomem;
		entry->template_data[i].len = field_len;
		entry->template_data_len += sizeof(field_len) + field_len;
	}
	qe->entry = entry;
	return qe;
nomem:
	ima_free_template_entry(entry);
	kfree(qe);
	KUNIT_FAIL_AND_ABORT(test, "out of memory");
	return NULL;
}

/* The bytes ima_measurements_show() writes for @qe, as kexec calls it. */
static size_t shown_size(struct kunit *test, struct ima_queue_entry *qe)
{
	struct seq_file m = { .size = PAGE_SIZE };

	m.buf = kunit_kzalloc(test, m.size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, m.buf);
	ima_measurements_show(&m, qe);
	KUNIT_ASSERT_LT(test, m.count, m.size);
	kunit_kfree(test, m.buf);
	return m.count;
}

struct template_param {
	const char *name;
	const char *fmt;
};

static const struct template_param template_params[] = {
	{ "ima", "d|n" },
	{ "ima-ng", "d-ng|n-ng" },
	{ "ima-sig", "d-ng|n-ng|sig" },
	{ "ima-ngv2", "d-ngv2|n-ng" },
	{ "ima-sigv2", "d-ngv2|n-ng|sig" },
	{ "ima-buf", "d-ng|n-ng|buf" },
	{ "ima-modsig", "d-ng|n-ng|sig|d-modsig|modsig" },
	{ "evm-sig",
	  "d-ng|n-ng|evmsig|xattrnames|xattrlengths|xattrvalues|iuid|igid|imode" },
	/* a custom format, ima_template_fmt=: no name */
	{ "", "d-ng|n-ng" },
};

static void template_param_desc(const struct template_param *p, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s", *p->name ? p->name : p->fmt);
}

KUNIT_ARRAY_PARAM(template, template_params, template_param_desc);

KUNIT_DEFINE_ACTION_WRAPPER(free_fields, kfree, const void *);

/* A template descriptor of @p, freed at the end of the test. */
static struct ima_template_desc *test_template_desc(struct kunit *test,
						    const struct template_param *p)
{
	struct ima_template_desc *desc;

	desc = kunit_kzalloc(test, sizeof(*desc), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, desc);
	desc->name = (char *)p->name;
	desc->fmt = (char *)p->fmt;
	KUNIT_ASSERT_EQ(test, template_desc_init_fields(desc->fmt, &desc->fields,
							&desc->num_fields), 0);
	KUNIT_ASSERT_EQ(test,
			kunit_add_action_or_reset(test, free_fields, desc->fields),
			0);
	return desc;
}

/* The list's kexec size of a record equals what the dump writes for it. */
static void size_estimate_equals_what_the_dump_writes(struct kunit *test)
{
	const struct template_param *p = test->param_value;
	struct staging_test *t = test->priv;
	struct ima_template_desc *desc = test_template_desc(test, p);
	struct ima_queue_entry *qe;
	unsigned long size = 0;

	qe = alloc_template_record(test, desc, "/measure/file-1", 13);
	list_add_tail(&qe->later, &t->measurements.head);
	atomic_long_inc(&t->measurements.count);

	ima_mlist_nth(&t->measurements, 1, &size);
	KUNIT_EXPECT_EQ(test, size, shown_size(test, qe));
}

#ifdef CONFIG_IMA_KEXEC
/* A buffer one byte short of the list ends at a record boundary. */
static void dump_writes_whole_records_only(struct kunit *test)
{
	static const struct template_param custom = { "", "d-ng|n-ng" };
	struct ima_template_desc *desc = test_template_desc(test, &custom);
	static const char * const names[] = { "/a", "/measure/b", "/c/d/e" };
	struct staging_test *t = test->priv;
	size_t sizes[ARRAY_SIZE(names)];
	struct ima_kexec_hdr khdr = {};
	struct ima_queue_entry *qe;
	struct seq_file m = {};
	size_t total = 0;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		qe = alloc_template_record(test, desc, names[i], 20 + i);
		list_add_tail(&qe->later, &t->measurements.head);
		atomic_long_inc(&t->measurements.count);
		sizes[i] = shown_size(test, qe);
		total += sizes[i];
	}

	/* room for all of them, but the dump may use one byte less */
	m.buf = kunit_kzalloc(test, sizeof(khdr) + total, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, m.buf);
	m.size = sizeof(khdr) + total - 1;
	m.count = sizeof(khdr);
	KUNIT_EXPECT_FALSE(test, ima_dump_mlist(&m, &t->measurements, &khdr));
	KUNIT_EXPECT_EQ(test, khdr.count, 2);
	KUNIT_EXPECT_EQ(test, m.count, sizeof(khdr) + sizes[0] + sizes[1]);

	/* and a buffer of the exact size takes them all */
	m.size++;
	m.count = sizeof(khdr);
	khdr.count = 0;
	KUNIT_EXPECT_TRUE(test, ima_dump_mlist(&m, &t->measurements, &khdr));
	KUNIT_EXPECT_EQ(test, khdr.count, ARRAY_SIZE(names));
	KUNIT_EXPECT_EQ(test, m.count, m.size);
}
#endif

/*
 * Records are measured between N's steps: until the cut, the lists and
 * their generations are what they were before the request, with the new
 * records appended.
 */
static void measure_and_look(struct ima_staging *s)
{
	struct staging_test *t = container_of(s, struct staging_test, s);

	add_records(t->test, t, 2, true);
	expect_records(t->test, &t->measurements, 0, 8);
	expect_records(t->test, &t->staged, 0, 0);
	KUNIT_EXPECT_EQ(t->test, t->measurements.gen, t->gen_before_n);
	KUNIT_EXPECT_EQ(t->test, t->staged.gen, t->gen_before_n);
}

/* Readers see the lists as they were before N, or as N left them. */
static void delete_n_moves_nothing_until_the_cut(struct kunit *test)
{
	struct staging_test *t = test->priv;

	add_records(test, t, 6, true);
	t->gen_before_n = t->measurements.gen;
	KUNIT_ASSERT_EQ(test, t->staged.gen, t->gen_before_n);
	t->s.n_between_steps = measure_and_look;
	KUNIT_ASSERT_EQ(test, ima_delete_measurements(&t->s, 4), 0);
	expect_records(test, &t->measurements, 4, 4);
	expect_records(test, &t->staged, 0, 0);
	/* one change of the current list, none of the staged one */
	KUNIT_EXPECT_EQ(test, t->measurements.gen, t->gen_before_n + 1);
	KUNIT_EXPECT_EQ(test, t->staged.gen, t->gen_before_n);
	KUNIT_EXPECT_EQ(test, table_digests(t->s.htable), 8);
}

struct suspender {
	struct ima_staging *s;
	struct completion started;
	struct completion done;
};

static int suspend_thread(void *data)
{
	struct suspender *sp = data;

	complete(&sp->started);
	ima_suspend_staging(sp->s);
	complete(&sp->done);
	return 0;
}

/*
 * A reboot begins between N's steps, in another thread.  It gets 200 ms
 * or more to suspend measurement while N is between its steps.
 */
static void start_a_suspension(struct ima_staging *s)
{
	struct staging_test *t = container_of(s, struct staging_test, s);
	struct suspender *sp = t->suspender;
	struct task_struct *task;
	int i;

	task = kthread_run(suspend_thread, sp, "ima_suspend_test");
	if (IS_ERR(task)) {
		complete(&sp->done);
		return;
	}
	wait_for_completion(&sp->started);
	for (i = 0; i < 200 && !READ_ONCE(s->suspended); i++)
		usleep_range(1000, 2000);
	t->suspended_during_n = READ_ONCE(s->suspended);
}

/* The suspension waits for N, which completes. */
static void suspension_waits_for_a_request(struct kunit *test)
{
	struct staging_test *t = test->priv;
	struct suspender *sp;

	sp = kunit_kzalloc(test, sizeof(*sp), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, sp);
	sp->s = &t->s;
	init_completion(&sp->started);
	init_completion(&sp->done);
	t->suspender = sp;

	add_records(test, t, 6, true);
	t->s.n_between_steps = start_a_suspension;
	KUNIT_EXPECT_EQ(test, ima_delete_measurements(&t->s, 4), 0);
	wait_for_completion(&sp->done);
	KUNIT_EXPECT_FALSE(test, t->suspended_during_n);
	KUNIT_EXPECT_TRUE(test, t->s.suspended);
	expect_records(test, &t->staged, 0, 0);
	expect_records(test, &t->measurements, 4, 2);
}

/*
 * D frees a table only when it detached a staged one: what
 * ima_flush_htable says at the time of D does not matter.
 */
static void delete_staged_follows_the_detached_table(struct kunit *test)
{
	struct staging_test *t = test->priv;
	struct rhashtable *table = t->s.htable;
	struct rhashtable *spare = t->s.htable_spare;

	add_records(test, t, 4, true);
	KUNIT_ASSERT_EQ(test, ima_stage_measurements(&t->s), 0);
	KUNIT_ASSERT_NULL(test, t->s.htable_staged);
	t->s.flush_htable = true;
	KUNIT_ASSERT_EQ(test, ima_delete_staged_measurements(&t->s), 4);
	t->s.flush_htable = false;

	/* the digests stayed in the live table, the spare is untouched */
	expect_tables_kept(test, t, table, spare, 4);
}

/*
 * Deduplication needs the digests of the records deleted by D and by N:
 * they stay next to those of the records still listed, and nothing else
 * matches.
 */
static void lookups_find_live_records_and_remnants(struct kunit *test)
{
	struct staging_test *t = test->priv;
	u8 digest[HASH_MAX_DIGESTSIZE];
	u32 i;

	add_records(test, t, 3, true);
	KUNIT_ASSERT_EQ(test, ima_stage_measurements(&t->s), 0);
	add_records(test, t, 4, true);
	KUNIT_ASSERT_EQ(test, ima_delete_staged_measurements(&t->s), 3);
	KUNIT_ASSERT_EQ(test, ima_delete_measurements(&t->s, 2), 0);
	expect_records(test, &t->measurements, 5, 2);

	for (i = 0; i < 7; i++)
		KUNIT_EXPECT_TRUE(test, recorded(&t->s, i));
	KUNIT_EXPECT_FALSE(test, recorded(&t->s, 7));
	/* the PCR is part of the key */
	record_digest(1, digest);
	KUNIT_EXPECT_FALSE(test, staging_lookup(&t->s, digest, 11));

	/* a digest added again is not stored twice */
	remember(test, t->s.htable, 1);
	KUNIT_EXPECT_EQ(test, table_digests(t->s.htable), 7);
}

/* Add a copy of @digest to @table; false if it was there already. */
static bool add_digest(struct kunit *test, struct rhashtable *table,
		       const u8 *digest)
{
	unsigned int before = table_digests(table);
	struct ima_digest *d = ima_digest_alloc(digest, 10);

	KUNIT_ASSERT_NOT_NULL(test, d);
	KUNIT_ASSERT_TRUE(test, ima_htable_add(table, d));
	return table_digests(table) > before;
}

/*
 * The whole digest is the key, its last byte too, and a digest added
 * twice is kept once.
 */
static void the_whole_digest_is_the_key(struct kunit *test)
{
	struct staging_test *t = test->priv;
	unsigned int size = hash_digest_size[ima_hash_algo];
	u8 digest[HASH_MAX_DIGESTSIZE] = {};

	KUNIT_EXPECT_TRUE(test, add_digest(test, t->s.htable, digest));
	KUNIT_EXPECT_FALSE(test, add_digest(test, t->s.htable, digest));
	digest[size - 1] = 1;
	KUNIT_EXPECT_FALSE(test, ima_htable_lookup(t->s.htable, digest, 10));
	KUNIT_EXPECT_TRUE(test, add_digest(test, t->s.htable, digest));
	KUNIT_EXPECT_TRUE(test, ima_htable_lookup(t->s.htable, digest, 10));
	digest[size - 1] = 0;
	KUNIT_EXPECT_TRUE(test, ima_htable_lookup(t->s.htable, digest, 10));
	KUNIT_EXPECT_EQ(test, table_digests(t->s.htable), 2);
}

/*
 * The PCR is a field of the key: one digest measured into each PCR a
 * policy can name (BITS_PER_LONG of them, see INVALID_PCR) makes as many
 * entries, each found in its own PCR only.
 */
static void each_pcr_keeps_its_own_digests(struct kunit *test)
{
	struct staging_test *t = test->priv;
	unsigned int size = hash_digest_size[ima_hash_algo];
	u8 digest[HASH_MAX_DIGESTSIZE];
	struct ima_digest *d;
	int pcr;

	memset(digest, 0xa5, size);
	for (pcr = 0; pcr < BITS_PER_LONG; pcr++) {
		KUNIT_EXPECT_FALSE(test, ima_htable_lookup(t->s.htable,
							   digest, pcr));
		d = ima_digest_alloc(digest, pcr);
		KUNIT_ASSERT_NOT_NULL(test, d);
		KUNIT_ASSERT_TRUE(test, ima_htable_add(t->s.htable, d));
	}
	KUNIT_EXPECT_EQ(test, table_digests(t->s.htable), BITS_PER_LONG);
	for (pcr = 0; pcr < BITS_PER_LONG; pcr++)
		KUNIT_EXPECT_TRUE(test, ima_htable_lookup(t->s.htable,
							  digest, pcr));
	KUNIT_EXPECT_FALSE(test, ima_htable_lookup(t->s.htable, digest,
						   BITS_PER_LONG));
}

/*
 * Digest and PCR are compared as 6.12 compares them, each exactly: a
 * digest of PCR 10 does not make another digest of PCR 11 a duplicate,
 * however the two differ.
 */
static void a_digest_matches_only_itself_in_its_own_pcr(struct kunit *test)
{
	struct staging_test *t = test->priv;
	unsigned int size = hash_digest_size[ima_hash_algo];
	u8 digest[HASH_MAX_DIGESTSIZE], other[HASH_MAX_DIGESTSIZE];
	/* the first byte, and the lowest of the last four */
	unsigned int at[] = { 0, size - sizeof(u32) };
	struct ima_digest *d;
	unsigned int i;

	memset(digest, 0x5a, size);
	d = ima_digest_alloc(digest, 10);
	KUNIT_ASSERT_NOT_NULL(test, d);
	KUNIT_ASSERT_TRUE(test, ima_htable_add(t->s.htable, d));

	/* the PCRs' difference moved into the digest */
	for (i = 0; i < ARRAY_SIZE(at); i++) {
		memcpy(other, digest, size);
		other[at[i]] ^= 10 ^ 11;
		KUNIT_EXPECT_FALSE(test, ima_htable_lookup(t->s.htable,
							   other, 11));
		KUNIT_EXPECT_FALSE(test, ima_htable_lookup(t->s.htable,
							   other, 10));
	}
	KUNIT_EXPECT_FALSE(test, ima_htable_lookup(t->s.htable, digest, 11));
	KUNIT_EXPECT_TRUE(test, ima_htable_lookup(t->s.htable, digest, 10));
}

struct table_reader {
	struct rhashtable *table;
	struct task_struct *task;
	atomic_t added;		/* digests 0 .. added - 1 are in the table */
	atomic_t misses;
	atomic_t lookups;
	struct completion started;
};

/* Looks up digests known to be in the table while it grows. */
static int table_reader_thread(void *data)
{
	struct table_reader *r = data;
	u32 added;

	complete(&r->started);
	while (!kthread_should_stop()) {
		added = atomic_read_acquire(&r->added);
		if (added && !remembers(r->table, added - 1))
			atomic_inc(&r->misses);
		if (added && !remembers(r->table, added / 2))
			atomic_inc(&r->misses);
		atomic_inc(&r->lookups);
		cond_resched();
	}
	return 0;
}

/* Stops the reader, also when the test ends early, then frees its table. */
static void stop_table_reader(void *data)
{
	struct table_reader *r = data;

	kthread_stop(r->task);
	put_task_struct(r->task);
	ima_htable_free(r->table);
	kfree(r);
}

/*
 * The table grows under lookups made without any lock, and none of them
 * misses a digest that is in it.
 */
static void table_grows_under_concurrent_lookups(struct kunit *test)
{
	const u32 count = 20000;
	struct table_reader *r;
	unsigned int size = 0;
	u32 i;

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, r);
	init_completion(&r->started);
	r->table = ima_htable_alloc();
	r->task = kthread_create(table_reader_thread, r, "ima_table_test");
	if (!r->table || IS_ERR(r->task)) {
		if (!IS_ERR(r->task))
			kthread_stop(r->task);
		if (r->table)
			ima_htable_free(r->table);
		kfree(r);
		KUNIT_FAIL_AND_ABORT(test, "no table or no thread");
	}
	get_task_struct(r->task);
	wake_up_process(r->task);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, stop_table_reader, r), 0);
	wait_for_completion(&r->started);

	for (i = 0; i < count; i++) {
		u8 digest[HASH_MAX_DIGESTSIZE];
		struct ima_digest *d;

		record_digest(i, digest);
		d = ima_digest_alloc(digest, 0);
		if (!d || !ima_htable_add(r->table, d)) {
			KUNIT_FAIL(test, "digest %u not added", i);
			break;
		}
		/* publishes the digest added before the count that says so */
		atomic_set_release(&r->added, i + 1);
		if (i % 64 == 0)
			cond_resched();
	}
	/* the resizing worker catches up: one bucket per digest or more */
	for (i = 0; i < 500; i++) {
		rcu_read_lock();
		size = rht_dereference_rcu(r->table->tbl, r->table)->size;
		rcu_read_unlock();
		if (size >= count && atomic_read(&r->lookups))
			break;
		msleep(20);
	}

	KUNIT_EXPECT_EQ(test, atomic_read(&r->misses), 0);
	KUNIT_EXPECT_GT(test, atomic_read(&r->lookups), 0);
	KUNIT_EXPECT_GE(test, size, count);
	KUNIT_EXPECT_EQ(test, table_digests(r->table), count);
	for (i = 0; i < count; i++)
		if (!remembers(r->table, i))
			break;
	KUNIT_EXPECT_EQ(test, i, count);
}

static struct kunit_case staging_test_cases[] = {
	KUNIT_CASE(stage_moves_the_whole_list),
	KUNIT_CASE(stage_refuses_and_changes_nothing),
	KUNIT_CASE(delete_staged_keeps_digests_by_default),
	KUNIT_CASE(delete_staged_flushes_the_staged_table),
	KUNIT_CASE(delete_n_deletes_the_oldest),
	KUNIT_CASE(delete_n_of_the_whole_list),
	KUNIT_CASE(delete_n_refuses_and_changes_nothing),
	KUNIT_CASE(cut_front_keeps_the_records_appended_after_the_walk),
	KUNIT_CASE(cut_front_of_every_record),
	KUNIT_CASE(suspended_requests_fail_and_change_nothing),
	KUNIT_CASE_PARAM(size_estimate_equals_what_the_dump_writes,
			 template_gen_params),
#ifdef CONFIG_IMA_KEXEC
	KUNIT_CASE(dump_writes_whole_records_only),
#endif
	KUNIT_CASE(delete_n_moves_nothing_until_the_cut),
	KUNIT_CASE(suspension_waits_for_a_request),
	KUNIT_CASE(delete_staged_follows_the_detached_table),
	KUNIT_CASE(lookups_find_live_records_and_remnants),
	KUNIT_CASE(the_whole_digest_is_the_key),
	KUNIT_CASE(each_pcr_keeps_its_own_digests),
	KUNIT_CASE(a_digest_matches_only_itself_in_its_own_pcr),
	KUNIT_CASE(table_grows_under_concurrent_lookups),
	{}
};

static struct kunit_suite staging_test_suite = {
	.name = "ima_staging",
	.init = staging_test_init,
	.exit = staging_test_exit,
	.test_cases = staging_test_cases,
};

kunit_test_suite(staging_test_suite);
