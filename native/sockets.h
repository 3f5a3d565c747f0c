// sockets.h: listening sockets as plain descriptors, for the supervisor
// (src/supervisor/listeners.ts): create a TCP listener (SO_REUSEPORT set
// before bind) or a unix one (under a umask), look at an inherited
// descriptor, duplicate and close. Stateless: nothing here is kept between
// calls, so every environment may call it.
#ifndef TSGI_SOCKETS_H_
#define TSGI_SOCKETS_H_

#include "node_api.h"

namespace tsgi {

// Defines `sockets` on `exports`: { listenTcp, listenUnix, inspect, dup,
// close }. Ownership: every descriptor these return belongs to the caller
// (JS), which closes it with sockets.close(); none is registered with a
// loop. ARCHITECTURE.md, "Listeners and workers".
napi_status DefineSockets(napi_env env, napi_value exports);

// dup(2) with close-on-exec set atomically (F_DUPFD_CLOEXEC), so that a
// child spawned by another thread never inherits it. Made through
// syscall(2): glibc's fcntl wrapper is versioned GLIBC_2.28 (fcntl64) and
// would raise the floor of the prebuilt binary (scripts/check-binaries.mjs).
// Returns the new descriptor (the caller's to close) or -1 with errno set.
int DupCloexec(int fd);

}  // namespace tsgi

#endif  // TSGI_SOCKETS_H_
