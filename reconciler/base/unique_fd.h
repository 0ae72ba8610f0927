// SPDX-License-Identifier: Apache-2.0
// UniqueFd: owns a POSIX file descriptor and closes it once, when it goes out of scope, so
// every early return of code that opens files or sockets closes what it opened.
#pragma once

#include <unistd.h>

namespace galley {

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  // Gives up ownership: the caller closes the descriptor.
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
};

}  // namespace galley
