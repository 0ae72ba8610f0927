// SPDX-License-Identifier: Apache-2.0
// TempRepo: a throw-away desired-state repository in a fresh temporary directory, removed
// when the object goes out of scope. Tests write galley.yaml and services/*.yaml into it.
#pragma once

#include <string>

namespace galley::testing {

// A minimal valid platform file: production ("") and staging ("1"), one internal instance.
extern const char kMinimalPlatform[];
// A minimal valid service `web` on port 8080 in production and staging.
extern const char kMinimalService[];

class TempRepo {
 public:
  TempRepo();
  ~TempRepo();
  TempRepo(const TempRepo&) = delete;
  TempRepo& operator=(const TempRepo&) = delete;

  const std::string& dir() const { return dir_; }
  // Writes `content` to dir()/relative, creating directories.
  void Write(const std::string& relative, const std::string& content) const;
  std::string Path(const std::string& relative) const { return dir_ + "/" + relative; }

 private:
  std::string dir_;
};

// The source tree's root (set by CMake), for examples/ and tests/testdata/.
std::string SourceRoot();
std::string ReadText(const std::string& path);

}  // namespace galley::testing
