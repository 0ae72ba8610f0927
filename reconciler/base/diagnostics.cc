// SPDX-License-Identifier: Apache-2.0
#include "base/diagnostics.h"

#include <algorithm>
#include <string_view>

namespace galley {
namespace {

constexpr size_t kMaxQuotedLine = 160;

// Returns line `line` (1-based) of text without its newline, or npos-marked empty.
bool FindLine(const std::string& text, int line, std::string_view* out) {
  size_t start = 0;
  for (int i = 1; i < line; ++i) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) return false;
    start = nl + 1;
  }
  if (start > text.size()) return false;
  size_t end = text.find('\n', start);
  if (end == std::string::npos) end = text.size();
  std::string_view v(text.data() + start, end - start);
  if (!v.empty() && v.back() == '\r') v.remove_suffix(1);
  *out = v;
  return true;
}

bool Printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return u >= 0x20 || c == '\t';
  });
}

}  // namespace

SourcePos PosAtOffset(const std::string& file, const std::string& text, size_t offset) {
  SourcePos pos{file, 1, 1};
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++pos.line;
      pos.column = 1;
    } else {
      ++pos.column;
    }
  }
  return pos;
}

std::string FormatPos(const SourcePos& pos) {
  std::string out = pos.file.empty() ? "<input>" : pos.file;
  if (pos.line > 0) {
    out += ":" + std::to_string(pos.line);
    if (pos.column > 0) out += ":" + std::to_string(pos.column);
  }
  return out;
}

void Diagnostics::Error(SourcePos pos, std::string what, std::string expected, std::string hint) {
  Add({Severity::kError, std::move(pos), std::move(what), std::move(expected), std::move(hint)});
}

void Diagnostics::Warning(SourcePos pos, std::string what, std::string expected, std::string hint) {
  Add({Severity::kWarning, std::move(pos), std::move(what), std::move(expected), std::move(hint)});
}

void Diagnostics::Add(Diagnostic d) {
  if (d.severity == Severity::kError) ++errors_;
  items_.push_back(std::move(d));
}

void Diagnostics::Merge(Diagnostics&& other) {
  for (auto& d : other.items_) Add(std::move(d));
  for (auto& [file, text] : other.sources_) sources_[file] = std::move(text);
  other.items_.clear();
  other.sources_.clear();
  other.errors_ = 0;
}

void Diagnostics::AddSource(const std::string& file, std::shared_ptr<const std::string> text) {
  sources_[file] = std::move(text);
}

void Diagnostics::Sort() {
  std::stable_sort(items_.begin(), items_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    if (a.pos.file != b.pos.file) return a.pos.file < b.pos.file;
    if (a.pos.line != b.pos.line) return a.pos.line < b.pos.line;
    return a.pos.column < b.pos.column;
  });
}

std::string Diagnostics::Render(const Diagnostic& d) const {
  std::string out = FormatPos(d.pos);
  out += d.severity == Severity::kError ? ": error: " : ": warning: ";
  out += d.what;
  if (!d.expected.empty()) out += " (expected " + d.expected + ")";
  out += "\n";
  auto it = sources_.find(d.pos.file);
  std::string_view line;
  if (d.pos.line > 0 && it != sources_.end() && it->second &&
      FindLine(*it->second, d.pos.line, &line) && Printable(line)) {
    // Long lines are cut around the column so the caret stays visible.
    size_t col = d.pos.column > 0 ? static_cast<size_t>(d.pos.column - 1) : 0;
    size_t begin = 0;
    if (line.size() > kMaxQuotedLine && col > kMaxQuotedLine / 2) begin = col - kMaxQuotedLine / 2;
    std::string_view shown = line.substr(begin, kMaxQuotedLine);
    std::string prefix = begin > 0 ? "    ..." : "    ";
    out += prefix;
    out += shown;
    if (begin + shown.size() < line.size()) out += "...";
    out += "\n";
    if (d.pos.column > 0 && col >= begin && col - begin <= shown.size()) {
      std::string caret(prefix.size(), ' ');
      for (size_t i = begin; i < col; ++i) caret += line[i] == '\t' ? '\t' : ' ';
      caret += "^\n";
      out += caret;
    }
  }
  if (!d.hint.empty()) out += "    " + d.hint + "\n";
  return out;
}

std::string Diagnostics::RenderAll() const {
  std::string out;
  for (const auto& d : items_) out += Render(d);
  if (!items_.empty()) {
    int warnings = warning_count();
    out += std::to_string(errors_) + (errors_ == 1 ? " error" : " errors") + ", " +
           std::to_string(warnings) + (warnings == 1 ? " warning" : " warnings") + "\n";
  }
  return out;
}

}  // namespace galley
