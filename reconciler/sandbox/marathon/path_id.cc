// SPDX-License-Identifier: Apache-2.0
#include "sandbox/marathon/path_id.h"

#include <regex>

namespace galley::sandbox::marathon {

const char kIdSegmentPattern[] =
    "^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])|(\\.|\\."
    "\\.)$";

namespace {

bool IsLabelChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

// DNS-style labels joined by single dots (the first alternative of the pattern).
bool ValidSegment(std::string_view s) {
  if (s == "." || s == "..") return true;
  if (s.empty()) return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    std::string_view label =
        s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!IsLabelChar(c)) return false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

}  // namespace

std::vector<std::string> IdSegments(std::string_view id) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= id.size()) {
    size_t j = id.find('/', i);
    if (j == std::string_view::npos) j = id.size();
    if (j > i) out.emplace_back(id.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string CanonicalId(std::string_view raw, std::string_view base) {
  std::vector<std::string> segs;
  bool absolute = !raw.empty() && raw.front() == '/';
  if (!absolute) segs = IdSegments(base);
  for (auto& s : IdSegments(raw)) {
    if (s == ".") continue;
    if (s == "..") {
      if (!segs.empty()) segs.pop_back();
      continue;
    }
    segs.push_back(std::move(s));
  }
  std::string out;
  for (const auto& s : segs) out += "/" + s;
  return out.empty() ? "/" : out;
}

std::vector<std::string> ValidateAppId(std::string_view raw, std::string_view canonical) {
  std::vector<std::string> errors;
  for (const auto& s : IdSegments(raw)) {
    if (!ValidSegment(s)) {
      errors.push_back(std::string("must fully match regular expression '") + kIdSegmentPattern +
                       "'");
      break;
    }
  }
  if (canonical == "/" || canonical.empty()) {
    errors.emplace_back("Path must not be root");
    return errors;
  }
  auto segs = IdSegments(raw);
  if (!segs.empty()) {
    const std::string& last = segs.back();
    if (last == "restart" || last == "tasks" || last == "versions" || last == "." || last == "..") {
      errors.emplace_back(
          "must not end with any of the following reserved keywords: restart, tasks, versions, ., "
          "..");
    }
  }
  return errors;
}

std::string ParentId(std::string_view id) {
  size_t slash = id.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return "/";
  return std::string(id.substr(0, slash));
}

bool IsUnder(std::string_view id, std::string_view group) {
  if (group == "/" || group.empty()) return true;
  if (id.size() < group.size() || id.substr(0, group.size()) != group) return false;
  return id.size() == group.size() || id[group.size()] == '/';
}

std::string SafePath(std::string_view id) {
  std::string out;
  for (char c : id.substr(!id.empty() && id.front() == '/' ? 1 : 0)) out += c == '/' ? '_' : c;
  return out;
}

std::optional<std::string> TaskIdSafePath(std::string_view task_id) {
  static const std::regex kInstance(
      R"(^(.+)\.(instance-|marathon-)([^_.]+)[._]([^.]+)(\.(\d+))?$)");
  static const std::regex kInstanceOnly(R"(^(.+)\.(instance-|marathon-)([^_.]+)$)");
  static const std::regex kLegacy(R"(^(.+)([._])([^_.]+)$)");
  std::string s(task_id);
  std::smatch m;
  if (std::regex_match(s, m, kInstance) || std::regex_match(s, m, kInstanceOnly) ||
      std::regex_match(s, m, kLegacy)) {
    return m[1].str();
  }
  return std::nullopt;
}

}  // namespace galley::sandbox::marathon
