// SPDX-License-Identifier: GPL-2.0
#define FUSE_USE_VERSION 31

#include "fuse_view.h"

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fuse.h>
#include <map>
#include <memory>
#include <string_view>
#include <sys/stat.h>
#include <vector>

#include "full_log.h"
#include "kernel_files.h"

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
 * An open file: what it has read of its file so far. The full log only
 * grows at its end (records moved from the kernel to the store keep their
 * bytes and offsets), so the text is extended, never changed.
 */
struct OpenFile {
	ViewFile file;
	std::string text;
};

/* The state of one mount: its store and its open files. */
struct View {
	std::string store_dir;
	std::map<std::uint64_t, OpenFile> open_files;
	std::uint64_t next_handle = 1;
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

std::string snapshot(ViewFile file)
{
	FullLog log = read_full_log(view().store_dir);

	switch (file) {
	case ViewFile::binary:
		return std::string(log.bytes.begin(), log.bytes.end());
	case ViewFile::ascii:
		return log_from_ascii(log, 0);
	case ViewFile::count:
		break;
	}
	return std::to_string(log.records()) + "\n";
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
		st->st_size = static_cast<off_t>(snapshot(entry->file).size());
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

		view().open_files[handle] = {entry->file, snapshot(entry->file)};
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
	OpenFile &open = view().open_files.at(fi->fh);

	if (offset < 0)
		return -EINVAL;
	try {
		if (static_cast<std::size_t>(offset) + size > open.text.size() &&
		    open.file != ViewFile::count) {
			std::string now = snapshot(open.file);

			if (now.size() > open.text.size())
				open.text = std::move(now);
		}
	} catch (const std::exception &e) {
		return failed(e);
	}
	if (static_cast<std::size_t>(offset) >= open.text.size())
		return 0;
	std::size_t count = std::min(size, open.text.size() - static_cast<std::size_t>(offset));
	std::memcpy(buf, open.text.data() + offset, count);
	return static_cast<int>(count);
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
	View state{store_dir, {}, 1};
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

	/* One thread; SIGTERM, SIGINT or an unmount ends the loop. */
	int result = fuse_loop(fuse.get());
	if (result < 0)
		throw KeeperError("serving the view failed: " + describe_errno(-result));
	return 0;
}

} // namespace keeper
