// SPDX-License-Identifier: GPL-2.0-only
/*
 * IMA measurement staging (CONFIG_IMA_STAGING): user space saves
 * measurement records and deletes them from kernel memory, while new
 * records go on being added to the measurement list (ima_queue.c).
 */

#include <linux/rculist.h>
#include <linux/reboot.h>
#include <linux/slab.h>
#include <kunit/visibility.h>
#include "ima.h"

/*
 * Locking: appending a record takes only ima_extend_list_mutex, and
 * staging holds it only for constant-time steps: swapping list heads,
 * counters and hash tables.  Walking and freeing records happen without
 * it.  ima_stage_mutex serializes the requests themselves, so that the
 * staged list and the staged and spare hash tables only change under a
 * request that is not racing another one, and the suspension of
 * measurement at a reboot with them.  It is taken before
 * ima_extend_list_mutex, never after it.  The mutexes are global: a
 * request on a private struct ima_staging, as KUnit tests make, also
 * serializes with the live lists.
 *
 * RCU: records moved to another list keep their links, so a reader in
 * the middle of a walk may end it at the head of the other list (see
 * ima_is_measurement_list_head()); records taken off every list are
 * freed only after a grace period.
 */
static DEFINE_MUTEX(ima_stage_mutex);

/*
 * Measurement on @s ends: no record is added or moved any more.  Taking
 * ima_stage_mutex first waits for a request in progress, so that the
 * request either completes or fails before it moves anything.
 */
VISIBLE_IF_KUNIT void ima_suspend_staging(struct ima_staging *s)
{
	mutex_lock(&ima_stage_mutex);
	mutex_lock(&ima_extend_list_mutex);
	s->suspended = true;
	mutex_unlock(&ima_extend_list_mutex);
	mutex_unlock(&ima_stage_mutex);
}

static int ima_suspend_measurements(struct notifier_block *nb,
				    unsigned long action, void *data)
{
	ima_suspend_staging(&ima_staging);
	return NOTIFY_DONE;
}

/* Runs before any other reboot notifier, the kexec list copy included. */
static struct notifier_block ima_suspend_nb = {
	.notifier_call = ima_suspend_measurements,
	.priority = INT_MAX,
};

int __init ima_init_staging(void)
{
	return register_reboot_notifier(&ima_suspend_nb);
}

static int __init ima_flush_htable_setup(char *str)
{
	if (*str)
		return 0;
	ima_staging.flush_htable = true;
	return 1;
}
__setup("ima_flush_htable", ima_flush_htable_setup);

/*
 * Records left @list, or moved within it: readers that hold a position in
 * it must start again.  Called with ima_extend_list_mutex held, after the
 * list was changed and before any record that left it is freed (after a
 * grace period).  The release pairs with the acquire of a reader: one that
 * sees the new generation sees the changed list; one that sees the old
 * generation inside rcu_read_lock() may still use a record it remembers,
 * which is not freed before that reader is done.
 */
static void ima_mlist_changed(struct ima_mlist *list)
{
	lockdep_assert_held(&ima_extend_list_mutex);
	/* pairs with ima_mfile_resume(): the list changed before the bump */
	smp_store_release(&list->gen, list->gen + 1);
}

/*
 * Move every record of the non-empty list @src to the empty list @dst.
 * A reader walking @src ends its walk at the head of @dst.
 * Called with ima_extend_list_mutex held.
 */
VISIBLE_IF_KUNIT void ima_mlist_move(struct ima_mlist *dst,
				     struct ima_mlist *src)
{
	struct list_head *first = src->head.next;
	struct list_head *last = src->head.prev;

	lockdep_assert_held(&ima_extend_list_mutex);
	WRITE_ONCE(last->next, &dst->head);
	first->prev = &dst->head;
	dst->head.prev = last;
	rcu_assign_pointer(list_next_rcu(&dst->head), first);
	INIT_LIST_HEAD_RCU(&src->head);

	atomic_long_set(&dst->count, atomic_long_read(&src->count));
	atomic_long_set(&src->count, 0);
	dst->binary_size = src->binary_size;
	src->binary_size = IMA_EMPTY_BINARY_SIZE;
	ima_mlist_changed(dst);
	ima_mlist_changed(src);
}

/*
 * Take every record off the non-empty list @list and return the first
 * one; *@count tells how many there were, the first included.  The
 * records keep their links, so a reader on one of them ends its walk at
 * the head of @list.
 * Called with ima_extend_list_mutex held.
 */
static struct list_head *ima_mlist_detach(struct ima_mlist *list,
					  long *count)
{
	struct list_head *first = list->head.next;

	lockdep_assert_held(&ima_extend_list_mutex);
	*count = atomic_long_read(&list->count);
	INIT_LIST_HEAD_RCU(&list->head);
	atomic_long_set(&list->count, 0);
	list->binary_size = IMA_EMPTY_BINARY_SIZE;
	ima_mlist_changed(list);
	return first;
}

/*
 * Return the @n-th record of @list, 1 <= @n <= its count, and add the
 * serialized size of the records up to it to *@size.  Called without
 * ima_extend_list_mutex, by a request that keeps other requests off
 * @list: appending a record writes only the head's and the last
 * record's links, and the walk reads neither the last record's link nor
 * the head's once @list is not empty (the benchmark hook
 * ima_walk_measurements_locked() calls it with the mutex held).
 */
VISIBLE_IF_KUNIT struct list_head *ima_mlist_nth(struct ima_mlist *list,
						 unsigned long n,
						 unsigned long *size)
{
	struct list_head *p = &list->head;
	struct ima_queue_entry *qe;

	while (n--) {
		p = p->next;
		qe = list_entry(p, struct ima_queue_entry, later);
		*size = ima_binary_size_add(*size,
					    ima_binary_record_size(qe->entry));
		cond_resched();
	}
	return p;
}

/*
 * Cut the records up to @nth, the @n-th, off the front of @list and
 * return the first of them.  @size is the serialized size of the cut
 * records.  The cut records keep their links: a reader on one of them
 * walks on into the records left on @list.
 * Called with ima_extend_list_mutex held.
 */
VISIBLE_IF_KUNIT struct list_head *
ima_mlist_cut_front(struct ima_mlist *list, struct list_head *nth, long n,
		    unsigned long size)
{
	struct list_head *first = list->head.next;
	struct list_head *rest = nth->next;

	lockdep_assert_held(&ima_extend_list_mutex);
	rest->prev = &list->head;
	WRITE_ONCE(list->head.next, rest);
	atomic_long_sub(n, &list->count);
	if (list->binary_size != ULONG_MAX)
		list->binary_size -= size;
	ima_mlist_changed(list);
	return first;
}

/*
 * Free @count records starting at @first, taken off their list at least
 * a grace period ago.  Their digests stay in their table.
 */
VISIBLE_IF_KUNIT void ima_free_records(struct list_head *first, long count)
{
	struct ima_queue_entry *qe;
	struct list_head *p = first;

	while (count--) {
		qe = list_entry(p, struct ima_queue_entry, later);
		p = p->next;
		ima_free_template_entry(qe->entry);
		kfree(qe);
		cond_resched();
	}
}

/**
 * ima_stage_measurements - move the current list to the staged list
 * @s: the lists, &ima_staging outside of tests
 *
 * New records keep going to the now empty current list.
 *
 * Return: 0, -EEXIST if records are staged already, -ENOENT if the
 * current list is empty, -EACCES once a reboot or kexec began.
 */
int ima_stage_measurements(struct ima_staging *s)
{
	int ret = 0;

	mutex_lock(&ima_stage_mutex);
	mutex_lock(&ima_extend_list_mutex);
	if (s->suspended) {
		ret = -EACCES;
	} else if (!list_empty(&s->staged->head)) {
		ret = -EEXIST;
	} else if (list_empty(&s->measurements->head)) {
		ret = -ENOENT;
	} else {
		ima_mlist_move(s->staged, s->measurements);
		if (s->flush_htable) {
			s->htable_staged = s->htable;
			s->htable = s->htable_spare;
			s->htable_spare = NULL;
		}
	}
	mutex_unlock(&ima_extend_list_mutex);
	mutex_unlock(&ima_stage_mutex);
	return ret;
}

/**
 * ima_delete_staged_measurements - delete the staged records
 * @s: the lists, &ima_staging outside of tests
 *
 * Their digests stay in the digest table, unless @s->flush_htable is set:
 * then their table is freed with them, and an empty one made for the
 * next staging.
 *
 * Return: the number of records deleted, -ENOENT if nothing is staged,
 * -ESTALE once a reboot or kexec began: the records go to the next
 * kernel, -ENOMEM if there was no memory for the empty table.
 */
long ima_delete_staged_measurements(struct ima_staging *s)
{
	struct rhashtable *table = NULL, *spare = NULL;
	struct list_head *first;
	long count;
	long ret = 0;

	mutex_lock(&ima_stage_mutex);
	if (s->htable_staged) {
		spare = ima_htable_alloc();
		if (!spare) {
			ret = -ENOMEM;
			goto out;
		}
	}

	mutex_lock(&ima_extend_list_mutex);
	if (s->suspended) {
		ret = -ESTALE;
	} else if (list_empty(&s->staged->head)) {
		ret = -ENOENT;
	} else {
		first = ima_mlist_detach(s->staged, &count);
		table = s->htable_staged;
		s->htable_staged = NULL;
	}
	mutex_unlock(&ima_extend_list_mutex);
	if (ret) {
		if (spare)
			ima_htable_free(spare);
		goto out;
	}

	synchronize_rcu();
	ima_free_records(first, count);
	if (table) {
		ima_htable_free(table);
		s->htable_spare = spare;
	}
	ret = count;
out:
	mutex_unlock(&ima_stage_mutex);
	return ret;
}

#if IS_ENABLED(CONFIG_IMA_STAGING_KUNIT_TEST)
static void ima_n_between_steps(struct ima_staging *s)
{
	if (s->n_between_steps)
		s->n_between_steps(s);
}
#else
static inline void ima_n_between_steps(struct ima_staging *s)
{
}
#endif

/**
 * ima_delete_measurements - delete the @n oldest records of the current list
 * @s: the lists, &ima_staging outside of tests
 * @n: how many records to delete
 *
 * The @n-th record is found without ima_extend_list_mutex, in place:
 * ima_stage_mutex keeps every other request off the current list, and
 * appending records changes only its tail, after the @n-th record.  The
 * lock is then taken once, for constant time, to cut the records off.
 * Readers see the list either before or after the request: nothing
 * moves until the cut.
 *
 * Return: 0, -EINVAL if @n is 0 or @s->flush_htable is set (the records'
 * digests would have to leave the hash table one by one), -EEXIST if
 * records are staged, -ENOENT if the current list holds fewer than @n
 * records, -ESTALE once a reboot or kexec began.  A reboot waits for the
 * request to complete (see ima_suspend_staging()).
 */
int ima_delete_measurements(struct ima_staging *s, unsigned long n)
{
	struct list_head *first, *nth;
	unsigned long size = 0;
	int ret = 0;

	if (!n || s->flush_htable)
		return -EINVAL;

	/*
	 * The suspension and the staged list change only under
	 * ima_stage_mutex, and appends only make the current list longer:
	 * what is checked here holds until the cut.
	 */
	mutex_lock(&ima_stage_mutex);
	if (s->suspended)
		ret = -ESTALE;
	else if (!list_empty(&s->staged->head))
		ret = -EEXIST;
	else if ((unsigned long)atomic_long_read(&s->measurements->count) < n)
		ret = -ENOENT;
	if (ret)
		goto out;

	nth = ima_mlist_nth(s->measurements, n, &size);
	ima_n_between_steps(s);

	mutex_lock(&ima_extend_list_mutex);
	first = ima_mlist_cut_front(s->measurements, nth, n, size);
	mutex_unlock(&ima_extend_list_mutex);

	synchronize_rcu();
	ima_free_records(first, n);
out:
	mutex_unlock(&ima_stage_mutex);
	return ret;
}

#ifdef CONFIG_IMA_STAGING_BENCH
/**
 * ima_walk_measurements_locked - find the @n-th record under the lock
 * @n: the record to walk to
 * @size: the serialized size of the records up to it
 *
 * For benchmarks only: the locked section of a design that would find
 * the @n-th record of the current list with ima_extend_list_mutex held,
 * a walk ima_delete_measurements() makes without it.  Changes nothing.
 *
 * Return: 0, or -ENOENT if @n is 0 or the current list holds fewer than
 * @n records.
 */
int ima_walk_measurements_locked(unsigned long n, unsigned long *size)
{
	int ret = 0;

	*size = 0;
	mutex_lock(&ima_stage_mutex);
	mutex_lock(&ima_extend_list_mutex);
	if (!n || (unsigned long)atomic_long_read(&ima_measurements.count) < n)
		ret = -ENOENT;
	else
		ima_mlist_nth(&ima_measurements, n, size);
	mutex_unlock(&ima_extend_list_mutex);
	mutex_unlock(&ima_stage_mutex);
	return ret;
}
#endif
