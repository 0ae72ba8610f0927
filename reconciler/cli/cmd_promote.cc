// SPDX-License-Identifier: Apache-2.0
// `galley promote SERVICE --from E --to E [--config KEY]... [DIR] [--commit]` (DESIGN §8
// point 16): copies one environment's tag (and named config keys) to another in place, so a
// promotion is a reviewable one-line commit.
#include <ostream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/repo_edit.h"

namespace galley::cli {

int RunPromote(const Args& args, std::ostream& out, std::ostream& err) {
  std::string service, from, to, dir;
  std::vector<std::string> keys;
  bool commit = false;
  CommandLine cl("promote", "SERVICE --from E --to E [DIR] [--config KEY]... [--commit]",
                 "Copies SERVICE's image tag from environment --from to --to (and each --config\n"
                 "KEY written in both environments' config), changing only those values' bytes.");
  cl.Positional("SERVICE", &service, true);
  cl.Positional("DIR", &dir);
  cl.Value("--from", "E", &from, "the environment whose tag is copied (required)");
  cl.Value("--to", "E", &to, "the environment that receives it (required)");
  cl.List("--config", "KEY", &keys, "also copy this config key (repeatable)");
  cl.Flag("--commit", &commit, "git commit the file with a conventional message");
  cl.Epilogue("Exit status: 0 written (or nothing to change), 1 refused (nothing written).");
  if (auto exit = cl.ParseOrExit(args, out, err)) return *exit;
  if (from.empty() || to.empty()) {
    err << "galley promote: --from and --to are required\n" << cl.Usage();
    return kExitError;
  }
  if (dir.empty()) dir = ".";
  auto file = ReadServiceFile(dir, service, err);
  if (!file.ok()) {
    err << "galley promote: " << file.status().message() << "\n";
    return kExitError;
  }
  auto edit = spec::PromoteInText(file->path, file->text, from, to, keys);
  if (!edit.ok()) {
    err << "galley promote: " << edit.status().message() << "\n";
    return kExitError;
  }
  if (edit->changes.empty()) {
    out << file->path << ": " << to << " already runs what " << from << " runs\n";
    return kExitOk;
  }
  if (Status s = WriteServiceFile(*file, *edit); !s.ok()) {
    err << "galley promote: " << s.message() << "\n";
    return kExitError;
  }
  PrintChanges(file->path, edit->changes, out);
  if (commit) {
    std::string tag;
    for (const auto& c : edit->changes)
      if (c.field == "tag") tag = c.after;
    std::string msg = "deploy(" + service + "): promote " + from + " to " + to +
                      (tag.empty() ? std::string(" (config)") : " (tag " + tag + ")");
    if (Status s = CommitFile(dir, file->path, msg); !s.ok()) {
      err << "galley promote: the file is written but not committed: " << s.message() << "\n";
      return kExitError;
    }
    out << "committed: " << msg << "\n";
  }
  return kExitOk;
}

}  // namespace galley::cli
