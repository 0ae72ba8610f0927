// SPDX-License-Identifier: Apache-2.0
#include "agent/lb_manager.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>
#include <sys/resource.h>

#include "agent/text_fields.h"
#include "base/allocator.h"
#include "base/digest.h"
#include "base/file_io.h"
#include "base/strings.h"
#include "base/time_text.h"
#include "render/haproxy_config.h"
#include "render/lb_model_codec.h"

namespace galley::agent {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;

constexpr size_t kMaxConfigBytes = 64u << 20;

std::string ConfigDigest(const std::string& text) { return "sha256:" + Sha256Hex(text); }

std::set<std::string> RegisteredNames(const model::DesiredState& state) {
  std::set<std::string> out;
  for (const auto& s : state.services) {
    for (const auto& p : s.ExposedPorts()) out.insert(s.RegisteredName(p.container));
  }
  return out;
}

const char* IntentText(AdminIntent i) { return AdminIntentName(i); }

bool SameInstances(const model::Instances& a, const model::Instances& b) {
  if (a.size() != b.size()) return false;
  for (auto x = a.begin(), y = b.begin(); x != a.end(); ++x, ++y) {
    if (x->first != y->first || x->second.size() != y->second.size()) return false;
    for (size_t i = 0; i < x->second.size(); ++i) {
      const auto &p = x->second[i], &q = y->second[i];
      if (p.port != q.port || p.address != q.address || p.node != q.node || p.tags != q.tags)
        return false;
    }
  }
  return true;
}

bool SameList(const std::vector<model::Instance>& a, const std::vector<model::Instance>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto &p = a[i], &q = b[i];
    if (p.port != q.port || p.address != q.address || p.node != q.node || p.tags != q.tags)
      return false;
  }
  return true;
}

// kReady is what a server without an intent is to PlanLbSync (only the drain or maint galley
// set tells a hand change apart): left out of the agent's map and file, which then hold the
// few servers galley holds out of rotation rather than every server (13,700 at scale, a
// megabyte of JSON rewritten and a map copied on every change).
void DropReady(std::map<ServerRef, AdminIntent>& intents) {
  std::erase_if(intents, [](const auto& e) { return e.second == AdminIntent::kReady; });
}

}  // namespace

std::optional<std::set<std::string>> ChangedInstanceNames(const model::Instances& before,
                                                          const model::Instances& after,
                                                          size_t limit) {
  std::set<std::string> out;
  static const std::vector<model::Instance> kNone;
  auto list = [](const model::Instances& m, const std::string& n) -> const auto& {
    auto it = m.find(n);
    return it == m.end() ? kNone : it->second;
  };
  auto visit = [&](const model::Instances& m) {
    for (const auto& [name, v] : m) {
      if (!out.count(name) && !SameList(list(before, name), list(after, name))) out.insert(name);
      if (out.size() > limit) return false;
    }
    return true;
  };
  if (!visit(before) || !visit(after)) return std::nullopt;
  return out;
}

namespace {

std::optional<AdminIntent> IntentFrom(const std::string& s) {
  if (s == "ready") return AdminIntent::kReady;
  if (s == "drain") return AdminIntent::kDrain;
  if (s == "maint") return AdminIntent::kMaint;
  return std::nullopt;
}

}  // namespace

std::string WithServerStateFile(const std::string& config, const std::string& state_file,
                                long fd_hard_limit) {
  std::string out;
  out.reserve(config.size() + 128);
  for (auto line : Lines(config)) {
    out.append(line);
    out.push_back('\n');
    if (line == "global") {
      out += "    server-state-file " + state_file + "\n";
      if (fd_hard_limit > 0) out += "    no strict-limits\n";
    }
    if (line == "defaults") out += "    load-server-state-from-file global\n";
  }
  return out;
}

std::string LbManager::ConfigPath(const std::string& run_dir, const std::string& instance) {
  return run_dir + "/" + instance + ".cfg";
}
std::string LbManager::StatsSocketPath(const std::string& run_dir, const std::string& instance) {
  return run_dir + "/" + instance + ".sock";
}
std::string LbManager::ServerStatePath(const std::string& run_dir, const std::string& instance) {
  return run_dir + "/" + instance + ".state";
}
std::string LbManager::AgentStatePath(const std::string& run_dir, const std::string& instance) {
  return run_dir + "/" + instance + ".agent.json";
}

LbManager::LbManager(LbManagerOptions options, LbManagerDeps deps)
    : options_(std::move(options)), deps_(std::move(deps)), clock_(deps_.clock) {
  created_ = ClockOr(clock_).Now();
  // HAProxy sizes its descriptor limit from maxconn, the listeners and the servers (37,000
  // for maxconn 8192 and 6,800 backends with 13,700 checked servers) and, strict by default,
  // refuses to start when the hard limit it inherits is lower. Under a finite hard limit the
  // agent renders `no strict-limits`: HAProxy starts with the limit it has and warns in its
  // log (raise LimitNOFILE for real traffic at that size).
  if (struct rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY)
    fd_hard_limit_ = static_cast<long>(rl.rlim_max);
  config_path_ = ConfigPath(options_.run_dir, options_.instance);
  socket_path_ = StatsSocketPath(options_.run_dir, options_.instance);
  state_path_ = ServerStatePath(options_.run_dir, options_.instance);
  agent_path_ = AgentStatePath(options_.run_dir, options_.instance);
  std::error_code ec;
  std::filesystem::create_directories(options_.run_dir, ec);
  membership_ = std::make_unique<clients::MembershipWatch>(
      deps_.consul_endpoint, deps_.http, deps_.consul,
      clients::MembershipOptions{options_.blocking}, clock_);
  LoadAgentFile();
  if (auto text = ReadFileBounded(config_path_, kMaxConfigBytes); text.ok()) {
    if (auto parsed = ParseRenderedConfig(*text); parsed.ok())
      written_membership_ = parsed->membership_digest;
  }
  report_.node = options_.node;
  report_.instance = options_.instance;
  report_.agent_version = options_.agent_version;
}

LbManager::~LbManager() {
  if (model_watch_) model_watch_->Stop();
  if (membership_) membership_->Stop();
}

void LbManager::Mark(const std::string& phase) {
  if (phase == "begin") phases_.clear();
  phases_.emplace_back(phase, ClockOr(clock_).Now());
}

void LbManager::Log(const std::string& line) {
  if (deps_.log) deps_.log("lb " + options_.instance + ": " + line);
}

void LbManager::LoadAgentFile() {
  auto text = ReadFileBounded(agent_path_, 16u << 20);
  if (!text.ok()) return;
  Json j = Json::parse(*text, nullptr, false);
  if (!j.is_object()) {
    Log("ignoring " + agent_path_ + ": not a JSON object");
    return;
  }
  auto str = [&](const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  file_.master_pid = j.value("master_pid", 0);
  file_.structure_digest = str("structure_digest");
  file_.config_digest = str("config_digest");
  file_.model_digest = str("model_digest");
  file_.started = str("started");
  file_.last_reload = str("last_reload");
  file_.last_reload_reason = str("last_reload_reason");
  if (auto it = j.find("intents"); it != j.end() && it->is_array()) {
    for (const auto& e : *it) {
      if (!e.is_array() || e.size() != 3 || !e[0].is_string() || !e[1].is_string() ||
          !e[2].is_string())
        continue;
      if (auto i = IntentFrom(e[2].get<std::string>()); i && *i != AdminIntent::kReady)
        file_.intents[{e[0].get<std::string>(), e[1].get<std::string>()}] = *i;
    }
  }
}

void LbManager::SaveAgentFile() {
  Json intents = Json::array();
  for (const auto& [ref, i] : file_.intents)
    intents.push_back({ref.backend, ref.server, IntentText(i)});
  Json j = {{"master_pid", file_.master_pid},
            {"structure_digest", file_.structure_digest},
            {"config_digest", file_.config_digest},
            {"model_digest", file_.model_digest},
            {"started", file_.started},
            {"last_reload", file_.last_reload},
            {"last_reload_reason", file_.last_reload_reason},
            {"intents", intents}};
  // Not fsync'ed: a stale file after a crash costs one extra reload, never a wrong state.
  Status s = WriteFileAtomic(agent_path_, j.dump(1) + "\n", /*durable=*/false);
  if (!s.ok()) Log("cannot save " + agent_path_ + ": " + s.message());
}

void LbManager::Drain(const std::vector<Endpoint>& endpoints) {
  {
    std::lock_guard<std::mutex> l(mu_);
    auto now = ClockOr(clock_).Now();
    for (const auto& e : endpoints) killing_[e] = Killing{now, false};
    wake_ = true;
  }
  cv_.notify_all();
}

void LbManager::Wake() { Notify(/*compare_all=*/true); }

void LbManager::Notify(bool compare_all) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!wake_) woken_at_ = ClockOr(clock_).Now();
    wake_ = true;
    compare_all_ = compare_all_ || compare_all;
  }
  cv_.notify_all();
}

std::vector<Endpoint> LbManager::KillingNow(const DesiredLb& desired) {
  if (!KillingPending()) return {};  // the common case: no set of every rendered endpoint
  std::set<Endpoint> rendered;
  for (const auto& b : desired.backends)
    for (const auto& srv : b.servers) rendered.insert({srv.address, srv.port});
  std::lock_guard<std::mutex> l(mu_);
  auto now = ClockOr(clock_).Now();
  std::vector<Endpoint> out;
  for (auto it = killing_.begin(); it != killing_.end();) {
    bool in = rendered.count(it->first) > 0;
    if (now - it->second.since > options_.killing_ttl || (it->second.rendered && !in)) {
      it = killing_.erase(it);
      continue;
    }
    it->second.rendered = it->second.rendered || in;
    out.push_back(it->first);
    ++it;
  }
  return out;
}

render::AgentReport LbManager::Report() const {
  std::lock_guard<std::mutex> l(mu_);
  return report_;
}

LbManagerStats LbManager::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

// ---- One sync -------------------------------------------------------------------------------

Result<std::optional<LbManager::Model>> LbManager::ReadModel(bool blocking,
                                                             std::string* model_error) {
  const std::string key = render::LbModelKey(options_.platform, options_.instance);
  bool exists = false;
  std::string text;
  if (blocking && model_watch_) {
    auto st = model_watch_->state();
    if (!st.have) {
      *model_error = st.error.empty() ? "no answer yet for the LB model at " + key
                                      : "reading the LB model at " + key + ": " + st.error;
    } else {
      if (!st.error.empty())
        *model_error = "reading the LB model at " + key + ": " + st.error + " (last value kept)";
      exists = st.value.exists;
      text = st.value.value;
      if (!exists && st.error.empty())
        *model_error = "no LB model at " + key + " (has galley apply written it?)";
    }
  } else {
    auto r = deps_.consul->GetKv(key);
    if (r.ok()) {
      exists = true;
      text = r->value;
    } else if (r.status().code() == StatusCode::kNotFound) {
      *model_error = "no LB model at " + key + " (has galley apply written it?)";
    } else {
      *model_error = "reading the LB model at " + key + ": " + r.status().message();
    }
  }
  if (!exists) return std::optional<Model>();
  std::string text_digest = "text:" + Sha256Hex(text);
  if (bad_models_.count(text_digest)) {
    *model_error = "the LB model at " + key + " was refused before; waiting for a new one";
    return std::optional<Model>();
  }
  if (parsed_text_ == text_digest && parsed_model_) {  // unchanged: no parse
    if (bad_models_.count(parsed_model_->digest)) {
      *model_error = "the LB model " + parsed_model_->digest.substr(0, 19) + " at " + key +
                     " renders a config HAProxy refuses; waiting for a new one";
      return std::optional<Model>();
    }
    return parsed_model_;
  }
  // A large model is stored gzip-compressed (render/lb_model_codec.h).
  auto document = render::DecodeLbModelValue(text, key);
  auto parsed =
      document.ok() ? render::ParseLbModel(*document) : Result<render::LbModel>(document.status());
  if (!parsed.ok()) {
    bad_models_.insert(text_digest);
    *model_error =
        "the LB model at " + key + " is invalid, not loaded: " + parsed.status().message();
    Log(*model_error);
    return std::optional<Model>();
  }
  Model m{std::move(parsed).value(), ""};
  m.digest = render::LbModelDigest(m.model);
  if (bad_models_.count(m.digest)) {
    *model_error = "the LB model " + m.digest.substr(0, 19) + " at " + key +
                   " renders a config HAProxy refuses; waiting for a new one";
    return std::optional<Model>();
  }
  parsed_text_ = text_digest;
  parsed_model_ = m;
  return std::optional<Model>(std::move(m));
}

Status LbManager::Sync(bool blocking, milliseconds* retry_in) {
  {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.syncs;
  }
  std::vector<std::string> errors;
  std::string model_error;
  Mark("begin");
  auto read = ReadModel(blocking, &model_error);
  std::optional<Model> candidate = read.ok() ? *read : std::nullopt;
  if (!model_error.empty()) errors.push_back(model_error);

  const Model* chosen = nullptr;
  bool is_candidate = false;
  if (candidate && (!last_good_ || candidate->digest != last_good_->digest)) {
    chosen = &*candidate;
    is_candidate = true;
  } else if (last_good_) {
    chosen = &*last_good_;
  }

  auto finish = [&](Status st) {
    if (!st.ok()) errors.push_back(st.message());
    std::string joined = Join(errors, "; ");
    {
      std::lock_guard<std::mutex> l(mu_);
      report_.last_error = joined;
    }
    Publish(nullptr, nullptr);
    if (!errors.empty()) {
      if (*retry_in == milliseconds(0) || *retry_in > milliseconds(2000))
        *retry_in = milliseconds(2000);
      return Status::Unavailable(joined);
    }
    return Status::Ok();
  };

  if (!prepare_only_ && deps_.may_manage && !deps_.may_manage()) {
    errors.push_back("this agent does not hold " +
                     render::AgentReportKey(options_.platform, options_.node, options_.instance) +
                     " (another agent claims node " + options_.node + " instance " +
                     options_.instance + "?); HAProxy left as it is");
    Status st = finish(Status::Ok());
    // At start the reporter acquires the key within a moment of the first report: look
    // again soon rather than after the usual 2 s, which would delay the first start.
    if (ClockOr(clock_).Now() - created_ < milliseconds(10000)) *retry_in = milliseconds(50);
    return st;
  }

  if (!chosen) {
    // No model to render: keep whatever HAProxy runs; bring it back from disk if it died.
    if (!prepare_only_ && !deps_.master->Query().ok()) {
      Status s = StartFromDisk(model_error.empty() ? "no LB model" : model_error);
      if (!s.ok()) errors.push_back(s.message());
    }
    if (errors.empty()) errors.push_back("no LB model");
    return finish(Status::Ok());
  }

  // The last good model's services stay watched while a candidate is tried, so falling back
  // to it never renders one of them empty.
  std::set<std::string> watched = RegisteredNames(chosen->model.state);
  if (last_good_ && chosen != &*last_good_) watched.merge(RegisteredNames(last_good_->model.state));
  membership_->SetServices(watched);
  if (!blocking) membership_->MarkAllDirty();  // no watches: read every service
  Mark("model");
  clients::MembershipSnapshot snap = membership_->Refresh();
  Mark("consul " + std::to_string(snap.fetched + snap.node_reads) + " reads");
  for (const auto& e : snap.errors)
    errors.push_back("consul: " + e + " (last known instances kept)");
  if (blocking) {
    if (std::string pe = membership_->poll_error(); !pe.empty())
      errors.push_back("consul watch: " + pe);
  }
  if (!snap.unknown.empty()) {
    std::string names =
        Join(std::vector<std::string>(snap.unknown.begin(), snap.unknown.end()), ", ");
    errors.push_back("instances of " + Truncate(names, 200) +
                     " not read yet; HAProxy keeps its current servers");
    if (!prepare_only_ && !deps_.master->Query().ok()) {
      Status s = StartFromDisk("Consul did not answer");
      if (!s.ok()) errors.push_back(s.message());
    }
    return finish(Status::Ok());
  }

  const int commands_before = stats().runtime_commands;
  blocking_ = blocking;
  Status st = SyncWithModel(*chosen, snap, retry_in);
  if (compare_at_) {  // the comparison after a start is due then: be back for it
    auto left = std::chrono::duration_cast<milliseconds>(*compare_at_ - ClockOr(clock_).Now());
    left = std::max(left, milliseconds(1));
    if (*retry_in == milliseconds(0) || *retry_in > left) *retry_in = left;
  }
  Mark("done");
  // Every sync that changed HAProxy's membership is timed in the log (a change's latency).
  const bool changed = stats().runtime_commands != commands_before;
  if (auto took = ClockOr(clock_).Now() - phases_.front().second;
      took > milliseconds(100) || changed) {
    // A long sync parsed megabytes (a cold start, a whole render): hand the freed heap back,
    // or the agent keeps the high-water mark of every thread's arena as RSS. At most every
    // 30 s: a trim gives back pages the next sync faults in again (page faults were most of
    // the agent's CPU when every change trimmed).
    if (auto now = ClockOr(clock_).Now(); now - last_trim_ > std::chrono::seconds(30)) {
      ReleaseFreeMemory();
      last_trim_ = now;
      trim_due_ = false;
    } else {
      trim_due_ = true;  // at the next quiet periodic comparison
    }
    std::string line = "sync took " +
                       std::to_string(std::chrono::duration_cast<milliseconds>(took).count()) +
                       " ms (woken " + std::to_string(wake_wait_.count()) + " ms before):";
    for (size_t i = 1; i < phases_.size(); ++i) {
      line += " " + phases_[i].first + " " +
              std::to_string(std::chrono::duration_cast<milliseconds>(phases_[i].second -
                                                                      phases_[i - 1].second)
                                 .count()) +
              ",";
    }
    line.pop_back();
    Log(line);
  }
  if (!st.ok() && is_candidate && st.code() == StatusCode::kInvalidArgument) {
    bad_models_.insert(chosen->digest);
    Log("LB model " + chosen->digest.substr(0, 19) +
        " refused, HAProxy keeps the running config: " + st.message());
    errors.push_back("LB model " + chosen->digest.substr(0, 19) + " not loaded: " + st.message());
    if (last_good_) {
      st = SyncWithModel(*last_good_, snap, retry_in);
    } else if (!prepare_only_ && !deps_.master->Query().ok()) {
      st = StartFromDisk("the LB model renders a config HAProxy refuses");
    } else {
      st = Status::Ok();
    }
  }
  return finish(st);
}

Status LbManager::StartFromDisk(const std::string& why) {
  if (!std::filesystem::exists(config_path_)) {
    return Status::Unavailable("HAProxy is not running and there is no config at " + config_path_ +
                               " to start it from (" + why + ")");
  }
  Log("HAProxy is not running; starting it from the config on disk (" + why + ")");
  auto r = deps_.master->Start();
  if (!r.ok())
    return Status::Unavailable("starting HAProxy from " + config_path_ + ": " +
                               r.status().message());
  auto text = ReadFileBounded(config_path_, kMaxConfigBytes);
  file_.master_pid = r->master_pid;
  file_.structure_digest = text.ok() ? StructureDigest(*text) : "";
  file_.config_digest = text.ok() ? ConfigDigest(*text) : "";
  file_.started = file_.last_reload = FormatTimestamp(ClockOr(clock_).WallNow());
  file_.last_reload_reason = "started from the config on disk";
  file_.intents.clear();
  SaveAgentFile();
  std::lock_guard<std::mutex> l(mu_);
  ++stats_.starts;
  return Status::Ok();
}

Status LbManager::WriteAndCheck(const std::string& text, const std::string& path) {
  Status w = WriteFileAtomic(path, text, /*durable=*/false);
  if (!w.ok()) return Status::Unavailable("writing " + path + ": " + w.message());
  Status c = deps_.master->Check(path);
  if (!c.ok()) std::remove(path.c_str());
  return c;
}

std::optional<std::vector<std::pair<size_t, DesiredBackend>>> LbManager::RenderChanged(
    const Model& model, const model::Instances& instances, std::string* why) {
  if (!rendered_ || rendered_->model_digest != model.digest) return std::nullopt;
  auto names = ChangedInstanceNames(rendered_->instances, instances, kMaxPartialServices);
  if (!names) {
    *why = "more than " + std::to_string(kMaxPartialServices) + " services changed";
    return std::nullopt;
  }
  if (names->empty()) return std::nullopt;
  if (!known_) {
    *why = "HAProxy's servers not compared since the last start, reload or pending change";
    return std::nullopt;
  }
  for (const auto& n : *names) {
    // A name gaining its first or losing its last instance may change more than servers.
    const model::Instances& prev = rendered_->instances;
    auto b = prev.find(n);
    auto a = instances.find(n);
    if (b == prev.end() || b->second.empty() || a == instances.end() || a->second.empty()) {
      *why = n + " gained its first or lost its last instance";
      return std::nullopt;
    }
  }
  model::DesiredState sub{model.model.state.platform, {}};
  model::Instances sub_instances;
  for (const auto& s : model.model.state.services) {
    bool touched = false;
    for (const auto& p : s.ExposedPorts())
      touched = touched || names->count(s.RegisteredName(p.container));
    if (!touched) continue;
    for (const auto& p : s.ExposedPorts()) {
      auto it = instances.find(s.RegisteredName(p.container));
      if (it != instances.end()) sub_instances[it->first] = it->second;
    }
    sub.services.push_back(s);
  }
  render::HaproxyRenderOptions ro{options_.bind_address, socket_path_};
  auto parsed = ParseRenderedConfig(
      render::RenderHaproxyConfig(sub, model.model.instance, sub_instances, ro));
  if (!parsed.ok()) {
    *why = parsed.status().message();
    return std::nullopt;
  }
  // Where each backend sits in the last render (built once per whole render; splices keep
  // names and order).
  auto& at = rendered_->backend_at;
  if (at.empty()) {
    for (size_t i = 0; i < rendered_->desired.backends.size(); ++i)
      at.emplace(rendered_->desired.backends[i].name, i);
  }
  std::vector<std::pair<size_t, DesiredBackend>> out;
  for (auto& b : parsed->backends) {
    auto it = at.find(b.name);
    if (it == at.end()) {
      *why = "backend " + b.name + " is not in the last render";
      return std::nullopt;
    }
    out.emplace_back(it->second, std::move(b));
  }
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  return out;
}

Status LbManager::SyncWithModel(const Model& model, const clients::MembershipSnapshot& snap,
                                milliseconds* retry_in) {
  // A membership change of a few services while HAProxy runs what the agent last brought it
  // to: render those services only and splice their backends into the last render
  // (SyncChanged then compares those backends). The whole text, which the file on disk needs,
  // is rendered by the sync that follows a moment later, off the change's path.
  std::string no_splice;
  if (std::optional<std::vector<std::pair<size_t, DesiredBackend>>> spliced;
      !KillingPending() && (spliced = RenderChanged(model, snap.instances, &no_splice))) {
    auto q = deps_.master->Query();
    if (!q.ok() || q->master_pid != file_.master_pid) {
      no_splice = "HAProxy's master is not the one recorded";
    } else {
      // A comparison of every server asked for (the periodic one, a Wake) waits for the sync
      // that follows this change's (kWholeRenderAfter): compare_all_ stays set.
      rendered_->instances = snap.instances;
      // Spliced in place (no copy of the other ~6,800 backends); any failure below drops the
      // whole render. Not the whole file's membership: the whole render that follows gives
      // the real digest.
      std::vector<size_t> at;
      for (auto& [i, b] : *spliced) {
        rendered_->desired.backends[i] = std::move(b);
        at.push_back(i);
      }
      rendered_->desired.membership_digest = "partial";
      rendered_->text_stale = true;
      {
        std::lock_guard<std::mutex> l(mu_);
        ++stats_.partial_renders;
      }
      Mark("render changed services");
      std::string why;
      if (auto fast = SyncChanged(model, rendered_->desired, rendered_->text, q->master_pid,
                                  retry_in, &why, &at)) {
        Mark("changed backends");
        if (*retry_in == milliseconds(0) || *retry_in > kWholeRenderAfter)
          *retry_in = kWholeRenderAfter;
        whole_render_at_ = ClockOr(clock_).Now() + kWholeRenderAfter;
        return *fast;
      }
      no_splice = "the changed backends need a full comparison (" + why + ")";
    }
    rendered_.reset();  // anything else: the whole render below
  }
  // Run: the whole render after spliced syncs waits until changes paused for
  // kWholeRenderAfter; a wake-up that brings nothing new (the catalog poll answering before
  // the checks poll, a drain ending) does not pull it forward onto the next change's path.
  if (blocking_ && no_splice.empty() && rendered_ && rendered_->text_stale &&
      rendered_->model_digest == model.digest && !KillingPending() &&
      ClockOr(clock_).Now() < whole_render_at_ &&
      SameInstances(rendered_->instances, snap.instances)) {
    auto left = std::chrono::duration_cast<milliseconds>(whole_render_at_ - ClockOr(clock_).Now());
    left = std::max(left, milliseconds(1));
    if (*retry_in == milliseconds(0) || *retry_in > left) *retry_in = left;
    return Status::Ok();
  }
  if (!no_splice.empty()) Log("whole render: " + no_splice);
  // The same model and instances as the last render: the same text (no render, no parse).
  if (!rendered_ || rendered_->text_stale || rendered_->model_digest != model.digest ||
      !SameInstances(rendered_->instances, snap.instances)) {
    render::HaproxyRenderOptions ro{options_.bind_address, socket_path_};
    std::string text = WithServerStateFile(
        render::RenderHaproxyConfig(model.model.state, model.model.instance, snap.instances, ro),
        state_path_, fd_hard_limit_);
    auto parsed = ParseRenderedConfig(text);
    if (!parsed.ok()) {
      rendered_.reset();
      return Status::InvalidArgument(parsed.status().message());
    }
    rendered_ = Rendered{model.digest, snap.instances, std::move(text), std::move(parsed).value()};
  }
  const std::string& text = rendered_->text;
  const DesiredLb* desired = &rendered_->desired;
  Mark("render+parse");
  if (prepare_only_) return Status::Ok();  // Prepare(): HAProxy is Run's

  auto q = deps_.master->Query();
  if (!q.ok()) {
    if (haproxy_seen_) {
      Log("HAProxy master is gone (" + q.status().message() + "); starting it again");
    }
    // No `haproxy -c` first: nothing runs that a bad config could reach, and HAProxy's own
    // start parses the same file and exits on the same errors (at 6,800 backends -c costs as
    // much CPU as the start's parse). A failed start is checked afterwards to tell a refused
    // config (kInvalidArgument: the model is refused, the previous file put back) from
    // anything else.
    const std::string next = config_path_ + ".new";
    if (Status w = WriteFileAtomic(next, text, /*durable=*/false); !w.ok())
      return Status::Unavailable("writing " + next + ": " + w.message());
    std::error_code ec;
    const bool had_previous = std::filesystem::exists(config_path_);
    if (had_previous)
      std::filesystem::copy_file(config_path_, config_path_ + ".prev",
                                 std::filesystem::copy_options::overwrite_existing, ec);
    std::filesystem::rename(next, config_path_, ec);
    if (ec) return Status::Unavailable("moving " + next + " into place: " + ec.message());
    Mark("write");
    auto started = deps_.master->Start();
    Mark("haproxy start");
    if (!started.ok()) {
      Status c = deps_.master->Check(config_path_);
      if (c.code() == StatusCode::kInvalidArgument) {
        std::error_code ec2;
        if (had_previous) {
          std::filesystem::rename(config_path_ + ".prev", config_path_, ec2);
        } else {
          std::filesystem::remove(config_path_, ec2);
        }
        return c;
      }
      return Status::Unavailable("starting HAProxy: " + started.status().message());
    }
    std::string now = FormatTimestamp(ClockOr(clock_).WallNow());
    std::string reason = haproxy_seen_ ? "restarted: the previous master was gone" : "started";
    file_ = AgentFile{started->master_pid,
                      desired->structure_digest,
                      ConfigDigest(text),
                      model.digest,
                      now,
                      now,
                      reason,
                      {}};
    SaveAgentFile();
    written_membership_ = desired->membership_digest;
    last_good_ = model;
    haproxy_seen_ = true;
    failed_config_.clear();
    {
      std::lock_guard<std::mutex> l(mu_);
      ++stats_.starts;
    }
    Log("HAProxy " + reason + " (master pid " + std::to_string(started->master_pid) + ", worker " +
        std::to_string(started->worker_pid) + ")");
    known_.reset();
    if (blocking_ && !KillingPending()) {
      // HAProxy serves exactly the rendered servers (galley's intents start empty): remembered
      // as such at once, so a change arriving now is compared per backend (that path reads the
      // changed backends' own rows). Reading, parsing and planning all ~13,700 servers here
      // cost 0.2-0.4 s right when the first changes arrive; that comparison (which also fills
      // the report's counts and sees admin states a server-state file brought back) runs
      // options_.compare_after_start later, after any change that arrives first.
      std::vector<RunningBackend> rows;
      for (const auto& b : desired->backends) {
        if (b.servers.empty()) continue;  // HAProxy lists no row for it
        RunningBackend rb{static_cast<int>(rows.size()) + 1, b.name, {}};
        rb.servers.reserve(b.servers.size());
        for (const auto& srv : b.servers) {
          rb.servers.push_back(RunningServer{static_cast<int>(rb.servers.size()) + 1, srv.name,
                                             srv.address, srv.port,
                                             static_cast<int>(OpState::kRunning), 0});
        }
        rows.push_back(std::move(rb));
      }
      known_ = Known{started->master_pid,  file_.structure_digest, *desired, std::move(rows), {},
                     ClockOr(clock_).Now()};
      compare_at_ = ClockOr(clock_).Now() + options_.compare_after_start;
      Publish(nullptr, nullptr);
      return Status::Ok();
    }
    // HAProxy serves: compare everything now (drains of tasks being killed go out), so the
    // servers are remembered before the first change arrives.
    q = std::move(started);
  }
  haproxy_seen_ = true;
  if (file_.master_pid != q->master_pid) {
    if (file_.master_pid != 0) {
      Log("HAProxy master pid " + std::to_string(q->master_pid) + " is not the one recorded (" +
          std::to_string(file_.master_pid) + "): the structure it runs is unknown");
    }
    file_.master_pid = q->master_pid;
    file_.structure_digest.clear();
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    if (compare_all_) known_.reset();  // Wake(): look at every server (hand changes included)
    compare_all_ = false;
  }
  if (compare_at_ && ClockOr(clock_).Now() >= *compare_at_) known_.reset();  // after a start
  std::vector<Endpoint> killing = KillingNow(*desired);
  if (killing.empty()) {
    std::string why;
    if (auto fast = SyncChanged(model, *desired, text, q->master_pid, retry_in, &why)) {
      Mark("changed backends");
      return *fast;
    }
  }
  known_.reset();
  compare_at_.reset();
  {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.full_comparisons;
  }
  auto state = deps_.runtime->Send("show servers state");
  if (!state.ok()) return Status::Unavailable("show servers state: " + state.status().message());
  auto running = ParseServersState(*state);
  if (!running.ok()) return Status::Unavailable(running.status().message());
  Mark("show servers state");

  LbSyncInput in{*desired, RunningLb{file_.structure_digest, *running}, std::move(killing),
                 file_.intents};
  LbSyncPlan plan = PlanLbSync(in);
  Mark("plan");
  // A deferred retirement is planned again every recheck: log each note once while it holds.
  std::set<std::string> notes(plan.notes.begin(), plan.notes.end());
  for (const auto& n : notes) {
    if (!logged_notes_.count(n)) Log(n);
  }
  logged_notes_ = std::move(notes);
  if (plan.recheck_soon && (*retry_in == milliseconds(0) || *retry_in > milliseconds(250)))
    *retry_in = milliseconds(250);
  Status st;
  if (plan.reload) {
    st = Reload(plan, *desired, text, model);
  } else {
    st = ApplyRuntime(plan, *desired, *running, text, retry_in);
    if (st.ok() || st.code() != StatusCode::kInvalidArgument) last_good_ = model;
    if (file_.model_digest != model.digest) {
      file_.model_digest = model.digest;
      SaveAgentFile();
    }
  }
  bool sent = !plan.commands.empty();
  auto after = sent ? deps_.runtime->Send("show servers state")
                    : Result<std::string>(Status::Unavailable("not read"));
  std::optional<std::vector<RunningBackend>> now;
  if (after.ok()) {
    if (auto p = ParseServersState(*after); p.ok()) now = std::move(p).value();
  }
  if (!sent) now = std::move(running).value();
  // Remember what HAProxy was brought to, so the next membership change compares only the
  // backends it touches. Not after a reload (the next sync compares everything once) nor
  // while anything is pending (drains, failed commands, deferred deletes).
  if (now && !plan.reload && st.ok() && drain_started_.empty() && *retry_in == milliseconds(0) &&
      plan.notes.empty()) {
    known_ = Known{q->master_pid, file_.structure_digest, *desired,
                   *now,          plan.hand_changes,      ClockOr(clock_).Now()};
  }
  if (now) {
    Publish(&*now, &plan.hand_changes);
  } else {
    Publish(nullptr, &plan.hand_changes);
  }
  return st;
}

std::optional<Status> LbManager::SyncChanged(const Model& model, const DesiredLb& desired,
                                             const std::string& text, int master_pid,
                                             milliseconds* retry_in, std::string* why,
                                             const std::vector<size_t>* only) {
  auto no = [&](std::string reason) -> std::optional<Status> {
    *why = std::move(reason);
    return std::nullopt;
  };
  if (!known_) return no("HAProxy's servers are not remembered");
  if (known_->master_pid != master_pid)
    return no("HAProxy's master pid " + std::to_string(master_pid) + " is not the one compared (" +
              std::to_string(known_->master_pid) + ")");
  if (file_.structure_digest.empty()) return no("the structure HAProxy runs is unknown");
  if (known_->structure_digest != file_.structure_digest ||
      desired.structure_digest != file_.structure_digest)
    return no("the structure changed");
  if (!drain_started_.empty()) return no("drains in progress");
  if (ClockOr(clock_).Now() - known_->full_at > kFullCompareEvery)
    return no("the last full comparison is older than " +
              std::to_string(kFullCompareEvery.count()) + " s");
  if (known_->desired.backends.size() != desired.backends.size())
    return no("the number of backends changed");
  // The backends whose rendered servers differ from what HAProxy was last brought to. The
  // same structure digest means the same backends in the same order, so they are compared
  // by position (`only`: just the spliced ones).
  DesiredLb changed{desired.structure_digest, desired.membership_digest, {}};
  std::vector<size_t> changed_at;
  auto consider = [&](size_t i) {
    const DesiredBackend& b = desired.backends[i];
    const DesiredBackend& k = known_->desired.backends[i];
    if (k.name != b.name) return false;  // another backend: compare everything
    if (k.servers != b.servers || k.balance != b.balance) {
      if (changed.backends.size() >= kMaxChangedBackends) return false;
      changed.backends.push_back(b);
      changed_at.push_back(i);
    }
    return true;
  };
  const char* too_many = "a backend moved or more than 64 backends changed";
  if (only) {
    for (size_t i : *only) {
      if (i >= desired.backends.size() || !consider(i)) return no(too_many);
    }
  } else {
    for (size_t i = 0; i < desired.backends.size(); ++i) {
      if (!consider(i)) return no(too_many);
    }
  }
  std::set<std::string> names;
  for (const auto& b : changed.backends) names.insert(b.name);
  // `show servers state <backend>` for those only (a backend without servers has no rows).
  std::string read_error;
  auto read = [&]() -> std::optional<std::vector<RunningBackend>> {
    std::vector<RunningBackend> out;
    for (const auto& n : names) {
      auto reply = deps_.runtime->Send("show servers state " + n);
      if (!reply.ok()) {
        read_error = reply.status().message();
        return std::nullopt;
      }
      auto p = ParseServersState(*reply);
      if (!p.ok()) {
        read_error = p.status().message();
        return std::nullopt;
      }
      for (auto& b : *p) {
        if (b.name == n) out.push_back(std::move(b));
      }
    }
    return out;
  };
  auto running = read();
  if (!running) return no("show servers state of the changed backends: " + read_error);
  std::map<ServerRef, AdminIntent> intents;
  for (const auto& [ref, i] : file_.intents) {
    if (names.count(ref.backend)) intents[ref] = i;
  }
  LbSyncInput in{changed, RunningLb{file_.structure_digest, *running}, {}, std::move(intents)};
  LbSyncPlan plan = PlanLbSync(in);
  if (plan.reload) return no("a changed backend needs a reload: " + plan.reload_reason);
  for (const auto& n : plan.notes) {
    if (!logged_notes_.count(n)) Log(n);
  }
  if (plan.recheck_soon && (*retry_in == milliseconds(0) || *retry_in > milliseconds(250)))
    *retry_in = milliseconds(250);
  // The intents of the other backends stay as they are.
  std::map<ServerRef, AdminIntent> merged = std::move(plan.intents_after);
  DropReady(merged);
  for (const auto& [ref, i] : file_.intents) {
    if (!names.count(ref.backend)) merged.emplace(ref, i);
  }
  plan.intents_after = std::move(merged);
  Status st = ApplyRuntime(plan, desired, *running, text, retry_in);
  last_good_ = model;
  if (file_.model_digest != model.digest) {
    file_.model_digest = model.digest;
    SaveAgentFile();
  }
  std::optional<std::vector<RunningBackend>> now =
      plan.commands.empty() ? std::move(running) : read();
  Known& k = *known_;
  std::erase_if(k.hands, [&](const HandChange& h) { return names.count(h.server.backend) > 0; });
  k.hands.insert(k.hands.end(), plan.hand_changes.begin(), plan.hand_changes.end());
  if (now) {
    std::erase_if(k.running, [&](const RunningBackend& b) { return names.count(b.name) > 0; });
    for (auto& b : *now) k.running.push_back(std::move(b));
    // Only the changed backends differ from what was remembered (same backends, same order).
    for (size_t c = 0; c < changed_at.size(); ++c)
      k.desired.backends[changed_at[c]] = std::move(changed.backends[c]);
    k.desired.membership_digest = desired.membership_digest;
  }
  // Until the comparison after a start, the other backends' rows are the rendered servers
  // (no op states yet): no counts from them.
  Publish(compare_at_ ? nullptr : &k.running, &k.hands);
  if (!now || !st.ok() || !drain_started_.empty() || *retry_in != milliseconds(0) ||
      !plan.notes.empty())
    known_.reset();
  return st;
}

Status LbManager::Reload(const LbSyncPlan& plan, const DesiredLb& desired, const std::string& text,
                         const Model& model) {
  const std::string digest = ConfigDigest(text);
  if (digest == failed_config_) {
    return Status::Internal("the reload of config " + digest.substr(0, 19) +
                            " failed before; HAProxy keeps the running config until the "
                            "rendered config changes");
  }
  const std::string next = config_path_ + ".new";
  RETURN_IF_ERROR(WriteAndCheck(text, next));
  for (const auto& c : plan.commands) {  // drains of tasks being killed
    auto reply = deps_.runtime->Send(c.text);
    {
      std::lock_guard<std::mutex> l(mu_);
      ++stats_.runtime_commands;
    }
    Status s = reply.ok() ? CheckReply(c, *reply) : reply.status();
    if (!s.ok()) Log("before reload: " + s.message());
  }
  Status dump = DumpServerState(desired);
  if (!dump.ok())
    Log("server-state file not written (admin states start fresh): " + dump.message());
  std::error_code ec;
  bool had_prev = std::filesystem::exists(config_path_);
  if (had_prev)
    std::filesystem::copy_file(config_path_, config_path_ + ".prev",
                               std::filesystem::copy_options::overwrite_existing, ec);
  std::filesystem::rename(next, config_path_, ec);
  if (ec) return Status::Unavailable("moving " + next + " into place: " + ec.message());
  Log("reloading: " + plan.reload_reason);
  auto t0 = ClockOr(clock_).Now();
  auto r = deps_.master->Reload();
  if (!r.ok()) {
    if (had_prev) std::filesystem::rename(config_path_ + ".prev", config_path_, ec);
    failed_config_ = digest;
    return Status::Internal("reload failed, HAProxy keeps the previous config: " +
                            r.status().message());
  }
  auto took = std::chrono::duration_cast<milliseconds>(ClockOr(clock_).Now() - t0);
  std::string now = FormatTimestamp(ClockOr(clock_).WallNow());
  file_.master_pid = r->master_pid;
  file_.structure_digest = desired.structure_digest;
  file_.config_digest = digest;
  file_.model_digest = model.digest;
  file_.last_reload = now;
  file_.last_reload_reason = plan.reload_reason;
  file_.intents = plan.intents_after;
  DropReady(file_.intents);
  SaveAgentFile();
  written_membership_ = desired.membership_digest;
  last_good_ = model;
  failed_config_.clear();
  known_.reset();
  {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.reloads;
  }
  Log("reloaded in " + std::to_string(took.count()) + " ms (worker " +
      std::to_string(r->worker_pid) + ")");
  return Status::Ok();
}

Status LbManager::DumpServerState(const DesiredLb& desired) {
  auto reply = deps_.runtime->Send("show servers state");
  if (!reply.ok()) return reply.status();
  std::map<std::pair<std::string, std::string>, const DesiredServer*> keep;
  for (const auto& b : desired.backends)
    for (const auto& s : b.servers) keep[{b.name, s.name}] = &s;
  auto lines = Lines(*reply);
  if (lines.size() < 2 || lines[0] != "1" || lines[1].substr(0, 2) != "# ")
    return Status::Unavailable("show servers state: unexpected reply");
  auto header = Fields(lines[1].substr(2));
  auto col = [&](std::string_view n) {
    auto it = std::find(header.begin(), header.end(), n);
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  };
  int be = col("be_name"), srv = col("srv_name"), addr = col("srv_addr"), port = col("srv_port");
  if (be < 0 || srv < 0 || addr < 0 || port < 0)
    return Status::Unavailable("show servers state: missing columns");
  std::string out = std::string(lines[0]) + "\n" + std::string(lines[1]) + "\n";
  for (size_t i = 2; i < lines.size(); ++i) {
    auto f = Fields(lines[i]);
    if (f.size() < header.size()) continue;
    auto it = keep.find({std::string(f[be]), std::string(f[srv])});
    // A server moved under the same name must come back at its new address, not the old one.
    if (it == keep.end() || it->second->address != f[addr] ||
        std::to_string(it->second->port) != f[port])
      continue;
    out += std::string(lines[i]) + "\n";
  }
  return WriteFileAtomic(state_path_, out, /*durable=*/false);
}

Result<std::map<ServerRef, int>> LbManager::Sessions(const std::set<ServerRef>& servers) {
  // One `show stat` per backend involved (all 12,000 servers would be ~2 MB at scale).
  std::set<std::string> backends;
  for (const auto& s : servers) backends.insert(s.backend);
  std::string text;
  for (const auto& b : backends) {
    auto reply = deps_.runtime->Send("show stat " + b + " 4 -1");
    if (!reply.ok()) return reply.status();
    text += *reply;
  }
  auto lines = Lines(text);
  if (lines.empty() || lines[0].substr(0, 2) != "# ")
    return Status::Unavailable("show stat: no header");
  auto header = Split(std::string(lines[0].substr(2)), ',');
  auto col = [&](const std::string& n) {
    auto it = std::find(header.begin(), header.end(), n);
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  };
  int px = col("pxname"), sv = col("svname"), scur = col("scur");
  if (px < 0 || sv < 0 || scur < 0) return Status::Unavailable("show stat: missing columns");
  std::map<ServerRef, int> out;
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty() || lines[i][0] == '#') continue;
    auto f = Split(std::string(lines[i]), ',');
    if (static_cast<int>(f.size()) <= std::max({px, sv, scur})) continue;
    out[{f[px], f[sv]}] = std::atoi(f[scur].c_str());
  }
  return out;
}

Status LbManager::ApplyRuntime(const LbSyncPlan& plan, const DesiredLb& desired,
                               const std::vector<RunningBackend>& running, const std::string& text,
                               milliseconds* retry_in) {
  Clock& clock = ClockOr(clock_);
  std::vector<std::string> errors;
  std::set<ServerRef> deferred, failed, added;
  std::map<ServerRef, AdminIntent> set_now;  // what a successful command put the server in
  auto send = [&](const RuntimeCommand& c) {
    auto reply = deps_.runtime->Send(c.text);
    {
      std::lock_guard<std::mutex> l(mu_);
      ++stats_.runtime_commands;
    }
    Status s = reply.ok() ? CheckReply(c, *reply) : reply.status();
    if (s.code() == StatusCode::kUnavailable && c.expect == Expect::kServerDeleted) {
      deferred.insert(c.server);  // connections remain: the next sync retries
      return;
    }
    if (!s.ok()) {
      failed.insert(c.server);
      errors.push_back(s.message());
      return;
    }
    if (c.expect == Expect::kServerRegistered) {
      added.insert(c.server);
      set_now[c.server] = AdminIntent::kMaint;
    } else if (EndsWith(c.text, " state drain")) {
      drain_started_.emplace(c.server, clock.Now());
      set_now[c.server] = AdminIntent::kDrain;
    } else if (EndsWith(c.text, " state maint")) {
      set_now[c.server] = AdminIntent::kMaint;
    } else if (EndsWith(c.text, " state ready") || StartsWith(c.text, "enable server ")) {
      set_now[c.server] = AdminIntent::kReady;
    }
  };
  for (const auto& c : plan.commands) {
    if (c.phase != CommandPhase::kNow || failed.count(c.server)) continue;
    send(c);
  }
  std::set<ServerRef> waiting;
  for (const auto& c : plan.commands) {
    if (c.phase == CommandPhase::kAfterDrain) waiting.insert(c.server);
  }
  if (!waiting.empty()) {
    auto sessions = Sessions(waiting);
    for (const auto& s : waiting) {
      auto start = drain_started_.emplace(s, clock.Now()).first->second;
      bool drained = false;
      if (sessions.ok()) {
        auto it = sessions->find(s);
        drained = it == sessions->end() || it->second == 0;
      }
      if (!drained && clock.Now() - start < options_.drain_timeout) deferred.insert(s);
    }
    for (const auto& c : plan.commands) {
      if (c.phase != CommandPhase::kAfterDrain || deferred.count(c.server) ||
          failed.count(c.server))
        continue;
      send(c);
    }
  }
  if (!deferred.empty()) {
    if (*retry_in == milliseconds(0) || *retry_in > milliseconds(200))
      *retry_in = milliseconds(200);
  }
  auto old = file_.intents;
  std::map<ServerRef, AdminIntent> next = plan.intents_after;
  for (const auto& s : deferred)
    next[s] = set_now.count(s)
                  ? set_now[s]
                  : (drain_started_.count(s) ? AdminIntent::kDrain : AdminIntent::kMaint);
  for (const auto& s : failed) {
    if (set_now.count(s)) {
      next[s] = set_now[s];
    } else if (old.count(s)) {
      next[s] = old[s];
    } else {
      next.erase(s);
    }
  }
  DropReady(next);
  // Forget drain start times of servers that are gone or no longer drained by galley.
  std::set<ServerRef> present;
  for (const auto& b : running)
    for (const auto& s : b.servers) present.insert({b.name, s.name});
  for (auto it = drain_started_.begin(); it != drain_started_.end();) {
    auto n = next.find(it->first);
    bool keep = present.count(it->first) && n != next.end() && n->second == AdminIntent::kDrain;
    it = keep ? std::next(it) : drain_started_.erase(it);
  }
  if (next != file_.intents) {
    file_.intents = std::move(next);
    SaveAgentFile();
  }
  if (!(rendered_ && rendered_->text_stale) && desired.membership_digest != written_membership_) {
    Status w = WriteFileAtomic(config_path_, text, /*durable=*/false);
    if (w.ok()) {
      written_membership_ = desired.membership_digest;
      file_.config_digest = ConfigDigest(text);
      SaveAgentFile();
      std::lock_guard<std::mutex> l(mu_);
      ++stats_.file_rewrites;
    } else {
      errors.push_back("rewriting " + config_path_ + ": " + w.message());
    }
  }
  if (!plan.commands.empty()) {
    Log("membership: " + std::to_string(plan.commands.size()) + " runtime command(s)" +
        (deferred.empty() ? "" : ", " + std::to_string(deferred.size()) + " server(s) draining") +
        (failed.empty() ? "" : ", " + std::to_string(failed.size()) + " failed"));
  }
  if (!errors.empty()) return Status::Internal("runtime API: " + Join(errors, "; "));
  return Status::Ok();
}

void LbManager::Publish(const std::vector<RunningBackend>* running,
                        const std::vector<HandChange>* hands) {
  render::AgentReport r;
  {
    std::lock_guard<std::mutex> l(mu_);
    r = report_;
    r.model_digest = file_.model_digest;
    r.config_digest = file_.config_digest;
    r.haproxy_pid = file_.master_pid;
    r.haproxy_started = file_.started;
    r.last_reload = file_.last_reload;
    r.last_reload_reason = file_.last_reload_reason;
    if (running) {
      std::map<std::string, int> counts;
      for (const auto& b : *running) {
        for (const auto& s : b.servers) {
          ++counts[ServerStateName(s.op_state, s.admin_state)];
        }
      }
      r.servers = std::move(counts);
    }
    if (hands) {
      r.hand_changes.clear();
      for (const auto& h : *hands)
        r.hand_changes.push_back(h.server.backend + "/" + h.server.server + " " + h.state);
    }
    report_ = r;
  }
  if (deps_.on_report) deps_.on_report(r);
}

// ---- Loops ----------------------------------------------------------------------------------

Status LbManager::SyncOnce() {
  Clock& clock = ClockOr(clock_);
  auto deadline = clock.Now() + options_.drain_timeout + milliseconds(1000);
  bool whole_rendered = false;
  while (true) {
    milliseconds retry{0};
    Status st = Sync(/*blocking=*/false, &retry);
    if (rendered_ && rendered_->text_stale && !whole_rendered) {
      whole_rendered = true;  // a spliced sync: render the whole file now, once
      continue;
    }
    bool draining = retry == milliseconds(200);
    if (!draining || clock.Now() >= deadline) return st;
    clock.Sleep(retry);
  }
}

bool LbManager::QuickCompare() {
  if (!known_ || KillingPending() || !drain_started_.empty() || membership_->HasDirty() ||
      (rendered_ && rendered_->text_stale) || (deps_.may_manage && !deps_.may_manage()))
    return false;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (compare_all_ || wake_) return false;  // a Wake() asks for the whole comparison
  }
  auto q = deps_.master->Query();
  if (!q.ok() || q->master_pid != known_->master_pid || q->master_pid != file_.master_pid)
    return false;
  auto state = deps_.runtime->Send("show servers state");
  if (!state.ok()) return false;
  auto fp = FingerprintServersState(*state);
  if (!fp.ok() || !fp->SameServers(FingerprintServers(known_->running))) return false;
  known_->full_at = ClockOr(clock_).Now();
  // Only op states may have moved (checks): the report's counts follow, no plan needed.
  std::map<std::string, int> counts;
  for (auto [name, n] : {std::pair<const char*, int>{"up", fp->up},
                         {"down", fp->down},
                         {"maint", fp->maint},
                         {"drain", fp->drain}}) {
    if (n > 0) counts[name] = n;
  }
  bool moved = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    moved = report_.servers != counts;
    if (moved) report_.servers = std::move(counts);
  }
  if (moved) Publish(nullptr, nullptr);
  if (trim_due_) {  // the heap of the syncs since the last trim, handed back once things settled
    ReleaseFreeMemory();
    last_trim_ = known_->full_at;
    trim_due_ = false;
  }
  return true;
}

void LbManager::StartWatches() {
  if (model_watch_) return;
  model_watch_ = std::make_unique<clients::KvWatch>(
      deps_.consul_endpoint, deps_.http, render::LbModelKey(options_.platform, options_.instance),
      options_.blocking, nullptr);
  // Held: the first answers arrive now, the blocking reads start once Run does (so stopping
  // before Run never waits out a long poll).
  model_watch_->Start([this] { Notify(false); }, /*held=*/true);
  membership_->Start([this] { Notify(false); }, /*held=*/true);
}

void LbManager::Prepare() {
  Clock& clock = ClockOr(clock_);
  StartWatches();
  // The polls' first answers (held: one read each), for at most two seconds as in Run.
  const auto until = clock.Now() + milliseconds(2000);
  while (((!model_watch_->state().have && model_watch_->state().error.empty()) ||
          !membership_->primed()) &&
         clock.Now() < until)
    clock.Sleep(milliseconds(10));
  prepare_only_ = true;
  milliseconds retry{0};
  Status st = Sync(/*blocking=*/true, &retry);
  prepare_only_ = false;
  if (!st.ok()) Log("before the start: " + st.message());
}

void LbManager::StopWatches() {
  if (!model_watch_) return;
  // The long polls end together (each within its wait).
  std::thread model_stop([this] { model_watch_->Stop(); });
  membership_->Stop();
  model_stop.join();
}

void LbManager::Run(const std::atomic<bool>& stop) {
  Clock& clock = ClockOr(clock_);
  StartWatches();
  model_watch_->Release();
  membership_->Release();
  const auto started = clock.Now();
  auto next_tick = clock.Now() + options_.tick;
  auto next_resync = clock.Now() + options_.resync;
  bool retry_set = false;
  bool settle_due = false;
  std::chrono::steady_clock::time_point retry_at{};
  bool first = true;
  std::string last_logged;
  while (!stop.load()) {
    bool sync = first;
    wake_wait_ = milliseconds(0);
    {
      // Sleep until woken, the next tick or retry, checking `stop` at least every 250 ms.
      auto until = next_tick;
      if (retry_set && retry_at < until) until = retry_at;
      auto left = std::chrono::duration_cast<milliseconds>(until - clock.Now());
      left = std::clamp(left, milliseconds(1), milliseconds(250));
      std::unique_lock<std::mutex> l(mu_);
      if (!wake_ && !first) cv_.wait_for(l, left, [&] { return wake_; });
      if (wake_) {
        sync = true;
        wake_ = false;
        wake_wait_ = std::chrono::duration_cast<milliseconds>(clock.Now() - woken_at_);
      }
    }
    first = false;
    auto now = clock.Now();
    if (retry_set && now >= retry_at) sync = true;
    if (!sync && now >= next_tick) {
      next_tick = now + options_.tick;
      if (!deps_.master->Query().ok()) sync = true;  // HAProxy gone: start it again
    }
    // Nothing tells the agent about a change made in HAProxy itself (a server put in maint by
    // hand): a periodic sync reads it, reports it, and repairs what galley owns.
    if (now >= next_resync) {
      next_resync = now + options_.resync;
      // Nothing else to do and HAProxy's servers are what the last comparison left: done
      // (a fingerprint of `show servers state` instead of a parse, a plan and a report).
      if (!sync && QuickCompare()) continue;
      sync = true;
      std::lock_guard<std::mutex> l(mu_);
      compare_all_ = true;
    }
    if (!sync) continue;
    // Let the long polls' first answers arrive before the first sync reads everything (so
    // every service is read once, not twice), for at most two seconds.
    bool waiting = (!model_watch_->state().have && model_watch_->state().error.empty()) ||
                   !membership_->primed();
    if (waiting && clock.Now() - started < milliseconds(2000)) {
      retry_set = true;
      retry_at = clock.Now() + milliseconds(50);
      continue;
    }
    milliseconds retry{0};
    LbManagerStats before = stats();
    Status st = Sync(/*blocking=*/true, &retry);
    retry_set = retry.count() > 0;
    if (retry_set) retry_at = clock.Now() + retry;
    LbManagerStats after = stats();
    if (after.starts != before.starts || after.reloads != before.reloads ||
        after.runtime_commands != before.runtime_commands)
      settle_due = true;
    // HAProxy changed (a start, a reload, commands) and its servers are not remembered yet
    // (drains, a start): once nothing else is due, compare everything once soon, while things
    // are quiet, rather than on the next change's path or at the next periodic look. Once per
    // change of HAProxy's, so a state that never settles (a note that holds) costs nothing more.
    if (settle_due && !retry_set && !known_) {
      settle_due = false;
      retry_set = true;
      retry_at = clock.Now() + kSettleAfter;
      std::lock_guard<std::mutex> l(mu_);
      compare_all_ = true;
    }
    if (known_ && trim_due_) {  // settled: hand back the heap of the syncs since the last trim
      ReleaseFreeMemory();
      last_trim_ = clock.Now();
      trim_due_ = false;
    }
    if (membership_->HasDirty() && !retry_set) {
      retry_set = true;
      retry_at = clock.Now() + milliseconds(1000);
    }
    if (st.message() != last_logged) {
      Log(st.ok() ? "in sync again" : "sync: " + st.message());
      last_logged = st.message();
    }
  }
  StopWatches();
}

}  // namespace galley::agent
