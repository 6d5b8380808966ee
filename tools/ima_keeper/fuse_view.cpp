// SPDX-License-Identifier: GPL-2.0
#define FUSE_USE_VERSION 31

#include "fuse_view.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fuse.h>
#include <map>
#include <memory>
#include <string_view>
#include <sys/mount.h>
#include <sys/stat.h>
#include <vector>

#include "full_log.h"
#include "kernel_files.h"
#include "notify.h"
#include "ima/hash.h"
#include "ima/records.h"

namespace keeper {

namespace {

enum class ViewFile { binary, ascii, count };

struct ViewEntry {
	std::string_view name;
	ViewFile file;
};

constexpr ViewEntry kViewFiles[] = {
	{"binary_runtime_measurements", ViewFile::binary},
	{"ascii_runtime_measurements", ViewFile::ascii},
	{"runtime_measurements_count", ViewFile::count},
};

/*
 * A file's content is cut into pieces: one per group of the store, then
 * the kernel's lists. The full log only grows at its end (records moved
 * from the kernel to the store keep their bytes and offsets), so the
 * pieces of a snapshot stay valid; a newer snapshot only adds to them.
 */
struct Snapshot {
	FullLog log;
	/* Offset of each piece in the file; the last one is the file's size. */
	std::vector<std::uint64_t> starts;
	/* The kernel's piece, in the file's format (count: the whole file). */
	std::string kernel_text;
};

/* An open file: the snapshot it reads, and the last piece it read. */
struct OpenFile {
	ViewFile file;
	Snapshot snapshot;
	std::size_t piece = SIZE_MAX;
	std::string piece_text;
};

/* The state of one mount: its store, its open files, what it learned. */
struct View {
	std::string store_dir;
	std::map<std::uint64_t, OpenFile> open_files;
	std::uint64_t next_handle = 1;
	/* Size of each group in the ascii format, by group number and sha256. */
	std::map<std::pair<std::uint64_t, ima::Bytes>, std::uint64_t> ascii_sizes;
};

View &view()
{
	return *static_cast<View *>(fuse_get_context()->private_data);
}

const ViewEntry *find_file(const char *path)
{
	if (path[0] != '/')
		return nullptr;
	for (const ViewEntry &entry : kViewFiles)
		if (entry.name == path + 1)
			return &entry;
	return nullptr;
}

/* Piece @index of @snapshot in the format of @file. */
std::string piece_text(ViewFile file, const Snapshot &snapshot, std::size_t index)
{
	const std::vector<Group> &groups = snapshot.log.groups();

	if (index == groups.size())
		return snapshot.kernel_text;
	ima::Bytes bytes = snapshot.log.read_group(groups[index]);
	if (file == ViewFile::ascii)
		return ima::format_ascii_list(bytes);
	return std::string(bytes.begin(), bytes.end());
}

/* A group's size in the ascii format: the journal's, else formatted once per mount. */
std::uint64_t ascii_size(const FullLog &log, const Group &group)
{
	if (group.ascii_size)
		return group.ascii_size;
	auto key = std::make_pair(group.number, group.sha256);
	auto known = view().ascii_sizes.find(key);

	if (known != view().ascii_sizes.end())
		return known->second;
	std::uint64_t size = ima::format_ascii_list(log.read_group(group)).size();
	view().ascii_sizes.emplace(key, size);
	return size;
}

Snapshot take_snapshot(ViewFile file)
{
	Snapshot snapshot{read_full_log(view().store_dir), {}, {}};
	const FullLog &log = snapshot.log;
	std::uint64_t at = 0;

	if (file == ViewFile::count) {
		snapshot.kernel_text = std::to_string(log.records()) + "\n";
		snapshot.starts = {0, snapshot.kernel_text.size()};
		return snapshot;
	}
	for (const Group &group : log.groups()) {
		snapshot.starts.push_back(at);
		at += file == ViewFile::ascii ? ascii_size(log, group) : group.length;
	}
	snapshot.starts.push_back(at);
	if (file == ViewFile::ascii)
		snapshot.kernel_text = ima::format_ascii_list(log.kernel());
	else
		snapshot.kernel_text.assign(log.kernel().begin(), log.kernel().end());
	snapshot.starts.push_back(at + snapshot.kernel_text.size());
	return snapshot;
}

std::uint64_t size_of(const Snapshot &snapshot)
{
	return snapshot.starts.back();
}

/*
 * Offsets hold for the whole boot: a newer snapshot has the older one's
 * groups, at the same places. It would not if the log changed under the
 * view (a group taken back that it served, a new boot's log).
 */
void require_extension(const Snapshot &older, const Snapshot &newer)
{
	const std::vector<Group> &before = older.log.groups();
	const std::vector<Group> &now = newer.log.groups();

	for (std::size_t i = 0; i < before.size(); i++)
		if (i >= now.size() || now[i].sha256 != before[i].sha256 ||
		    newer.starts[i] != older.starts[i])
			throw KeeperError("the full log changed under an open file of the view "
					  "(group " + std::to_string(before[i].number) +
					  "): open it again");
}

/* Copies what @open has at @offset into @buf; returns the bytes copied. */
std::size_t copy_from_snapshot(OpenFile &open, char *buf, std::size_t size, std::uint64_t offset)
{
	const Snapshot &snapshot = open.snapshot;
	std::size_t done = 0;

	if (open.file == ViewFile::count) {
		if (offset >= snapshot.kernel_text.size())
			return 0;
		std::size_t count = std::min<std::size_t>(size, snapshot.kernel_text.size() - offset);
		std::memcpy(buf, snapshot.kernel_text.data() + offset, count);
		return count;
	}
	while (done < size && offset + done < size_of(snapshot)) {
		std::uint64_t at = offset + done;
		/* The piece that holds @at: O(log groups). */
		std::size_t index = static_cast<std::size_t>(
			std::upper_bound(snapshot.starts.begin(), snapshot.starts.end() - 1, at) -
			snapshot.starts.begin() - 1);

		if (index != open.piece) {
			try {
				open.piece_text = piece_text(open.file, snapshot, index);
			} catch (const std::exception &) {
				/*
				 * A group that does not check out: the read
				 * stops before it, and one that begins in it
				 * fails (EIO); every other range is served.
				 */
				if (done)
					return done;
				throw;
			}
			open.piece = index;
		}
		std::uint64_t within = at - snapshot.starts[index];
		/* A piece that does not fill its place exactly would shift the next. */
		if (open.piece_text.size() != snapshot.starts[index + 1] - snapshot.starts[index])
			throw KeeperError("the view's piece " + std::to_string(index) + " has " +
					  std::to_string(open.piece_text.size()) +
					  " bytes, not the " +
					  std::to_string(snapshot.starts[index + 1] -
							 snapshot.starts[index]) +
					  " its place in the file has (the journal's size of "
					  "the group is wrong)");
		std::size_t count = std::min<std::size_t>(size - done, open.piece_text.size() - within);
		std::memcpy(buf + done, open.piece_text.data() + within, count);
		done += count;
	}
	return done;
}

/* Turns what a callback throws into the errno FUSE returns. */
int failed(const std::exception &e)
{
	std::fprintf(stderr, "ima-keeper: %s\n", e.what());
	return dynamic_cast<const KernelBusy *>(&e) ? -EBUSY : -EIO;
}

/*
 * A file's size is that of its content now, unlike securityfs's 0: reads
 * that go through the page cache (sendfile(), splice()) stop at the size.
 * Attributes are not cached (attr_timeout=0), and a new size makes the
 * kernel drop the file's cached pages.
 */
int view_getattr(const char *path, struct stat *st, struct fuse_file_info *)
{
	std::memset(st, 0, sizeof(*st));
	if (std::strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0550;
		st->st_nlink = 2;
		return 0;
	}
	const ViewEntry *entry = find_file(path);
	if (!entry)
		return -ENOENT;
	st->st_mode = S_IFREG | 0440;
	st->st_nlink = 1;
	try {
		st->st_size = static_cast<off_t>(size_of(take_snapshot(entry->file)));
	} catch (const std::exception &e) {
		return failed(e);
	}
	return 0;
}

int view_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t, struct fuse_file_info *,
		 enum fuse_readdir_flags)
{
	if (std::strcmp(path, "/") != 0)
		return -ENOENT;
	fill(buf, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
	fill(buf, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
	for (const ViewEntry &entry : kViewFiles)
		fill(buf, std::string(entry.name).c_str(), nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
	return 0;
}

int view_open(const char *path, struct fuse_file_info *fi)
{
	const ViewEntry *entry = find_file(path);

	if (!entry)
		return -ENOENT;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	try {
		std::uint64_t handle = view().next_handle++;

		view().open_files[handle] = {entry->file, take_snapshot(entry->file), SIZE_MAX, {}};
		fi->fh = handle;
		/* read() asks the keeper every time, as securityfs does. */
		fi->direct_io = 1;
		return 0;
	} catch (const std::exception &e) {
		return failed(e);
	}
}

/*
 * A read past what the open file has read so far reads the log again: a
 * descriptor held open sees the records measured and saved since, at the
 * offsets they keep for the whole boot.
 */
int view_read(const char *, char *buf, size_t size, off_t offset, struct fuse_file_info *fi)
{
	if (offset < 0)
		return -EINVAL;
	try {
		OpenFile &open = view().open_files.at(fi->fh);
		std::uint64_t end = static_cast<std::uint64_t>(offset) + size;

		if (open.file == ViewFile::count) {
			/* As securityfs: a read from offset 0 counts anew. */
			if (offset == 0)
				open.snapshot = take_snapshot(open.file);
		} else if (end > size_of(open.snapshot)) {
			Snapshot now = take_snapshot(open.file);

			if (size_of(now) > size_of(open.snapshot)) {
				require_extension(open.snapshot, now);
				open.snapshot = std::move(now);
				open.piece = SIZE_MAX;
			}
		}
		return static_cast<int>(copy_from_snapshot(open, buf, size,
							   static_cast<std::uint64_t>(offset)));
	} catch (const std::exception &e) {
		return failed(e);
	}
}

int view_release(const char *, struct fuse_file_info *fi)
{
	view().open_files.erase(fi->fh);
	return 0;
}

fuse_operations view_operations()
{
	fuse_operations ops{};

	ops.getattr = view_getattr;
	ops.readdir = view_readdir;
	ops.open = view_open;
	ops.read = view_read;
	ops.release = view_release;
	return ops;
}

/*
 * A view that died (SIGKILL, a crash) leaves its mount behind, and every
 * access to it fails with ENOTCONN, a new mount on it too: detach it, so
 * that the view's service can start again.
 */
void detach_dead_mount(const std::string &mountpoint)
{
	struct stat st;

	if (::stat(mountpoint.c_str(), &st) == 0 || errno != ENOTCONN)
		return;
	if (::umount2(mountpoint.c_str(), MNT_DETACH))
		ima::throw_errno("detach the dead mount on " + mountpoint);
	std::fprintf(stderr, "ima-keeper: detached the mount a view that died left on %s\n",
		     mountpoint.c_str());
}

/*
 * Creates the mount point and the directories above it, readable by all
 * (the view's files keep their own modes), unless they exist.
 */
void make_mountpoint(const std::string &mountpoint)
{
	std::error_code error;

	if (std::filesystem::is_directory(mountpoint, error))
		return;
	std::filesystem::create_directories(mountpoint, error);
	if (error)
		throw KeeperError("cannot create the mount point " + mountpoint + ": " +
				  error.message());
	std::filesystem::permissions(mountpoint,
				     std::filesystem::perms::owner_all |
					     std::filesystem::perms::group_read |
					     std::filesystem::perms::group_exec |
					     std::filesystem::perms::others_read |
					     std::filesystem::perms::others_exec,
				     error);
}

/* A FUSE file system instance, destroyed with the object. */
using FuseInstance = std::unique_ptr<struct fuse, decltype(&fuse_destroy)>;

/* Unmounts and removes the signal handlers on destruction. */
class MountedView {
public:
	MountedView(struct fuse *fuse, const std::string &mountpoint) : fuse_(fuse)
	{
		if (fuse_mount(fuse_, mountpoint.c_str()))
			throw KeeperError("cannot mount the view on " + mountpoint +
					  " (is it a directory, and FUSE in the kernel?)");
		if (fuse_set_signal_handlers(fuse_get_session(fuse_))) {
			fuse_unmount(fuse_);
			throw KeeperError("cannot set the FUSE signal handlers");
		}
		/* A service goes on when its terminal or session hangs up. */
		std::signal(SIGHUP, SIG_IGN);
	}
	MountedView(const MountedView &) = delete;
	MountedView &operator=(const MountedView &) = delete;
	~MountedView()
	{
		fuse_remove_signal_handlers(fuse_get_session(fuse_));
		fuse_unmount(fuse_);
	}

private:
	struct fuse *fuse_;
};

} // namespace

int serve_fuse_view(const std::string &store_dir, const std::string &mountpoint)
{
	View state{store_dir, {}, 1, {}};

	detach_dead_mount(mountpoint);
	make_mountpoint(mountpoint);
	fuse_operations ops = view_operations();
	/* Read-only, readable by root's group too (mode 0440). */
	std::vector<std::string> args = {
		"ima-keeper", "-o",
		"ro,allow_other,default_permissions,fsname=ima-keeper,subtype=ima-keeper,"
		"attr_timeout=0,entry_timeout=0,negative_timeout=0",
	};
	std::vector<char *> argv;

	for (std::string &arg : args)
		argv.push_back(arg.data());
	struct fuse_args fuse_args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
	FuseInstance fuse(fuse_new(&fuse_args, &ops, sizeof(ops), &state), fuse_destroy);
	if (!fuse)
		throw KeeperError("cannot create the FUSE file system");
	MountedView mounted(fuse.get(), mountpoint);
	/* Ready: agents that open the view now find the full log. */
	notify_service_manager("READY=1\nSTATUS=serving the full log under " + mountpoint);

	/* One thread; SIGTERM, SIGINT or an unmount ends the loop. */
	int result = fuse_loop(fuse.get());
	notify_service_manager("STOPPING=1");
	if (result < 0)
		throw KeeperError("serving the view failed: " + describe_errno(-result));
	return 0;
}

} // namespace keeper
