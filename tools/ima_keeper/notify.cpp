// SPDX-License-Identifier: GPL-2.0
#include "notify.h"

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>

#include "ima/sys.h"

namespace keeper {

namespace {

/* The address of @name, or false if it is not a socket address. */
bool socket_address(const std::string &name, sockaddr_un &address, socklen_t &length)
{
	address = {};
	address.sun_family = AF_UNIX;
	if (name.size() < 2 || name.size() >= sizeof(address.sun_path) ||
	    (name[0] != '/' && name[0] != '@'))
		return false;
	std::memcpy(address.sun_path, name.data(), name.size());
	/* An abstract name begins with a NUL byte and has no terminator. */
	if (name[0] == '@')
		address.sun_path[0] = '\0';
	length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() +
					(name[0] == '/' ? 1 : 0));
	return true;
}

bool warn(const std::string &what)
{
	std::fprintf(stderr, "ima-keeper: cannot notify the service manager: %s\n",
		     what.c_str());
	return false;
}

} // namespace

bool notify_service_manager(const std::string &state)
{
	const char *name = std::getenv("NOTIFY_SOCKET");
	sockaddr_un address;
	socklen_t length;

	if (!name || !*name)
		return true;
	if (!socket_address(name, address, length))
		return warn(std::string("NOTIFY_SOCKET=") + name + " is not a socket address");
	ima::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	if (!fd)
		return warn(std::string("socket: ") + std::strerror(errno));
	if (::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
		     reinterpret_cast<const sockaddr *>(&address), length) < 0)
		return warn(std::string("send to ") + name + ": " + std::strerror(errno));
	return true;
}

} // namespace keeper
