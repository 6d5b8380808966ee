/* SPDX-License-Identifier: GPL-2.0 */
/* The library of the IMA staging selftests, all in one include. */
#pragma once

#include "ima/bytes.h"
#include "lib/evmctl.h"
#include "ima/hash.h"
#include "ima/ima_fs.h"
#include "lib/kernel.h"
#include "ima/records.h"
#include "ima/replay.h"
#include "lib/snapshot.h"
#include "ima/sys.h"
#include "ima/tpm.h"
