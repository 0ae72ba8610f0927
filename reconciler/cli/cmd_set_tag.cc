// SPDX-License-Identifier: Apache-2.0
// `galley set-tag SERVICE TAG [--env E]... [DIR] [--commit]` (DESIGN §8 point 16): CI's way to
// write a build's tag into the repository. Only the tag's bytes change (spec/tag_edit).
#include <ostream>

#include "base/strings.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/repo_edit.h"

namespace galley::cli {

int RunSetTag(const Args& args, std::ostream& out, std::ostream& err) {
  std::string service, tag, dir;
  std::vector<std::string> envs;
  bool commit = false;
  CommandLine cl(
      "set-tag", "SERVICE TAG [DIR] [--env E]... [--commit]",
      "Writes TAG as the image tag of SERVICE in each --env (default: every\n"
      "environment the service declares), in place: only the tag's bytes change;\n"
      "comments, order and quoting stay. The result is validated before an atomic write.\n"
      "A moving tag (latest, master, main, ...) is refused.");
  cl.Positional("SERVICE", &service, true);
  cl.Positional("TAG", &tag, true);
  cl.Positional("DIR", &dir);
  cl.List("--env", "E", &envs, "an environment to change (repeatable)");
  cl.Flag("--commit", &commit, "git commit the file with a conventional message");
  cl.Epilogue("Exit status: 0 written (or already that tag), 1 refused (nothing written).");
  if (auto exit = cl.ParseOrExit(args, out, err)) return *exit;
  if (dir.empty()) dir = ".";
  auto file = ReadServiceFile(dir, service, err);
  if (!file.ok()) {
    err << "galley set-tag: " << file.status().message() << "\n";
    return kExitError;
  }
  auto edit = spec::SetTagInText(file->path, file->text, envs, tag);
  if (!edit.ok()) {
    err << "galley set-tag: " << edit.status().message() << "\n";
    return kExitError;
  }
  if (edit->changes.empty()) {
    out << file->path << ": " << service << " already has tag " << tag << "\n";
    return kExitOk;
  }
  if (Status s = WriteServiceFile(*file, *edit); !s.ok()) {
    err << "galley set-tag: " << s.message() << "\n";
    return kExitError;
  }
  PrintChanges(file->path, edit->changes, out);
  if (commit) {
    std::vector<std::string> changed;
    for (const auto& c : edit->changes) changed.push_back(c.env);
    std::string msg = "deploy(" + service + "): set tag " + tag + " in " + Join(changed, ", ");
    if (Status s = CommitFile(dir, file->path, msg); !s.ok()) {
      err << "galley set-tag: the file is written but not committed: " << s.message() << "\n";
      return kExitError;
    }
    out << "committed: " << msg << "\n";
  }
  return kExitOk;
}

}  // namespace galley::cli
