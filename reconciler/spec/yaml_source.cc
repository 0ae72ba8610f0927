// SPDX-License-Identifier: Apache-2.0
#include "spec/yaml_source.h"

#include <string_view>
#include <vector>

#include <yaml-cpp/depthguard.h>

#include "base/file_io.h"
#include "base/strings.h"

namespace galley::spec {
namespace {

// Checks the raw bytes before yaml-cpp sees them; returns false when parsing must not start.
bool CheckRawText(const std::string& file, const std::string& text, Diagnostics& diags) {
  if (text.find('\0') != std::string::npos) {
    diags.Error(PosAtOffset(file, text, text.find('\0')),
                "file contains a NUL byte: this is binary data", "a UTF-8 YAML text file");
    return false;
  }
  size_t bad = FindInvalidUtf8(text);
  if (bad != std::string_view::npos) {
    diags.Error(PosAtOffset(file, text, bad), "invalid UTF-8 byte sequence",
                "a UTF-8 YAML text file");
    return false;
  }
  // YAML forbids tabs in indentation; yaml-cpp's own message for them is obscure.
  bool ok = true;
  int reported = 0;
  size_t line_start = 0;
  while (line_start < text.size()) {
    size_t i = line_start;
    while (i < text.size() && text[i] == ' ') ++i;
    if (i < text.size() && text[i] == '\t') {
      // A tab after the indentation of a block scalar's content is data; a tab at the very
      // start of a line, or inside leading spaces before a key, is indentation.
      size_t j = i;
      while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) ++j;
      bool blank = j >= text.size() || text[j] == '\n' || text[j] == '#';
      if (!blank && i == line_start) {
        if (reported++ < 5) {
          diags.Error(PosAtOffset(file, text, i), "tab character used for indentation",
                      "spaces: YAML does not allow tabs for indentation");
        }
        ok = false;
      }
    }
    size_t nl = text.find('\n', line_start);
    if (nl == std::string::npos) break;
    line_start = nl + 1;
  }
  return ok;
}

SourcePos MarkPos(const std::string& file, const YAML::Mark& m) {
  if (m.is_null()) return SourcePos{file, 0, 0};
  return SourcePos{file, m.line + 1, m.column + 1};
}

}  // namespace

std::optional<YamlDocument> ParseYaml(const std::string& display_name, std::string text,
                                      Diagnostics& diags) {
  auto shared = std::make_shared<const std::string>(std::move(text));
  diags.AddSource(display_name, shared);
  const std::string& t = *shared;
  if (!CheckRawText(display_name, t, diags)) return std::nullopt;
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(t);
  } catch (const YAML::DeepRecursion& e) {
    diags.Error(MarkPos(display_name, e.mark),
                "nesting is too deep (more than " + std::to_string(e.depth()) + " levels)",
                "at most " + std::to_string(kMaxDepth) + " levels");
    return std::nullopt;
  } catch (const YAML::Exception& e) {
    diags.Error(MarkPos(display_name, e.mark), "invalid YAML: " + e.msg, "well-formed YAML");
    return std::nullopt;
  } catch (const std::exception& e) {
    diags.Error(SourcePos{display_name, 0, 0}, std::string("cannot parse YAML: ") + e.what());
    return std::nullopt;
  }
  if (docs.size() > 1) {
    diags.Error(MarkPos(display_name, docs[1].Mark()), "a second YAML document in one file",
                "one document per file");
    return std::nullopt;
  }
  if (docs.empty() || docs[0].IsNull()) {
    diags.Error(SourcePos{display_name, 0, 0}, "file is empty", "a YAML mapping");
    return std::nullopt;
  }
  return YamlDocument{display_name, shared, docs[0]};
}

std::optional<YamlDocument> LoadYamlFile(const std::string& path, const std::string& display_name,
                                         Diagnostics& diags) {
  auto text = ReadFileBounded(path, kMaxFileBytes);
  if (!text.ok()) {
    // The status message starts with the path; the diagnostic has its own position.
    std::string msg = text.status().message();
    if (StartsWith(msg, path + ": ")) msg = msg.substr(path.size() + 2);
    diags.Error(SourcePos{display_name, 0, 0}, msg);
    return std::nullopt;
  }
  return ParseYaml(display_name, std::move(*text), diags);
}

}  // namespace galley::spec
