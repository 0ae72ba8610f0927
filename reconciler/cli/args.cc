// SPDX-License-Identifier: Apache-2.0
#include "cli/args.h"

#include <algorithm>
#include <cctype>
#include <ostream>
#include <set>
#include <sstream>

#include "base/strings.h"

namespace galley::cli {
namespace {

// "status or break", "a, b or c".
std::string Alternatives(const std::vector<std::string>& choices) {
  std::string out;
  for (size_t i = 0; i < choices.size(); ++i) {
    out += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + choices[i];
  }
  return out;
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

CommandLine::CommandLine(std::string command, std::string synopsis, std::string description)
    : command_(std::move(command)),
      synopsis_(std::move(synopsis)),
      description_(std::move(description)) {}

CommandLine& CommandLine::Add(Option o) {
  options_.push_back(std::move(o));
  return *this;
}

CommandLine& CommandLine::Flag(const std::string& name, bool* dst, const std::string& help) {
  return Add({.name = name, .help = help, .kind = Kind::kFlag, .flag = dst});
}

CommandLine& CommandLine::Value(const std::string& name, const std::string& metavar,
                                std::string* dst, const std::string& help) {
  return Add({.name = name, .metavar = metavar, .help = help, .kind = Kind::kValue, .value = dst});
}

CommandLine& CommandLine::List(const std::string& name, const std::string& metavar,
                               std::vector<std::string>* dst, const std::string& help) {
  return Add({.name = name,
              .metavar = metavar,
              .help = help,
              .kind = Kind::kList,
              .repeatable = true,
              .list = dst});
}

CommandLine& CommandLine::Custom(const std::string& name, const std::string& metavar,
                                 std::function<Status(const std::string&)> parse,
                                 const std::string& help, bool repeatable) {
  return Add({.name = name,
              .metavar = metavar,
              .help = help,
              .kind = Kind::kCustom,
              .repeatable = repeatable,
              .parse = std::move(parse)});
}

CommandLine& CommandLine::Refuse(const std::string& name, const std::string& reason) {
  return Add({.name = name, .help = reason, .kind = Kind::kRefused});
}

CommandLine& CommandLine::Alias(const std::string& short_name) {
  if (!options_.empty()) options_.back().alias = short_name;
  return *this;
}

CommandLine& CommandLine::Positional(const std::string& metavar, std::string* dst, bool required,
                                     std::vector<std::string> choices) {
  positionals_.push_back(
      {.metavar = metavar, .dst = dst, .required = required, .choices = std::move(choices)});
  return *this;
}

CommandLine& CommandLine::Rest(const std::string& metavar, std::vector<std::string>* dst,
                               size_t max) {
  positionals_.push_back({.metavar = metavar, .rest = dst, .max = max});
  return *this;
}

CommandLine& CommandLine::Epilogue(const std::string& text) {
  epilogue_ = text;
  return *this;
}

const CommandLine::Option* CommandLine::Find(const std::string& name) const {
  for (const auto& o : options_) {
    if (o.name == name || (!o.alias.empty() && o.alias == name)) return &o;
  }
  return nullptr;
}

std::string CommandLine::Usage() const {
  std::ostringstream u;
  auto lines = Split(synopsis_, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    u << (i == 0 ? "usage: galley " : "       galley ") << command_ << (lines[i].empty() ? "" : " ")
      << lines[i] << "\n";
  }
  if (!description_.empty())
    u << "\n" << description_ << (EndsWith(description_, "\n") ? "" : "\n");
  struct Row {
    std::string label, help;
  };
  std::vector<Row> rows;
  for (const auto& o : options_) {
    if (o.kind == Kind::kRefused) continue;
    std::string label = (o.alias.empty() ? "" : o.alias + ", ") + o.name;
    if (!o.metavar.empty()) label += " " + o.metavar;
    std::string help = o.help;
    if (o.repeatable && help.find("repeatable") == std::string::npos) help += " (repeatable)";
    rows.push_back({label, help});
  }
  rows.push_back({"-h, --help", "print this help"});
  size_t width = 21;  // help text from column 24, wider labels push it right
  for (const auto& r : rows) width = std::max(width, r.label.size() + 1);
  u << "\noptions:\n";
  for (const auto& r : rows) {
    auto help_lines = Split(r.help, '\n');
    for (size_t i = 0; i < help_lines.size(); ++i) {
      std::string label = i == 0 ? r.label : "";
      u << "  " << label << std::string(width - label.size() + 1, ' ') << help_lines[i] << "\n";
    }
  }
  if (!epilogue_.empty()) u << "\n" << epilogue_ << (EndsWith(epilogue_, "\n") ? "" : "\n");
  return u.str();
}

CommandLine::Outcome CommandLine::Parse(const Args& args, std::ostream& out,
                                        std::ostream& err) const {
  const std::string prefix = "galley " + command_ + ": ";
  std::set<std::string> seen;
  size_t pos_index = 0;
  bool only_positional = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!only_positional && a == "--") {
      only_positional = true;
      continue;
    }
    if (!only_positional && a.size() > 1 && a[0] == '-') {
      std::string name = a;
      std::optional<std::string> inline_value;
      if (size_t eq = a.find('='); StartsWith(a, "--") && eq != std::string::npos) {
        name = a.substr(0, eq);
        inline_value = a.substr(eq + 1);
      }
      if (name == "-h" || name == "--help") {
        out << Usage();
        return Outcome::kHelp;
      }
      const Option* o = Find(name);
      if (!o) {
        std::vector<std::string> names = {"--help"};
        for (const auto& opt : options_) {
          if (opt.kind != Kind::kRefused) names.push_back(opt.name);
        }
        err << prefix << "unknown option " << Quote(name) << "\n";
        if (std::string guess = ClosestMatch(name, names); !guess.empty()) {
          err << "    did you mean " << Quote(guess) << "?\n";
        }
        err << "\n" << Usage();
        return Outcome::kError;
      }
      if (o->kind == Kind::kRefused) {
        err << prefix << o->name << " " << o->help << "\n";
        return Outcome::kError;
      }
      if (o->kind == Kind::kFlag) {
        if (inline_value) {
          err << prefix << o->name << " takes no value (got " << Quote(a) << ")\n";
          return Outcome::kError;
        }
        *o->flag = true;
        continue;
      }
      std::string value;
      if (inline_value) {
        value = *inline_value;
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        err << prefix << o->name << " needs a value (" << o->name << " " << o->metavar << " or "
            << o->name << "=" << o->metavar << ")\n";
        return Outcome::kError;
      }
      if (!o->repeatable && !seen.insert(o->name).second) {
        err << prefix << o->name << " is given more than once\n";
        return Outcome::kError;
      }
      switch (o->kind) {
        case Kind::kValue:
          *o->value = value;
          break;
        case Kind::kList:
          o->list->push_back(value);
          break;
        case Kind::kCustom:
          if (Status s = o->parse(value); !s.ok()) {
            err << prefix << s.message() << "\n";
            return Outcome::kError;
          }
          break;
        default:
          break;
      }
      continue;
    }
    if (pos_index >= positionals_.size()) {
      err << prefix << "unexpected argument " << Quote(a) << " (usage: galley " << command_ << " "
          << Split(synopsis_, '\n')[0] << ")\n";
      return Outcome::kError;
    }
    const Pos& p = positionals_[pos_index];
    if (p.rest) {
      if (p.max != 0 && p.rest->size() >= p.max) {
        err << prefix << "too many arguments: unexpected " << Quote(a) << " (usage: galley "
            << command_ << " " << Split(synopsis_, '\n')[0] << ")\n";
        return Outcome::kError;
      }
      p.rest->push_back(a);
      continue;
    }
    if (!p.choices.empty() && std::find(p.choices.begin(), p.choices.end(), a) == p.choices.end()) {
      err << prefix << "unknown " << Lower(p.metavar) << " " << Quote(a) << " ("
          << Alternatives(p.choices) << ")\n";
      if (std::string guess = ClosestMatch(a, p.choices); !guess.empty()) {
        err << "    did you mean " << Quote(guess) << "?\n";
      }
      err << Usage();
      return Outcome::kError;
    }
    *p.dst = a;
    ++pos_index;
  }
  for (size_t k = pos_index; k < positionals_.size(); ++k) {
    const Pos& p = positionals_[k];
    if (!p.required) continue;
    if (p.choices.empty()) {
      err << prefix << "missing " << p.metavar;
    } else {
      err << prefix << "which " << Lower(p.metavar) << "? (" << Alternatives(p.choices) << ")";
    }
    err << "\n" << Usage();
    return Outcome::kError;
  }
  return Outcome::kOk;
}

std::optional<int> CommandLine::ParseOrExit(const Args& args, std::ostream& out,
                                            std::ostream& err) const {
  switch (Parse(args, out, err)) {
    case Outcome::kOk:
      return std::nullopt;
    case Outcome::kHelp:
      return kExitOk;
    case Outcome::kError:
      break;
  }
  return kExitError;
}

std::optional<long long> ParsePositive(const std::string& s, long long max) {
  if (s.empty() || s.size() > 18 ||
      !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  long long v = std::stoll(s);
  if (v < 1 || v > max) return std::nullopt;
  return v;
}

}  // namespace galley::cli
