/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel side of the keeper: the IMA securityfs measurement files
 * (Documentation/security/IMA-export-delete.rst), with errors that say what
 * is wrong and what to do about it.
 *
 * The keeper stores the sha1 binary list (binary_runtime_measurements): its
 * records carry the template data, from which the template digest of any
 * other bank is computed, as evmctl does.
 */
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "ima/bytes.h"
#include "ima/sys.h"

namespace keeper {

/* A failure the keeper reports as it is, without a stack of context. */
class KeeperError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

/* Another process holds the measurement files (EBUSY): try again later. */
class KernelBusy : public KeeperError {
public:
	using KeeperError::KeeperError;
};

/*
 * The processes other than this one that have a measurement file open, as
 * "pid 123 (keylime_agent), pid 456 (cat)": who blocks a save (EBUSY).
 */
std::string measurement_file_holders();

/* The processes other than this one that have @path open, in the same form. */
std::string open_file_holders(const std::string &path);

/* A reboot or kexec began: measurement is suspended, requests fail. */
class KernelSuspended : public KeeperError {
public:
	using KeeperError::KeeperError;
};

/* The files requests go to: the sha1 list and its _staged twin. */
std::string staged_file();
std::string original_file();

/* Throws KeeperError unless the kernel has IMA with measurement staging. */
void require_staging();
bool kernel_has_staging();

/* Whether the kernel was booted with ima_flush_htable (which refuses N). */
bool kernel_flushes_htable();

/*
 * A write open of one measurement file (O_RDWR for a _staged file, to read
 * it too). While the keeper holds one, no other process can open any
 * measurement file. Throws KernelBusy, or KeeperError for EPERM/EACCES.
 */
ima::UniqueFd open_for_requests(const std::string &file_name);

/*
 * The sha1 binary list, current or staged (empty without staging). Retries
 * for a while if another process holds the files for writing.
 */
ima::Bytes read_kernel_list(bool staged);

/* The staged list followed by the current one, as the full log shows them. */
ima::Bytes read_kernel_lists();

/* Writes one request; returns 0 or the errno. */
int send(int fd, std::string_view request);

/* "EBUSY (Device or resource busy)" */
std::string describe_errno(int error);

} // namespace keeper
