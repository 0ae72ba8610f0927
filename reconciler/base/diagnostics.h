// SPDX-License-Identifier: Apache-2.0
// Diagnostics: problems found in the user's input, gathered rather than fail-fast so that
// one run reports all of them. Each carries a position (file:line:col, 1-based), what is
// wrong, what was expected and an optional hint ("did you mean 'image'?"). Rendering shows
// the offending source line with a caret under the column, like ninja's lexer errors.
// Not thread-safe: one Diagnostics per load.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace galley {

struct SourcePos {
  std::string file;  // as given to the loader, relative to the repository root when possible
  int line = 0;      // 1-based; 0 = the file as a whole
  int column = 0;    // 1-based; 0 = the line as a whole
};

enum class Severity { kError, kWarning };

struct Diagnostic {
  Severity severity = Severity::kError;
  SourcePos pos;
  std::string what;      // "unknown key 'imgae'"
  std::string expected;  // "a service key" — rendered as " (expected ...)" when not empty
  std::string hint;      // "did you mean 'image'?" — rendered on its own line
};

class Diagnostics {
 public:
  void Error(SourcePos pos, std::string what, std::string expected = {}, std::string hint = {});
  void Warning(SourcePos pos, std::string what, std::string expected = {}, std::string hint = {});
  void Add(Diagnostic d);

  // Moves every diagnostic and source of `other` into this one (appended in its order).
  void Merge(Diagnostics&& other);

  // Remembers a file's text so rendering can quote its lines.
  void AddSource(const std::string& file, std::shared_ptr<const std::string> text);

  bool HasErrors() const { return errors_ > 0; }
  int error_count() const { return errors_; }
  int warning_count() const { return static_cast<int>(items_.size()) - errors_; }
  const std::vector<Diagnostic>& items() const { return items_; }

  // Orders by file, line, column (stable for equal positions); deterministic output.
  void Sort();

  // Renders one diagnostic: the summary line, then (when the position names a line) the
  // source line and a caret, then the hint.
  std::string Render(const Diagnostic& d) const;
  // Renders all, followed by "N errors, M warnings" when there are any.
  std::string RenderAll() const;

 private:
  std::vector<Diagnostic> items_;
  int errors_ = 0;
  std::map<std::string, std::shared_ptr<const std::string>> sources_;
};

// The 1-based line and column of byte `offset` (0-based) in `text`.
SourcePos PosAtOffset(const std::string& file, const std::string& text, size_t offset);

// "file:line:col" (parts that are 0 are left out).
std::string FormatPos(const SourcePos& pos);

}  // namespace galley
