/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Telling systemd how a Type=notify service is doing (sd_notify(3)).
 *
 * The keeper is statically linked and Debian ships no static libsystemd,
 * so it speaks the notification protocol itself: one datagram of
 * newline-separated "VARIABLE=value" assignments to the AF_UNIX socket
 * named by $NOTIFY_SOCKET (a path, or an abstract name written with a
 * leading '@'). The protocol is documented as stable.
 */
#pragma once

#include <string>

namespace keeper {

/*
 * Sends @state ("READY=1", "STATUS=...", "STOPPING=1", newline-separated)
 * to the service manager. Does nothing outside a Type=notify service (no
 * $NOTIFY_SOCKET). Returns false, and says why on stderr, if sending
 * failed: the service manager then times the start out, which is the
 * failure an operator sees.
 */
bool notify_service_manager(const std::string &state);

} // namespace keeper
