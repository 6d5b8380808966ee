/* SPDX-License-Identifier: GPL-2.0 */
/* The library of the IMA staging selftests, all in one include. */
#pragma once

#include "lib/bytes.h"
#include "lib/evmctl.h"
#include "lib/hash.h"
#include "lib/ima_fs.h"
#include "lib/kernel.h"
#include "lib/records.h"
#include "lib/replay.h"
#include "lib/snapshot.h"
#include "lib/sys.h"
#include "lib/tpm.h"
