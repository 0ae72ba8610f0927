// SPDX-License-Identifier: Apache-2.0
#include "base/file_io.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/unique_fd.h"

namespace galley {
namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

// Writes all of `content` to `fd`; "" on success, else the error text.
std::string WriteAll(int fd, const std::string& content) {
  size_t put = 0;
  while (put < content.size()) {
    ssize_t w = ::write(fd, content.data() + put, content.size() - put);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoText(errno);
    }
    put += static_cast<size_t>(w);
  }
  return "";
}

// "" for a regular file, else why it is refused.
std::string NotRegular(const struct stat& st) {
  if (S_ISREG(st.st_mode)) return "";
  if (S_ISDIR(st.st_mode)) return "is a directory, not a file";
  const char* kind = S_ISFIFO(st.st_mode)   ? "a FIFO (named pipe)"
                     : S_ISSOCK(st.st_mode) ? "a socket"
                     : S_ISCHR(st.st_mode)  ? "a character device"
                     : S_ISBLK(st.st_mode)  ? "a block device"
                                            : "a special file";
  return std::string("not a regular file (") + kind + ")";
}

}  // namespace

std::string HumanBytes(size_t n) {
  char buf[64];
  if (n >= 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / (1024.0 * 1024.0));
  } else if (n >= 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024.0);
  } else {
    std::snprintf(buf, sizeof buf, "%zu bytes", n);
  }
  return buf;
}

Result<std::string> ReadFileBounded(const std::string& path, size_t max_bytes) {
  // Anything but a regular file is refused before it is opened (opening a FIFO blocks until
  // a writer comes); O_NONBLOCK and the fstat below close the window in which it could be
  // swapped for one.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound(path + ": no such file");
    return Status::Unavailable(path + ": " + ErrnoText(err));
  }
  if (std::string why = NotRegular(st); !why.empty())
    return Status::InvalidArgument(path + ": " + why);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (fd.get() < 0) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound(path + ": no such file");
    return Status::Unavailable(path + ": " + ErrnoText(err));
  }
  if (::fstat(fd.get(), &st) != 0) return Status::Unavailable(path + ": " + ErrnoText(errno));
  if (std::string why = NotRegular(st); !why.empty())
    return Status::InvalidArgument(path + ": " + why);
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    return Status::InvalidArgument(path + ": file is " +
                                   HumanBytes(static_cast<size_t>(st.st_size)) +
                                   ", larger than the limit of " + HumanBytes(max_bytes));
  }
  std::string out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < out.size()) {
    ssize_t r = ::read(fd.get(), out.data() + got, out.size() - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::Unavailable(path + ": read: " + ErrnoText(errno));
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  out.resize(got);
  // The file may have grown since fstat; one more byte tells.
  char extra;
  if (::read(fd.get(), &extra, 1) > 0) {
    return Status::InvalidArgument(path + ": file grew while being read past the limit of " +
                                   HumanBytes(max_bytes));
  }
  return out;
}

Status WriteFilePlain(const std::string& path, const std::string& content) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) return Status::Unavailable(path + ": " + ErrnoText(errno));
  if (std::string err = WriteAll(fd.get(), content); !err.empty()) {
    return Status::Unavailable(path + ": write: " + err);
  }
  if (::close(fd.release()) != 0) return Status::Unavailable(path + ": close: " + ErrnoText(errno));
  return Status::Ok();
}

Status WriteFileAtomic(const std::string& path, const std::string& content, bool durable) {
  namespace fs = std::filesystem;
  fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
    if (ec) return Status::Unavailable(target.parent_path().string() + ": " + ec.message());
  }
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) return Status::Unavailable(tmp + ": " + ErrnoText(errno));
  if (std::string err = WriteAll(fd.get(), content); !err.empty()) {
    ::unlink(tmp.c_str());
    return Status::Unavailable(tmp + ": write: " + err);
  }
  if (durable && ::fsync(fd.get()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Status::Unavailable(tmp + ": fsync: " + ErrnoText(err));
  }
  ::close(fd.release());
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Status::Unavailable(path + ": rename: " + ErrnoText(err));
  }
  return Status::Ok();
}

}  // namespace galley
