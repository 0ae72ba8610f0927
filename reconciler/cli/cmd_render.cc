// SPDX-License-Identifier: Apache-2.0
// `galley render DIR`: print or write what galley would deploy — Marathon app JSON, Consul
// KV entries (secrets masked) and whole HAProxy configs — from a valid repository.
#include <filesystem>
#include <optional>
#include <ostream>

#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file_io.h"
#include "base/strings.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "render/consul_kv.h"
#include "render/haproxy_config.h"
#include "render/marathon_app.h"
#include "spec/instances_file.h"
#include "spec/loader.h"

namespace galley::cli {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

constexpr char kOutMarker[] = ".galley-render";

struct Options {
  std::string dir, env, service, format, instances_file, haproxy, out;
};

CommandLine RenderCommandLine(Options* o) {
  CommandLine cl(
      "render",
      "DIR [--env E] [--service S] --format FORMAT [--instances FILE] [--haproxy NAME]\n"
      "DIR --out OUTDIR [--instances FILE]",
      "Prints or writes what galley would deploy from the valid repository DIR.\n"
      "\n"
      "formats:\n"
      "  marathon           Marathon app JSON: one object with --env and --service, else an array\n"
      "  kv                 Consul KV entries as a JSON object (secrets masked)\n"
      "  haproxy-internal   the whole config of the internal HAProxy instance, every environment\n"
      "  haproxy-external   the same for the external instance (adds HTTP/HTTPS host routing)");
  cl.Positional("DIR", &o->dir);
  cl.Value("--env", "E", &o->env, "only environment E");
  cl.Value("--service", "S", &o->service, "only service S");
  cl.Value("--format", "FORMAT", &o->format, "what to print (see formats)");
  cl.Value("--instances", "FILE", &o->instances_file,
           "live servers: {\"<service>\": <output of /v1/health/service/<service>?passing>}");
  cl.Value("--haproxy", "NAME", &o->haproxy,
           "render the HAProxy instance of this name from galley.yaml");
  cl.Value("--out", "OUTDIR", &o->out,
           "write marathon/<env>/<service>.json, kv/<env>/<service>.json,\n"
           "kv/platform.json and haproxy/<instance>.cfg; OUTDIR is replaced whole");
  return cl;
}

std::optional<Options> ParseArgs(const Args& args, std::ostream& out, std::ostream& err,
                                 int* code) {
  Options o;
  CommandLine cl = RenderCommandLine(&o);
  if (auto exit = cl.ParseOrExit(args, out, err)) {
    *code = *exit;
    return std::nullopt;
  }
  if (o.dir.empty()) o.dir = ".";
  static const std::vector<std::string> kFormats = {"marathon", "kv", "haproxy-internal",
                                                    "haproxy-external"};
  if (o.format.empty() && o.out.empty()) {
    err << "galley render: choose --format FORMAT or --out OUTDIR\n\n" << cl.Usage();
    *code = kExitError;
    return std::nullopt;
  }
  if (!o.format.empty() && !o.out.empty()) {
    err << "galley render: --format and --out are exclusive\n";
    *code = kExitError;
    return std::nullopt;
  }
  if (!o.format.empty() &&
      std::find(kFormats.begin(), kFormats.end(), o.format) == kFormats.end()) {
    std::string guess = ClosestMatch(o.format, kFormats);
    err << "galley render: unknown format '" << o.format
        << "' (expected one of: " << Join(kFormats, ", ") << ")\n";
    if (!guess.empty()) err << "    did you mean '" << guess << "'?\n";
    *code = kExitError;
    return std::nullopt;
  }
  bool haproxy_format = StartsWith(o.format, "haproxy-");
  if (haproxy_format && (!o.env.empty() || !o.service.empty())) {
    err << "galley render: a HAProxy config covers every service and environment; drop "
           "--env/--service\n";
    *code = kExitError;
    return std::nullopt;
  }
  return o;
}

struct Pair {
  const model::Service* service;
  const model::ServiceEnvironment* env;
};

// Service × environment pairs in render order, narrowed by --service / --env.
std::optional<std::vector<Pair>> SelectPairs(const model::DesiredState& st, const Options& o,
                                             std::ostream& err) {
  if (!o.service.empty() && !st.FindService(o.service)) {
    std::vector<std::string> names;
    for (const auto& s : st.services) names.push_back(s.name);
    std::string guess = ClosestMatch(o.service, names);
    err << "galley render: no service '" << o.service << "' in " << o.dir << "\n";
    if (!guess.empty()) err << "    did you mean '" << guess << "'?\n";
    return std::nullopt;
  }
  if (!o.env.empty() && !st.platform.FindEnvironment(o.env)) {
    std::vector<std::string> names;
    for (const auto& e : st.platform.environments) names.push_back(e.name);
    std::string guess = ClosestMatch(o.env, names);
    err << "galley render: no environment '" << o.env << "' (expected one of: " << Join(names, ", ")
        << ")\n";
    if (!guess.empty()) err << "    did you mean '" << guess << "'?\n";
    return std::nullopt;
  }
  std::vector<Pair> pairs;
  for (const auto& s : st.services) {
    if (!o.service.empty() && s.name != o.service) continue;
    for (const auto& e : st.platform.environments) {
      if (!o.env.empty() && e.name != o.env) continue;
      if (const auto* se = s.FindEnvironment(e.name)) pairs.push_back({&s, se});
    }
  }
  if (!o.service.empty() && !o.env.empty() && pairs.empty()) {
    err << "galley render: service '" << o.service << "' is not declared in environment '" << o.env
        << "'\n";
    return std::nullopt;
  }
  return pairs;
}

ojson KvObject(const std::vector<render::KvEntry>& entries) {
  ojson obj = ojson::object();
  for (const auto& e : entries) obj[e.key] = render::DisplayValue(e.value);
  return obj;
}

std::optional<model::HaproxyInstance> PickInstance(const model::Platform& p, const Options& o,
                                                   std::ostream& err) {
  model::HaproxyRole role = o.format == "haproxy-external" ? model::HaproxyRole::kExternal
                                                           : model::HaproxyRole::kInternal;
  if (o.haproxy.empty()) {
    model::HaproxyInstance in = render::InstanceForRole(p, role);
    if (role == model::HaproxyRole::kExternal && in.tls_certificate.empty()) {
      err << "galley render: no external haproxy instance with a tls_certificate in " << p.file
          << "\n";
      return std::nullopt;
    }
    return in;
  }
  for (const auto& in : p.haproxy) {
    if (in.name != o.haproxy) continue;
    if (in.role != role) {
      err << "galley render: haproxy instance '" << in.name << "' has role "
          << model::HaproxyRoleName(in.role) << ", not " << model::HaproxyRoleName(role) << "\n";
      return std::nullopt;
    }
    return in;
  }
  err << "galley render: no haproxy instance '" << o.haproxy << "' in " << p.file << "\n";
  return std::nullopt;
}

// Whether `path` is a regular file (not a link) holding exactly `content`.
bool SameRegularFile(const std::string& path, const std::string& content) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<size_t>(st.st_size) != content.size()) {
    return false;
  }
  auto have = ReadFileBounded(path, content.size());
  return have.ok() && *have == content;
}

// Writes every artifact into a fresh sibling directory, then swaps it in for OUTDIR, so
// OUTDIR never holds a mix of old and new files. An existing OUTDIR is replaced only when
// it is empty or was written by galley (it holds the marker file).
int WriteOut(const model::DesiredState& st, const model::Instances& live, const Options& o,
             std::ostream& out, std::ostream& err) {
  fs::path target(o.out);
  std::error_code ec;
  if (fs::exists(target, ec)) {
    bool ours = fs::exists(target / kOutMarker, ec);
    bool empty = fs::is_directory(target, ec) && fs::is_empty(target, ec);
    if (!ours && !empty) {
      err << "galley render: " << o.out << " exists and was not written by galley render; "
          << "refusing to replace it (choose an empty or new directory)\n";
      return kExitError;
    }
  }
  fs::path stage = target;
  stage += ".galley-tmp-" + std::to_string(::getpid());
  fs::remove_all(stage, ec);
  // The staging directory is private until it is renamed into place, so files are written
  // in place inside it; the rename is what makes the output appear atomically.
  for (const auto& e : st.platform.environments) {
    fs::create_directories(stage / "marathon" / e.name, ec);
    if (!ec) fs::create_directories(stage / "kv" / e.name, ec);
    if (ec) break;
  }
  if (!ec) fs::create_directories(stage / "haproxy", ec);
  if (ec) {
    err << "galley render: cannot create " << stage.string() << ": " << ec.message() << "\n";
    fs::remove_all(stage, ec);
    return kExitError;
  }
  size_t files = 0;
  const bool had_target = fs::is_directory(target, ec);
  auto write = [&](const fs::path& rel, const std::string& content) -> bool {
    // A file the output being replaced holds with the same content is hard-linked into the
    // stage instead of written: no new inode, and removing the old output then frees nothing
    // (creating and freeing ~12,000 inodes was most of `render --out` on ext4, issue #14).
    if (had_target && SameRegularFile((target / rel).string(), content) &&
        ::link((target / rel).c_str(), (stage / rel).c_str()) == 0) {
      ++files;
      return true;
    }
    Status s = WriteFilePlain((stage / rel).string(), content);
    if (!s.ok()) {
      err << "galley render: " << s.message() << "\n";
      return false;
    }
    ++files;
    return true;
  };
  bool ok = write(kOutMarker,
                  "written by galley render; this directory is replaced whole on every run\n");
  for (const auto& s : st.services) {
    for (const auto& e : st.platform.environments) {
      const auto* se = s.FindEnvironment(e.name);
      if (!se || !ok) continue;
      fs::path rel = fs::path(e.name) / (s.name + ".json");
      ok = ok &&
           write("marathon" / rel, render::RenderMarathonApp(st.platform, s, *se).dump(2) + "\n");
      ok = ok && write("kv" / rel, KvObject(render::RenderServiceKv(s, *se)).dump(2) + "\n");
    }
  }
  ok = ok &&
       write("kv/platform.json", KvObject(render::RenderPlatformKv(st.platform)).dump(2) + "\n");
  std::vector<model::HaproxyInstance> instances = st.platform.haproxy;
  if (instances.empty())
    instances.push_back(render::InstanceForRole(st.platform, model::HaproxyRole::kInternal));
  for (const auto& in : instances) {
    ok = ok &&
         write(fs::path("haproxy") / (in.name + ".cfg"), render::RenderHaproxyConfig(st, in, live));
  }
  if (!ok) {
    fs::remove_all(stage, ec);
    return kExitError;
  }
  fs::path old = target;
  old += ".galley-old-" + std::to_string(::getpid());
  bool had_old = fs::exists(target, ec);
  if (had_old) {
    fs::rename(target, old, ec);
    if (ec) {
      err << "galley render: cannot move " << o.out << " aside: " << ec.message() << "\n";
      fs::remove_all(stage, ec);
      return kExitError;
    }
  }
  fs::rename(stage, target, ec);
  if (ec) {
    err << "galley render: cannot move the new output into " << o.out << ": " << ec.message()
        << "\n";
    if (had_old) fs::rename(old, target, ec);
    fs::remove_all(stage, ec);
    return kExitError;
  }
  if (had_old) fs::remove_all(old, ec);
  out << "wrote " << files << " files to " << o.out << "\n";
  return kExitOk;
}

}  // namespace

int RunRender(const Args& args, std::ostream& out, std::ostream& err) {
  int code = kExitError;
  auto opts = ParseArgs(args, out, err, &code);
  if (!opts) return code;
  const Options& o = *opts;
  spec::LoadResult r = spec::LoadRepository(o.dir);
  if (r.diags.HasErrors()) {
    err << r.diags.RenderAll();
    err << "galley render: " << o.dir << " is not valid; nothing rendered\n";
    return kExitError;
  }
  const model::DesiredState& st = r.state;
  model::Instances live;
  if (!o.instances_file.empty()) {
    Diagnostics d;
    auto parsed = spec::LoadInstancesFile(o.instances_file, d);
    if (!parsed) {
      err << d.RenderAll();
      return kExitError;
    }
    live = std::move(*parsed);
  }
  if (!o.out.empty()) return WriteOut(st, live, o, out, err);

  if (o.format == "haproxy-internal" || o.format == "haproxy-external") {
    auto in = PickInstance(st.platform, o, err);
    if (!in) return kExitError;
    out << render::RenderHaproxyConfig(st, *in, live);
    return kExitOk;
  }
  auto pairs = SelectPairs(st, o, err);
  if (!pairs) return kExitError;
  if (o.format == "marathon") {
    if (!o.env.empty() && !o.service.empty()) {
      out << render::RenderMarathonApp(st.platform, *pairs->front().service, *pairs->front().env)
                 .dump(2)
          << "\n";
      return kExitOk;
    }
    ojson arr = ojson::array();
    for (const auto& p : *pairs)
      arr.push_back(render::RenderMarathonApp(st.platform, *p.service, *p.env));
    out << arr.dump(2) << "\n";
    return kExitOk;
  }
  // kv
  std::vector<render::KvEntry> entries;
  if (o.service.empty()) entries = render::RenderPlatformKv(st.platform);
  for (const auto& p : *pairs) {
    auto e = render::RenderServiceKv(*p.service, *p.env);
    entries.insert(entries.end(), e.begin(), e.end());
  }
  out << KvObject(entries).dump(2) << "\n";
  return kExitOk;
}

}  // namespace galley::cli
