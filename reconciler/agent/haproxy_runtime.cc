// SPDX-License-Identifier: Apache-2.0
#include "agent/haproxy_runtime.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/unique_fd.h"

namespace galley::agent {
namespace {

// A reply larger than this is not a runtime API answer galley asked for (`show servers
// state` of 12,000 servers is ~1.5 MB).
constexpr size_t kMaxReply = 64u << 20;

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

Result<std::string> UnixSocketRuntime::Send(const std::string& command) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout_;
  const std::string where = "haproxy runtime " + path_;
  if (command.find('\n') != std::string::npos) {
    return Status::InvalidArgument(where + ": a command must be one line");
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(addr.sun_path)) {
    return Status::InvalidArgument(where + ": socket path too long");
  }
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return Status::Unavailable(Errno(where + ": socket"));

  // Waits for `events` until the deadline; 1 ready, 0 timed out, -1 error.
  auto wait = [&](short events) {
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return 0;
      pollfd p{fd.get(), events, 0};
      int n = ::poll(&p, 1, static_cast<int>(left.count()));
      if (n < 0 && errno == EINTR) continue;
      return n < 0 ? -1 : (n == 0 ? 0 : 1);
    }
  };

  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno != EINPROGRESS && errno != EAGAIN) {
      return Status::Unavailable(Errno(where + ": connect"));
    }
    int w = wait(POLLOUT);
    if (w == 0) return Status::Timeout(where + ": connect timed out");
    int err = 0;
    socklen_t len = sizeof(err);
    if (w < 0 || ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      errno = err;
      return Status::Unavailable(Errno(where + ": connect"));
    }
  }

  std::string line = command + "\n";
  size_t sent = 0;
  while (sent < line.size()) {
    ssize_t n = ::send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int w = wait(POLLOUT);
      if (w == 0) return Status::Timeout(where + ": write timed out");
      if (w > 0) continue;
    }
    return Status::Unavailable(Errno(where + ": write"));
  }

  std::string reply;
  char buf[16384];
  while (true) {
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      reply.append(buf, static_cast<size_t>(n));
      if (reply.size() > kMaxReply) return Status::ResourceExhausted(where + ": reply too large");
      continue;
    }
    if (n == 0) return reply;  // HAProxy closes after answering in non-interactive mode
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int w = wait(POLLIN);
      if (w == 0) return Status::Timeout(where + ": no complete reply in time");
      if (w > 0) continue;
    }
    return Status::Unavailable(Errno(where + ": read"));
  }
}

}  // namespace galley::agent
