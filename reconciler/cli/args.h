// SPDX-License-Identifier: Apache-2.0
// The one argument parser of every `galley` command: each command declares its options and
// positional arguments in a table (CommandLine), and the table parses the arguments and
// generates the command's usage text. Accepted forms: `--flag`, `--flag value`,
// `--flag=value`, repeatable options, positional arguments, `--` to end the options, and
// `-h`/`--help`. Unknown options are refused with a "did you mean" and the usage.
#pragma once

#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "cli/commands.h"

namespace galley::cli {

class CommandLine {
 public:
  // `command` as it appears in messages ("plan", "lock"); `synopsis` follows
  // "usage: galley <command> " (e.g. "[DIR] [options]"; lines after the first are printed
  // under it); `description` is the paragraph after the usage line.
  CommandLine(std::string command, std::string synopsis, std::string description);

  // A boolean flag: present sets *dst to true. `--flag=...` is refused.
  CommandLine& Flag(const std::string& name, bool* dst, const std::string& help);
  // An option with one value; given twice is an error.
  CommandLine& Value(const std::string& name, const std::string& metavar, std::string* dst,
                     const std::string& help);
  // A repeatable option: each occurrence appends its value.
  CommandLine& List(const std::string& name, const std::string& metavar,
                    std::vector<std::string>* dst, const std::string& help);
  // An option whose value is checked and stored by `parse` (a non-OK status is printed as
  // "galley <command>: <message>"). Repeatable when `repeatable`, else given twice is an error.
  CommandLine& Custom(const std::string& name, const std::string& metavar,
                      std::function<Status(const std::string& value)> parse,
                      const std::string& help, bool repeatable = false);
  // An option this command knows but refuses, with the reason (not in the usage).
  CommandLine& Refuse(const std::string& name, const std::string& reason);
  // A short alias ("-q") for the option declared last.
  CommandLine& Alias(const std::string& short_name);

  // Positional arguments, in order. An optional one may only be followed by optional ones.
  // With `choices`, the value must be one of them (a "did you mean" otherwise).
  CommandLine& Positional(const std::string& metavar, std::string* dst, bool required = false,
                          std::vector<std::string> choices = {});
  // Every remaining positional argument (at most `max`, 0 = unbounded).
  CommandLine& Rest(const std::string& metavar, std::vector<std::string>* dst, size_t max = 0);

  // Free text after the options in the usage ("exit codes: ...", a list of formats, ...).
  CommandLine& Epilogue(const std::string& text);

  enum class Outcome { kOk, kHelp, kError };
  // Parses `args`: kHelp after printing the usage to `out`, kError after printing a message
  // (and, for unknown options, the usage) to `err`.
  Outcome Parse(const Args& args, std::ostream& out, std::ostream& err) const;
  // Parse() as an exit code: nullopt when the command should go on, else the code to return.
  std::optional<int> ParseOrExit(const Args& args, std::ostream& out, std::ostream& err) const;

  std::string Usage() const;
  const std::string& command() const { return command_; }

 private:
  enum class Kind { kFlag, kValue, kList, kCustom, kRefused };
  struct Option {
    std::string name, alias, metavar, help;
    Kind kind;
    bool repeatable = false;
    bool* flag = nullptr;
    std::string* value = nullptr;
    std::vector<std::string>* list = nullptr;
    std::function<Status(const std::string&)> parse;
  };
  struct Pos {
    std::string metavar;
    std::string* dst = nullptr;
    std::vector<std::string>* rest = nullptr;
    size_t max = 0;
    bool required = false;
    std::vector<std::string> choices;
  };
  CommandLine& Add(Option o);
  const Option* Find(const std::string& name) const;

  std::string command_, synopsis_, description_, epilogue_;
  std::vector<Option> options_;
  std::vector<Pos> positionals_;
};

// Parses a positive integer of at most `max`; nullopt otherwise.
std::optional<long long> ParsePositive(const std::string& s, long long max);

}  // namespace galley::cli
