// SPDX-License-Identifier: Apache-2.0
#include "cli/repo_edit.h"

#include <filesystem>
#include <ostream>

#include "base/file_io.h"
#include "base/strings.h"
#include "base/subprocess.h"
#include "spec/loader.h"
#include "spec/parse.h"
#include "spec/semantic_check.h"
#include "spec/yaml_source.h"

namespace galley::cli {

Result<ServiceFile> ReadServiceFile(const std::string& dir, const std::string& service,
                                    std::ostream& err) {
  spec::LoadResult r = spec::LoadRepository(dir);
  if (r.diags.HasErrors()) {
    err << r.diags.RenderAll();
    return Status::InvalidArgument(dir + ": the repository is not valid; fix it first");
  }
  std::vector<std::string> names;
  for (const auto& s : r.state.services) {
    if (s.name == service) {
      ServiceFile f;
      f.dir = dir;
      f.path = s.file;
      f.state = r.state;
      ASSIGN_OR_RETURN(f.text, ReadFileBounded(s.file, spec::kMaxFileBytes));
      return f;
    }
    names.push_back(s.name);
  }
  std::string guess = ClosestMatch(service, names);
  return Status::NotFound("no service " + service + " in " + dir + "/services" +
                          (guess.empty() ? "" : " (did you mean " + guess + "?)"));
}

Status WriteServiceFile(const ServiceFile& file, const spec::FileEdit& edit) {
  // The cross-file rules (ports, environments, names) over the repository with the new file.
  Diagnostics diags;
  auto doc = spec::ParseYaml(file.path, edit.text, diags);
  std::optional<model::Service> parsed;
  if (doc) parsed = spec::ParseService(*doc, diags);
  if (parsed) {
    model::DesiredState state = file.state;
    for (auto& s : state.services) {
      if (s.file == file.path) s = *parsed;
    }
    spec::CheckSemantics(state, file.dir, diags);
  }
  if (diags.HasErrors()) {
    return Status::InvalidArgument("the edited repository would not be valid; nothing written:\n" +
                                   diags.RenderAll());
  }
  auto now = ReadFileBounded(file.path, spec::kMaxFileBytes);
  if (!now.ok()) return now.status().WithContext(file.path);
  if (*now != file.text) {
    return Status::Conflict(file.path +
                            ": the file changed while galley was editing it; nothing written, "
                            "run the command again");
  }
  return WriteFileAtomic(file.path, edit.text).WithContext(file.path);
}

Status CommitFile(const std::string& dir, const std::string& file, const std::string& message) {
  std::string rel = std::filesystem::relative(file, dir).generic_string();
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {"git", "-C", dir, "add", "--", rel},
           {"git", "-C", dir, "commit", "-q", "-m", message, "--", rel}}) {
    auto r = RunCommand(argv, RunOptions{.merge_stderr = true});
    if (!r.ok()) return r.status().WithContext("git");
    if (r->exit_code != 0) {
      return Status::Unavailable("git " + argv[3] + " failed (exit " +
                                 std::to_string(r->exit_code) + "): " + Truncate(r->out, 2000));
    }
  }
  return Status::Ok();
}

void PrintChanges(const std::string& file, const std::vector<spec::FieldChange>& changes,
                  std::ostream& out) {
  for (const auto& c : changes) {
    out << file << ":" << c.line << ": " << c.env << " " << c.field << ": " << c.before << " -> "
        << c.after << "\n";
  }
}

}  // namespace galley::cli
