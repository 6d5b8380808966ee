// SPDX-License-Identifier: GPL-2.0-only
/*
 * Copyright (C) 2005,2006,2007,2008 IBM Corporation
 *
 * Authors:
 * Kylene Hall <kjhall@us.ibm.com>
 * Reiner Sailer <sailer@us.ibm.com>
 * Mimi Zohar <zohar@us.ibm.com>
 *
 * File: ima_fs.c
 *	implemenents security file system for reporting
 *	current measurement list and IMA statistics
 */

#include <linux/fcntl.h>
#include <linux/kernel_read_file.h>
#include <linux/slab.h>
#include <linux/init.h>
#include <linux/seq_file.h>
#include <linux/rculist.h>
#include <linux/rcupdate.h>
#include <linux/parser.h>
#include <linux/vmalloc.h>

#include "ima.h"

static DEFINE_MUTEX(ima_write_mutex);

bool ima_canonical_fmt;
static int __init default_canonical_fmt_setup(char *str)
{
#ifdef __BIG_ENDIAN
	ima_canonical_fmt = true;
#endif
	return 1;
}
__setup("ima_canonical_fmt", default_canonical_fmt_setup);

static int valid_policy = 1;

static ssize_t ima_show_htable_value(char __user *buf, size_t count,
				     loff_t *ppos, atomic_long_t *val)
{
	char tmpbuf[32];	/* greater than largest 'long' string value */
	ssize_t len;

	len = scnprintf(tmpbuf, sizeof(tmpbuf), "%li\n", atomic_long_read(val));
	return simple_read_from_buffer(buf, count, ppos, tmpbuf, len);
}

static ssize_t ima_show_htable_violations(struct file *filp,
					  char __user *buf,
					  size_t count, loff_t *ppos)
{
	return ima_show_htable_value(buf, count, ppos, &ima_htable.violations);
}

static const struct file_operations ima_htable_violations_ops = {
	.read = ima_show_htable_violations,
	.llseek = generic_file_llseek,
};

static ssize_t ima_show_measurements_count(struct file *filp,
					   char __user *buf,
					   size_t count, loff_t *ppos)
{
	return ima_show_htable_value(buf, count, ppos, &ima_measurements.count);

}

static const struct file_operations ima_measurements_count_ops = {
	.read = ima_show_measurements_count,
	.llseek = generic_file_llseek,
};

#ifdef CONFIG_IMA_STAGING
/*
 * Access rules of the measurement files: many readers, or one writer.
 * The writer is the thread group that holds files open for write; while
 * it does, its threads may open any measurement file and every other
 * open fails.  A write open fails while another thread group holds a
 * file open for read.  Opening for write needs CAP_SYS_ADMIN.
 */
struct ima_mfile {
	struct pid *opener;		/* thread group that opened the file */
	struct list_head reader;	/* on ima_readers, if read-only */
	struct mutex io_lock;		/* one read or seek at a time */
	/* the file's own position (read(), lseek()), under the seq_file's lock */
	bool bound;			/* it has read the list of @gen */
	unsigned long gen;		/* list generation at position 0 */
	struct ima_queue_entry *cur;	/* the record at @cur_pos, or NULL */
	loff_t cur_pos;
	bool rewound;			/* read from byte 0 since @gen */
	/* a pread() away from the file's position, under @io_lock */
	bool away;
	bool away_started;		/* it has decided on @away_gen */
	loff_t away_offset;		/* its byte offset */
	unsigned long away_gen;		/* the generation it reads */
};

static DEFINE_MUTEX(ima_mfiles_mutex);	/* protects the four below */
static struct pid *ima_writer;		/* thread group of the writer */
static unsigned int ima_writes;		/* files the writer opened to write */
static unsigned int ima_nr_readers;	/* files open read-only */
static LIST_HEAD(ima_readers);

/* Is a file open for read by a thread group other than @tgid? */
static bool ima_other_reader(struct pid *tgid)
{
	struct ima_mfile *mf;

	list_for_each_entry(mf, &ima_readers, reader)
		if (mf->opener != tgid)
			return true;
	return false;
}

static int ima_mfile_get_access(struct ima_mfile *mf, bool write)
{
	struct pid *tgid = task_tgid(current);
	int ret = 0;

	if (write && !capable(CAP_SYS_ADMIN))
		return -EPERM;

	mutex_lock(&ima_mfiles_mutex);
	if (ima_writer && ima_writer != tgid)
		ret = -EBUSY;
	else if (write && ima_other_reader(tgid))
		ret = -EBUSY;
	else if ((write ? ima_writes : ima_nr_readers) == UINT_MAX)
		ret = -ENFILE;
	if (ret)
		goto out;

	mf->opener = get_pid(tgid);
	if (write) {
		if (!ima_writes++)
			ima_writer = get_pid(tgid);
	} else {
		ima_nr_readers++;
		list_add(&mf->reader, &ima_readers);
	}
out:
	mutex_unlock(&ima_mfiles_mutex);
	return ret;
}

static void ima_mfile_put_access(struct ima_mfile *mf, bool write)
{
	mutex_lock(&ima_mfiles_mutex);
	if (write) {
		if (!--ima_writes) {
			put_pid(ima_writer);
			ima_writer = NULL;
		}
	} else {
		ima_nr_readers--;
		list_del(&mf->reader);
	}
	mutex_unlock(&ima_mfiles_mutex);
	put_pid(mf->opener);
}

static int ima_open_measurement_list(struct inode *inode, struct file *file,
				     const struct seq_operations *ops)
{
	struct ima_mfile *mf;
	int ret;

	mf = __seq_open_private(file, ops, sizeof(*mf));
	if (!mf)
		return -ENOMEM;
	mutex_init(&mf->io_lock);

	ret = ima_mfile_get_access(mf, file->f_mode & FMODE_WRITE);
	if (ret)
		seq_release_private(inode, file);
	return ret;
}

static int ima_measurements_release(struct inode *inode, struct file *file)
{
	struct seq_file *m = file->private_data;

	ima_mfile_put_access(m->private, file->f_mode & FMODE_WRITE);
	return seq_release_private(inode, file);
}

/* A request is one write of 2 to 21 bytes that ends with a newline. */
#define IMA_REQUEST_MAX_LEN	21

/*
 * Copy a request from user space and run @handle on it, the newline
 * stripped.  The request and the reads of the same open file are
 * serialized; a request that succeeds rewinds the file, so that the
 * next read starts at the first record of the list.
 */
static ssize_t ima_write_request(struct file *file, const char __user *buf,
				 size_t datalen, loff_t *ppos,
				 int (*handle)(const char *request))
{
	struct seq_file *m = file->private_data;
	char request[IMA_REQUEST_MAX_LEN + 1];
	int ret;

	if (datalen < 2 || datalen > IMA_REQUEST_MAX_LEN)
		return -EINVAL;
	if (copy_from_user(request, buf, datalen))
		return -EFAULT;
	request[datalen] = '\0';
	if (request[datalen - 1] != '\n' || strlen(request) != datalen)
		return -EINVAL;
	request[datalen - 1] = '\0';

	mutex_lock(&m->lock);
	ret = handle(request);
	mutex_unlock(&m->lock);
	if (ret)
		return ret;

	*ppos = 0;
	return datalen;
}

/*
 * Audit a request that succeeded: who changed the measurement list, how,
 * and how many records it deleted from kernel memory.
 */
static void ima_audit_request(const char *request, unsigned long deleted)
{
	char comm[TASK_COMM_LEN];
	struct audit_buffer *ab;

	ab = integrity_audit_log_start(audit_context(), GFP_KERNEL,
				       AUDIT_INTEGRITY_STATUS);
	if (!ab)
		return;
	audit_log_format(ab, "pid=%d uid=%u auid=%u ses=%u",
			 task_pid_nr(current),
			 from_kuid(&init_user_ns, current_uid()),
			 from_kuid(&init_user_ns, audit_get_loginuid(current)),
			 audit_get_sessionid(current));
	audit_log_task_context(ab);
	audit_log_format(ab, " op=measurement_list_request request=%s records_deleted=%lu comm=",
			 request, deleted);
	audit_log_untrustedstring(ab, get_task_comm(comm, current));
	audit_log_format(ab, " res=1");
	audit_log_end(ab);
}

/* Requests to the original files: N, delete the N oldest records. */
static int ima_measurements_request(const char *request)
{
	unsigned long n;
	int ret;

	/* digits only: kstrtoul() takes a leading '+' and a trailing newline */
	if (!*request || strspn(request, "0123456789") != strlen(request))
		return -EINVAL;
	ret = kstrtoul(request, 10, &n);
	if (ret)
		return ret;
	ret = ima_delete_measurements(&ima_staging, n);
	if (!ret)
		ima_audit_request(request, n);
	return ret;
}

static ssize_t ima_measurements_write(struct file *file, const char __user *buf,
				      size_t datalen, loff_t *ppos)
{
	return ima_write_request(file, buf, datalen, ppos,
				 ima_measurements_request);
}

/* Requests to the _staged files: A, stage all records; D, delete them. */
static int ima_staged_request(const char *request)
{
	long ret;

	if (!strcmp(request, "A"))
		ret = ima_stage_measurements(&ima_staging);
	else if (!strcmp(request, "D"))
		ret = ima_delete_staged_measurements(&ima_staging);
	else
		return -EINVAL;
	if (ret < 0)
		return ret;
	/* A deletes nothing and returns 0, D the number it deleted */
	ima_audit_request(request, ret);
	return 0;
}

static ssize_t ima_staged_write(struct file *file, const char __user *buf,
				size_t datalen, loff_t *ppos)
{
	return ima_write_request(file, buf, datalen, ppos, ima_staged_request);
}

/*
 * A read of an open file goes on from the record where its last read
 * stopped, rather than walking the list from the head to its position,
 * as long as the list did not change since the file was read from byte 0:
 * the remembered record is then not freed yet, since a change bumps the
 * generation under ima_extend_list_mutex after changing the list and
 * before any record is freed, and records are freed after a grace period.
 * A read after the list changed fails with -ESTALE instead of resolving
 * its position against records that moved: it would skip or repeat some.
 * Only a read from byte 0 (after lseek(fd, 0, SEEK_SET), or the rewind of
 * a request) takes the list as it is now; seq_file's own restarts from
 * index 0, to reach another offset, do not.  A file that has not read
 * any list yet takes the list as it is now at any offset, as in 6.12.
 *
 * A pread() away from the file's position reads the list as it is now,
 * from byte 0 or while the file's list has not changed, and leaves the
 * file's position, generation and remembered record alone: -ESTALE
 * otherwise, as the file's next read() would give, and if the list
 * changes while the pread() walks it in several steps.
 *
 * Returns true with *@v set (a record, NULL at the end of the list, or
 * ERR_PTR(-ESTALE)) when it decided, false when the list must be walked.
 * Called under rcu_read_lock(), with the seq_file's lock held.
 */
static bool ima_mfile_resume(struct seq_file *m, struct ima_mlist *list,
			     loff_t pos, void **v)
{
	struct ima_mfile *mf = m->private;
	struct list_head *p;
	unsigned long gen;

	/* pairs with ima_mlist_changed(): a new generation, a changed list */
	gen = smp_load_acquire(&list->gen);

	if (mf->away) {
		if (!mf->away_started) {
			mf->away_started = true;
			mf->away_gen = mf->away_offset && mf->bound ? mf->gen : gen;
		}
		if (gen != mf->away_gen) {
			*v = ERR_PTR(-ESTALE);
			return true;
		}
		return false;
	}
	if (!mf->bound || (!pos && (mf->rewound || gen == mf->gen))) {
		mf->bound = true;
		mf->gen = gen;
		mf->rewound = false;
		mf->cur = NULL;
		return false;
	}
	if (gen != mf->gen) {
		*v = ERR_PTR(-ESTALE);
		return true;
	}
	if (!mf->cur || (pos != mf->cur_pos && pos != mf->cur_pos + 1))
		return false;
	if (pos == mf->cur_pos) {
		*v = mf->cur;
		return true;
	}
	p = rcu_dereference(list_next_rcu(&mf->cur->later));
	if (ima_is_measurement_list_head(p)) {
		*v = NULL;
		return true;
	}
	mf->cur = list_entry(p, struct ima_queue_entry, later);
	mf->cur_pos = pos;
	*v = mf->cur;
	return true;
}

/*
 * A read from byte 0 starts again at the head of the list as it is now.
 * read() passes a copy of the file's position, pread() an offset of its
 * own: an offset other than the position is a read away from it.  Only
 * a pread() that races a read() of another thread on the same file may
 * compare with a position about to change, and either answer gives it
 * the list as it is now or -ESTALE.
 */
static ssize_t ima_measurements_read(struct file *file, char __user *buf,
				     size_t size, loff_t *ppos)
{
	struct seq_file *m = file->private_data;
	struct ima_mfile *mf = m->private;
	bool away = *ppos != READ_ONCE(file->f_pos);
	ssize_t ret;

	mutex_lock(&mf->io_lock);
	mutex_lock(&m->lock);
	if (away) {
		mf->away = true;
		mf->away_started = false;
		mf->away_offset = *ppos;
	} else if (!*ppos) {
		mf->rewound = true;
	}
	mutex_unlock(&m->lock);

	ret = seq_read(file, buf, size, ppos);

	if (away) {
		/* the file's next read() finds nothing of this one buffered */
		mutex_lock(&m->lock);
		mf->away = false;
		m->read_pos = 0;
		m->index = 0;
		m->count = 0;
		m->from = 0;
		mutex_unlock(&m->lock);
	}
	mutex_unlock(&mf->io_lock);
	return ret;
}

/* A seek walks the list as a read() does: not during a pread(). */
static loff_t ima_measurements_lseek(struct file *file, loff_t offset,
				     int whence)
{
	struct seq_file *m = file->private_data;
	struct ima_mfile *mf = m->private;
	loff_t ret;

	mutex_lock(&mf->io_lock);
	ret = seq_lseek(file, offset, whence);
	mutex_unlock(&mf->io_lock);
	return ret;
}

/* @qe is at @pos: the next read may go on from it. */
static void ima_mfile_remember(struct seq_file *m, struct ima_queue_entry *qe,
			       loff_t pos)
{
	struct ima_mfile *mf = m->private;

	if (mf->away)
		return;
	mf->cur = qe;
	mf->cur_pos = pos;
}

/*
 * The records of @list from *@pos on are shown under rcu_read_lock(),
 * taken here and dropped by ima_measurements_stop(): once it is dropped,
 * the records may be deleted.
 */
static void *ima_list_start(struct seq_file *m, struct ima_mlist *list,
			    loff_t *pos)
	__acquires(RCU)
{
	struct list_head *p = &list->head;
	struct ima_queue_entry *qe;
	loff_t l = *pos;
	void *v;

	rcu_read_lock();
	if (ima_mfile_resume(m, list, *pos, &v))
		return v;
	do {
		p = rcu_dereference(list_next_rcu(p));
		if (ima_is_measurement_list_head(p))
			return NULL;
	} while (l--);

	qe = list_entry(p, struct ima_queue_entry, later);
	ima_mfile_remember(m, qe, *pos);
	return qe;
}

static void *ima_measurements_start(struct seq_file *m, loff_t *pos)
	__acquires(RCU)
{
	return ima_list_start(m, &ima_measurements, pos);
}

static void *ima_measurements_next(struct seq_file *m, void *v, loff_t *pos)
{
	struct ima_queue_entry *qe = v;
	struct list_head *p = rcu_dereference(list_next_rcu(&qe->later));

	(*pos)++;

	if (ima_is_measurement_list_head(p))
		return NULL;
	qe = list_entry(p, struct ima_queue_entry, later);
	ima_mfile_remember(m, qe, *pos);
	return qe;
}

static void ima_measurements_stop(struct seq_file *m, void *v)
	__releases(RCU)
{
	rcu_read_unlock();
}
#else
static int ima_open_measurement_list(struct inode *inode, struct file *file,
				     const struct seq_operations *ops)
{
	return seq_open(file, ops);
}

/* returns pointer to hlist_node */
static void *ima_measurements_start(struct seq_file *m, loff_t *pos)
{
	loff_t l = *pos;
	struct ima_queue_entry *qe;

	/* we need a lock since pos could point beyond last element */
	rcu_read_lock();
	list_for_each_entry_rcu(qe, &ima_measurements.head, later) {
		if (!l--) {
			rcu_read_unlock();
			return qe;
		}
	}
	rcu_read_unlock();
	return NULL;
}

static void *ima_measurements_next(struct seq_file *m, void *v, loff_t *pos)
{
	struct ima_queue_entry *qe = v;

	/* lock protects when reading beyond last element
	 * against concurrent list-extension
	 */
	rcu_read_lock();
	qe = list_entry_rcu(qe->later.next, struct ima_queue_entry, later);
	rcu_read_unlock();
	(*pos)++;

	return (&qe->later == &ima_measurements.head) ? NULL : qe;
}

static void ima_measurements_stop(struct seq_file *m, void *v)
{
}
#endif /* CONFIG_IMA_STAGING */

void ima_putc(struct seq_file *m, void *data, int datalen)
{
	while (datalen--)
		seq_putc(m, *(char *)data++);
}

/* print format:
 *       32bit-le=pcr#
 *       char[n]=template digest
 *       32bit-le=template name size
 *       char[n]=template name
 *       [eventdata length]
 *       eventdata[n]=template specific data
 */
int ima_measurements_show(struct seq_file *m, void *v)
{
	/*
	 * Without CONFIG_IMA_STAGING the list never shrinks; with it, the
	 * caller holds rcu_read_lock(), or is the kexec copy, made once
	 * measurement is suspended.
	 */
	struct ima_queue_entry *qe = v;
	struct ima_template_entry *e;
	char *template_name;
	u32 pcr, namelen, template_data_len; /* temporary fields */
	bool is_ima_template = false;
	enum hash_algo algo;
	int i, algo_idx;

	algo_idx = ima_sha1_idx;
	algo = HASH_ALGO_SHA1;

	if (m->file != NULL) {
		algo_idx = (unsigned long)file_inode(m->file)->i_private;
		algo = ima_algo_array[algo_idx].algo;
	}

	/* get entry */
	e = qe->entry;
	if (e == NULL)
		return -1;

	template_name = (e->template_desc->name[0] != '\0') ?
	    e->template_desc->name : e->template_desc->fmt;

	/*
	 * 1st: PCRIndex
	 * PCR used defaults to the same (config option) in
	 * little-endian format, unless set in policy
	 */
	pcr = !ima_canonical_fmt ? e->pcr : (__force u32)cpu_to_le32(e->pcr);
	ima_putc(m, &pcr, sizeof(e->pcr));

	/* 2nd: template digest */
	ima_putc(m, e->digests[algo_idx].digest, hash_digest_size[algo]);

	/* 3rd: template name size */
	namelen = !ima_canonical_fmt ? strlen(template_name) :
		(__force u32)cpu_to_le32(strlen(template_name));
	ima_putc(m, &namelen, sizeof(namelen));

	/* 4th:  template name */
	ima_putc(m, template_name, strlen(template_name));

	/* 5th:  template length (except for 'ima' template) */
	if (strcmp(template_name, IMA_TEMPLATE_IMA_NAME) == 0)
		is_ima_template = true;

	if (!is_ima_template) {
		template_data_len = !ima_canonical_fmt ? e->template_data_len :
			(__force u32)cpu_to_le32(e->template_data_len);
		ima_putc(m, &template_data_len, sizeof(e->template_data_len));
	}

	/* 6th:  template specific data */
	for (i = 0; i < e->template_desc->num_fields; i++) {
		enum ima_show_type show = IMA_SHOW_BINARY;
		const struct ima_template_field *field =
			e->template_desc->fields[i];

		if (is_ima_template && strcmp(field->field_id, "d") == 0)
			show = IMA_SHOW_BINARY_NO_FIELD_LEN;
		if (is_ima_template && strcmp(field->field_id, "n") == 0)
			show = IMA_SHOW_BINARY_OLD_STRING_FMT;
		field->field_show(m, show, &e->template_data[i]);
	}
	return 0;
}

static const struct seq_operations ima_measurments_seqops = {
	.start = ima_measurements_start,
	.next = ima_measurements_next,
	.stop = ima_measurements_stop,
	.show = ima_measurements_show
};

static int ima_measurements_open(struct inode *inode, struct file *file)
{
	return ima_open_measurement_list(inode, file, &ima_measurments_seqops);
}

static const struct file_operations ima_measurements_ops = {
	.open = ima_measurements_open,
#ifdef CONFIG_IMA_STAGING
	.llseek = ima_measurements_lseek,
	.read = ima_measurements_read,
	.write = ima_measurements_write,
	.release = ima_measurements_release,
#else
	.llseek = seq_lseek,
	.read = seq_read,
	.release = seq_release,
#endif
};

void ima_print_digest(struct seq_file *m, u8 *digest, u32 size)
{
	u32 i;

	for (i = 0; i < size; i++)
		seq_printf(m, "%02x", *(digest + i));
}

/* print in ascii */
static int ima_ascii_measurements_show(struct seq_file *m, void *v)
{
	/*
	 * Without CONFIG_IMA_STAGING the list never shrinks; with it, the
	 * caller holds rcu_read_lock().
	 */
	struct ima_queue_entry *qe = v;
	struct ima_template_entry *e;
	char *template_name;
	enum hash_algo algo;
	int i, algo_idx;

	algo_idx = ima_sha1_idx;
	algo = HASH_ALGO_SHA1;

	if (m->file != NULL) {
		algo_idx = (unsigned long)file_inode(m->file)->i_private;
		algo = ima_algo_array[algo_idx].algo;
	}

	/* get entry */
	e = qe->entry;
	if (e == NULL)
		return -1;

	template_name = (e->template_desc->name[0] != '\0') ?
	    e->template_desc->name : e->template_desc->fmt;

	/* 1st: PCR used (config option) */
	seq_printf(m, "%2d ", e->pcr);

	/* 2nd: template hash */
	ima_print_digest(m, e->digests[algo_idx].digest, hash_digest_size[algo]);

	/* 3th:  template name */
	seq_printf(m, " %s", template_name);

	/* 4th:  template specific data */
	for (i = 0; i < e->template_desc->num_fields; i++) {
		seq_puts(m, " ");
		if (e->template_data[i].len == 0)
			continue;

		e->template_desc->fields[i]->field_show(m, IMA_SHOW_ASCII,
							&e->template_data[i]);
	}
	seq_puts(m, "\n");
	return 0;
}

static const struct seq_operations ima_ascii_measurements_seqops = {
	.start = ima_measurements_start,
	.next = ima_measurements_next,
	.stop = ima_measurements_stop,
	.show = ima_ascii_measurements_show
};

static int ima_ascii_measurements_open(struct inode *inode, struct file *file)
{
	return ima_open_measurement_list(inode, file,
					 &ima_ascii_measurements_seqops);
}

static const struct file_operations ima_ascii_measurements_ops = {
	.open = ima_ascii_measurements_open,
#ifdef CONFIG_IMA_STAGING
	.llseek = ima_measurements_lseek,
	.read = ima_measurements_read,
	.write = ima_measurements_write,
	.release = ima_measurements_release,
#else
	.llseek = seq_lseek,
	.read = seq_read,
	.release = seq_release,
#endif
};

#ifdef CONFIG_IMA_STAGING
static void *ima_staged_start(struct seq_file *m, loff_t *pos)
	__acquires(RCU)
{
	return ima_list_start(m, &ima_measurements_staged, pos);
}

static const struct seq_operations ima_staged_seqops = {
	.start = ima_staged_start,
	.next = ima_measurements_next,
	.stop = ima_measurements_stop,
	.show = ima_measurements_show
};

static int ima_staged_open(struct inode *inode, struct file *file)
{
	return ima_open_measurement_list(inode, file, &ima_staged_seqops);
}

static const struct file_operations ima_staged_ops = {
	.open = ima_staged_open,
	.read = ima_measurements_read,
	.write = ima_staged_write,
	.llseek = ima_measurements_lseek,
	.release = ima_measurements_release,
};

static const struct seq_operations ima_ascii_staged_seqops = {
	.start = ima_staged_start,
	.next = ima_measurements_next,
	.stop = ima_measurements_stop,
	.show = ima_ascii_measurements_show
};

static int ima_ascii_staged_open(struct inode *inode, struct file *file)
{
	return ima_open_measurement_list(inode, file, &ima_ascii_staged_seqops);
}

static const struct file_operations ima_ascii_staged_ops = {
	.open = ima_ascii_staged_open,
	.read = ima_measurements_read,
	.write = ima_staged_write,
	.llseek = ima_measurements_lseek,
	.release = ima_measurements_release,
};
#endif /* CONFIG_IMA_STAGING */

static ssize_t ima_read_policy(char *path)
{
	void *data = NULL;
	char *datap;
	size_t size;
	int rc, pathlen = strlen(path);

	char *p;

	/* remove \n */
	datap = path;
	strsep(&datap, "\n");

	rc = kernel_read_file_from_path(path, 0, &data, INT_MAX, NULL,
					READING_POLICY);
	if (rc < 0) {
		pr_err("Unable to open file: %s (%d)", path, rc);
		return rc;
	}
	size = rc;
	rc = 0;

	datap = data;
	while (size > 0 && (p = strsep(&datap, "\n"))) {
		pr_debug("rule: %s\n", p);
		rc = ima_parse_add_rule(p);
		if (rc < 0)
			break;
		size -= rc;
	}

	vfree(data);
	if (rc < 0)
		return rc;
	else if (size)
		return -EINVAL;
	else
		return pathlen;
}

static ssize_t ima_write_policy(struct file *file, const char __user *buf,
				size_t datalen, loff_t *ppos)
{
	char *data;
	ssize_t result;

	if (datalen >= PAGE_SIZE)
		datalen = PAGE_SIZE - 1;

	/* No partial writes. */
	result = -EINVAL;
	if (*ppos != 0)
		goto out;

	data = memdup_user_nul(buf, datalen);
	if (IS_ERR(data)) {
		result = PTR_ERR(data);
		goto out;
	}

	result = mutex_lock_interruptible(&ima_write_mutex);
	if (result < 0)
		goto out_free;

	if (data[0] == '/') {
		result = ima_read_policy(data);
	} else if (ima_appraise & IMA_APPRAISE_POLICY) {
		pr_err("signed policy file (specified as an absolute pathname) required\n");
		integrity_audit_msg(AUDIT_INTEGRITY_STATUS, NULL, NULL,
				    "policy_update", "signed policy required",
				    1, 0);
		result = -EACCES;
	} else {
		result = ima_parse_add_rule(data);
	}
	mutex_unlock(&ima_write_mutex);
out_free:
	kfree(data);
out:
	if (result < 0)
		valid_policy = 0;

	return result;
}

static struct dentry *ima_dir;
static struct dentry *ima_symlink;

enum ima_fs_flags {
	IMA_FS_BUSY,
};

static unsigned long ima_fs_flags;

#ifdef	CONFIG_IMA_READ_POLICY
static const struct seq_operations ima_policy_seqops = {
		.start = ima_policy_start,
		.next = ima_policy_next,
		.stop = ima_policy_stop,
		.show = ima_policy_show,
};
#endif

#ifdef CONFIG_IMA_STAGING
#define IMA_MEASUREMENTS_MODE	0660
#else
#define IMA_MEASUREMENTS_MODE	0440
#endif

/*
 * Create "<kind>_runtime_measurements_<algo><suffix>" for the bank of
 * ima_algo_array[@i].
 */
static int __init create_measurement_file(const char *kind, int i,
					  const char *suffix,
					  const struct file_operations *fops)
{
	u16 algo = ima_algo_array[i].algo;
	char file_name[NAME_MAX + 1];
	struct dentry *dentry;

	if (algo == HASH_ALGO__LAST)
		sprintf(file_name, "%s_runtime_measurements_tpm_alg_%x%s", kind,
			ima_tpm_chip->allocated_banks[i].alg_id, suffix);
	else
		sprintf(file_name, "%s_runtime_measurements_%s%s", kind,
			hash_algo_name[algo], suffix);
	dentry = securityfs_create_file(file_name, IMA_MEASUREMENTS_MODE,
					ima_dir, (void *)(uintptr_t)i, fops);
	return PTR_ERR_OR_ZERO(dentry);
}

static int __init create_securityfs_measurement_lists(void)
{
	int count = NR_BANKS(ima_tpm_chip);
	int ret;

	if (ima_sha1_idx >= NR_BANKS(ima_tpm_chip))
		count++;

	for (int i = 0; i < count; i++) {
		ret = create_measurement_file("ascii", i, "",
					      &ima_ascii_measurements_ops);
		if (!ret)
			ret = create_measurement_file("binary", i, "",
						      &ima_measurements_ops);
#ifdef CONFIG_IMA_STAGING
		if (!ret)
			ret = create_measurement_file("ascii", i, "_staged",
						      &ima_ascii_staged_ops);
		if (!ret)
			ret = create_measurement_file("binary", i, "_staged",
						      &ima_staged_ops);
#endif
		if (ret)
			return ret;
	}

	return 0;
}

/*
 * ima_open_policy: sequentialize access to the policy file
 */
static int ima_open_policy(struct inode *inode, struct file *filp)
{
	if (!(filp->f_flags & O_WRONLY)) {
#ifndef	CONFIG_IMA_READ_POLICY
		return -EACCES;
#else
		if ((filp->f_flags & O_ACCMODE) != O_RDONLY)
			return -EACCES;
		if (!capable(CAP_SYS_ADMIN))
			return -EPERM;
		return seq_open(filp, &ima_policy_seqops);
#endif
	}
	if (test_and_set_bit(IMA_FS_BUSY, &ima_fs_flags))
		return -EBUSY;
	return 0;
}

/*
 * ima_release_policy - start using the new measure policy rules.
 *
 * Initially, ima_measure points to the default policy rules, now
 * point to the new policy rules, and remove the securityfs policy file,
 * assuming a valid policy.
 */
static int ima_release_policy(struct inode *inode, struct file *file)
{
	const char *cause = valid_policy ? "completed" : "failed";

	if ((file->f_flags & O_ACCMODE) == O_RDONLY)
		return seq_release(inode, file);

	if (valid_policy && ima_check_policy() < 0) {
		cause = "failed";
		valid_policy = 0;
	}

	pr_info("policy update %s\n", cause);
	integrity_audit_msg(AUDIT_INTEGRITY_STATUS, NULL, NULL,
			    "policy_update", cause, !valid_policy, 0);

	if (!valid_policy) {
		ima_delete_rules();
		valid_policy = 1;
		clear_bit(IMA_FS_BUSY, &ima_fs_flags);
		return 0;
	}

	ima_update_policy();
#if !defined(CONFIG_IMA_WRITE_POLICY) && !defined(CONFIG_IMA_READ_POLICY)
	securityfs_remove(file->f_path.dentry);
#elif defined(CONFIG_IMA_WRITE_POLICY)
	clear_bit(IMA_FS_BUSY, &ima_fs_flags);
#elif defined(CONFIG_IMA_READ_POLICY)
	inode->i_mode &= ~S_IWUSR;
#endif
	return 0;
}

static const struct file_operations ima_measure_policy_ops = {
	.open = ima_open_policy,
	.write = ima_write_policy,
	.read = seq_read,
	.release = ima_release_policy,
	.llseek = generic_file_llseek,
};

int __init ima_fs_init(void)
{
	struct dentry *dentry;
	int ret;

	ima_dir = securityfs_create_dir("ima", integrity_dir);
	if (IS_ERR(ima_dir))
		return PTR_ERR(ima_dir);

	ima_symlink = securityfs_create_symlink("ima", NULL, "integrity/ima",
						NULL);
	if (IS_ERR(ima_symlink)) {
		ret = PTR_ERR(ima_symlink);
		goto out;
	}

	ret = create_securityfs_measurement_lists();
	if (ret != 0)
		goto out;

	dentry = securityfs_create_symlink("binary_runtime_measurements", ima_dir,
				      "binary_runtime_measurements_sha1", NULL);
	if (IS_ERR(dentry)) {
		ret = PTR_ERR(dentry);
		goto out;
	}

	dentry = securityfs_create_symlink("ascii_runtime_measurements", ima_dir,
				      "ascii_runtime_measurements_sha1", NULL);
	if (IS_ERR(dentry)) {
		ret = PTR_ERR(dentry);
		goto out;
	}

#ifdef CONFIG_IMA_STAGING
	dentry = securityfs_create_symlink("binary_runtime_measurements_staged",
					   ima_dir,
					   "binary_runtime_measurements_sha1_staged",
					   NULL);
	if (IS_ERR(dentry)) {
		ret = PTR_ERR(dentry);
		goto out;
	}

	dentry = securityfs_create_symlink("ascii_runtime_measurements_staged",
					   ima_dir,
					   "ascii_runtime_measurements_sha1_staged",
					   NULL);
	if (IS_ERR(dentry)) {
		ret = PTR_ERR(dentry);
		goto out;
	}
#endif

	dentry = securityfs_create_file("runtime_measurements_count",
				   S_IRUSR | S_IRGRP, ima_dir, NULL,
				   &ima_measurements_count_ops);
	if (IS_ERR(dentry)) {
		ret = PTR_ERR(dentry);
		goto out;
	}

	dentry = securityfs_create_file("violations", S_IRUSR | S_IRGRP,
				   ima_dir, NULL, &ima_htable_violations_ops);
	if (IS_ERR(dentry)) {
		ret = PTR_ERR(dentry);
		goto out;
	}

	dentry = securityfs_create_file("policy", POLICY_FILE_FLAGS,
					    ima_dir, NULL,
					    &ima_measure_policy_ops);
	if (IS_ERR(dentry)) {
		ret = PTR_ERR(dentry);
		goto out;
	}

	return 0;
out:
	securityfs_remove(ima_symlink);
	securityfs_remove(ima_dir);

	return ret;
}
