// SPDX-License-Identifier: Apache-2.0
#include "clients/consul_watch.h"

#include <algorithm>
#include <charconv>
#include <random>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "clients/http_support.h"

namespace galley::clients {
namespace {

using Json = nlohmann::json;

uint64_t ParseIndexHeader(const std::string& h, bool* ok) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(h.data(), h.data() + h.size(), v);
  *ok = !h.empty() && ec == std::errc() && p == h.data() + h.size();
  return v;
}

// A pull scanner over one JSON text: enough to walk an array of objects, reading some string
// and number fields and skipping (but still validating) every other value, without a DOM.
class JsonScanner {
 public:
  explicit JsonScanner(std::string_view s) : s_(s) {}
  bool Peek(char c) {
    Ws();
    return i_ < s_.size() && s_[i_] == c;
  }
  bool Eat(char c) {
    if (!Peek(c)) return false;
    ++i_;
    return true;
  }
  bool AtEnd() {
    Ws();
    return i_ >= s_.size();
  }
  // A string into *out, unescaped (\uXXXX and surrogate pairs to UTF-8).
  bool String(std::string* out) {
    Ws();
    if (i_ >= s_.size() || s_[i_] != '"') return false;
    ++i_;
    out->clear();
    while (i_ < s_.size()) {
      size_t run = i_;
      while (run < s_.size() && s_[run] != '"' && s_[run] != '\\' &&
             static_cast<unsigned char>(s_[run]) >= 0x20)
        ++run;
      out->append(s_.data() + i_, run - i_);
      i_ = run;
      if (i_ >= s_.size()) return false;
      char c = s_[i_++];
      if (c == '"') return true;
      if (c != '\\') return false;  // a control character
      if (i_ >= s_.size()) return false;
      char e = s_[i_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out->push_back(e);
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if (i_ + 1 >= s_.size() || s_[i_] != '\\' || s_[i_ + 1] != 'u') return false;
            i_ += 2;
            if (!Hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }
  // A number: an unsigned integer into *out; a negative, fractional or non-number value is 0
  // (as UintField reads it). False only on malformed JSON.
  bool Uint(uint64_t* out) {
    Ws();
    size_t start = i_;
    if (i_ < s_.size() && (s_[i_] == '-' || (s_[i_] >= '0' && s_[i_] <= '9'))) {
      if (!Number()) return false;
      std::string_view tok = s_.substr(start, i_ - start);
      uint64_t v = 0;
      auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
      *out = (ec == std::errc() && p == tok.data() + tok.size()) ? v : 0;
      return true;
    }
    *out = 0;
    return SkipValue();
  }
  bool SkipValue(int depth = 0) {
    if (depth > 64) return false;
    Ws();
    if (i_ >= s_.size()) return false;
    char c = s_[i_];
    if (c == '"') return String(&scratch_);
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++i_;
      if (Eat(close)) return true;
      while (true) {
        if (c == '{' && (!String(&scratch_) || !Eat(':'))) return false;
        if (!SkipValue(depth + 1)) return false;
        if (Eat(close)) return true;
        if (!Eat(',')) return false;
      }
    }
    if (c == '-' || (c >= '0' && c <= '9')) return Number();
    for (std::string_view lit : {"true", "false", "null"}) {
      if (s_.substr(i_, lit.size()) == lit) {
        i_ += lit.size();
        return true;
      }
    }
    return false;
  }

 private:
  void Ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t'))
      ++i_;
  }
  bool Digits() {
    size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ > start;
  }
  bool Number() {
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    if (!Digits()) return false;
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (!Digits()) return false;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!Digits()) return false;
    }
    return true;
  }
  bool Hex4(uint32_t* cp) {
    if (i_ + 4 > s_.size()) return false;
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char h = s_[i_++];
      v <<= 4;
      if (h >= '0' && h <= '9') {
        v |= static_cast<uint32_t>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        v |= static_cast<uint32_t>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        v |= static_cast<uint32_t>(h - 'A' + 10);
      } else {
        return false;
      }
    }
    *cp = v;
    return true;
  }
  static void AppendUtf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  std::string_view s_;
  size_t i_ = 0;
  std::string scratch_;
};

uint64_t UintField(const Json& o, const char* k) {
  auto it = o.find(k);
  if (it == o.end()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer())
    return static_cast<uint64_t>(std::max<int64_t>(0, it->get<int64_t>()));
  return 0;
}

Result<Json> Parse(std::string_view body, const std::string& what) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument(what + ": invalid JSON in answer");
  return j;
}

}  // namespace

uint64_t NextBlockingIndex(uint64_t previous, uint64_t returned) {
  if (returned < previous) return 0;
  return returned == 0 ? 1 : returned;
}

// ---- BlockingQuery ------------------------------------------------------------------------

BlockingQuery::BlockingQuery(ConsulEndpoint endpoint, net::HttpClient* http, std::string target,
                             BlockingOptions options)
    : endpoint_(std::move(endpoint)),
      http_(http),
      target_(std::move(target)),
      options_(options),
      seed_(std::random_device{}()) {
  while (!endpoint_.url.empty() && endpoint_.url.back() == '/') endpoint_.url.pop_back();
}

Result<BlockingAnswer> BlockingQuery::Next() {
  std::string context = "consul " + endpoint_.url + ": GET " + target_;
  if (endpoint_.url.empty()) return Status::InvalidArgument("consul: no URL configured");
  net::ClientRequest req;
  req.url = endpoint_.url + target_;
  const int64_t wait_ms = std::max<int64_t>(1, options_.wait.count());
  if (index_ > 0) {
    // Jitter downwards by up to wait/16, so agents started together do not poll in step.
    std::mt19937_64 rng(seed_ + index_ + static_cast<uint64_t>(requests_.load()));
    int64_t jitter = wait_ms / 16 > 0 ? static_cast<int64_t>(rng() % (wait_ms / 16)) : 0;
    req.url += std::string(target_.find('?') == std::string::npos ? "?" : "&") +
               "index=" + std::to_string(index_) + "&wait=" + std::to_string(wait_ms - jitter) +
               "ms";
  }
  req.timeout = std::chrono::milliseconds(wait_ms + wait_ms / 16) + options_.slack;
  req.headers["Accept"] = "application/json";
  if (!endpoint_.token.empty()) req.headers["X-Consul-Token"] = endpoint_.token;
  ++requests_;
  auto r = http_->Send(req);
  if (!r.ok()) {
    return r.status().WithContext("consul " + endpoint_.url + ": blocking read of " + target_);
  }
  bool ok = false;
  uint64_t returned = ParseIndexHeader(r->Header("X-Consul-Index"), &ok);
  if (r->status != 200 && !(r->status == 404 && ok)) {
    std::string msg = context + ": " + internal::StatusLine(r->status);
    std::string detail = internal::ErrorBodySummary(r->body, false);
    if (!detail.empty()) msg += ": " + detail;
    return internal::MakeStatus(internal::CodeForHttpStatus(r->status), msg);
  }
  if (!ok) {
    return Status::Unavailable(context + ": answer without a valid X-Consul-Index (not Consul?)");
  }
  BlockingAnswer a;
  a.status = r->status;
  a.body = std::move(r->body);
  a.index = returned;
  a.changed = index_ == 0 || returned != index_;
  index_ = NextBlockingIndex(index_, returned);
  return a;
}

// ---- LongPoll -----------------------------------------------------------------------------

LongPoll::LongPoll(ConsulEndpoint endpoint, net::HttpClient* http, std::string target,
                   BlockingOptions options, OnAnswer on_answer, OnError on_error, Clock* clock,
                   bool held)
    : query_(std::move(endpoint), http, std::move(target), options),
      on_answer_(std::move(on_answer)),
      on_error_(std::move(on_error)),
      clock_(clock),
      held_(held) {
  thread_ = std::thread([this] { Loop(); });
}

void LongPoll::Release() {
  {
    std::lock_guard<std::mutex> l(mu_);
    held_ = false;
  }
  cv_.notify_all();
}

LongPoll::~LongPoll() { Stop(); }

void LongPoll::RequestStop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

void LongPoll::Stop() {
  RequestStop();
  if (thread_.joinable()) thread_.join();
}

void LongPoll::Loop() {
  std::chrono::milliseconds backoff{1000};
  while (true) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) return;
    }
    auto a = query_.Next();
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) return;
    }
    if (a.ok()) {
      backoff = std::chrono::milliseconds(1000);
      if (a->changed) on_answer_(*a);
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stop_ || !held_; });  // held: no blocking read until Release
      if (stop_) return;
      continue;
    }
    on_error_(a.status());
    // After a failure the index may be meaningless (another server, a restored snapshot):
    // start over with an immediate read once Consul answers again.
    query_.Reset();
    std::unique_lock<std::mutex> l(mu_);
    if (clock_) {
      l.unlock();
      ClockOr(clock_).Sleep(backoff);
      l.lock();
    } else {
      cv_.wait_for(l, backoff, [&] { return stop_; });
    }
    if (stop_) return;
    backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
  }
}

// ---- Trackers -----------------------------------------------------------------------------

std::optional<std::vector<CheckFields>> ScanCheckListing(std::string_view body,
                                                         std::string* error) {
  JsonScanner sc(body);
  std::vector<CheckFields> out;
  auto fail = [&](const std::string& e) {
    *error = e;
    return std::nullopt;
  };
  if (!sc.Peek('[')) {
    // Valid JSON of another type is "not an array"; anything else is invalid JSON.
    if (sc.SkipValue() && sc.AtEnd()) return fail("not a JSON array");
    return fail("invalid JSON in answer");
  }
  sc.Eat('[');
  std::string key, value;
  bool first = true;
  while (!sc.Eat(']')) {
    if (!first && !sc.Eat(',')) return fail("invalid JSON in answer");
    first = false;
    if (!sc.Peek('{')) {
      if (!sc.SkipValue()) return fail("invalid JSON in answer");
      return fail("an entry without string Node and CheckID");
    }
    sc.Eat('{');
    CheckFields f;
    bool has_node = false, has_id = false, first_field = true;
    while (!sc.Eat('}')) {
      if (!first_field && !sc.Eat(',')) return fail("invalid JSON in answer");
      first_field = false;
      if (!sc.String(&key) || !sc.Eat(':')) return fail("invalid JSON in answer");
      std::string* target = nullptr;
      bool* has = nullptr;
      if (key == "Node") {
        target = &f.node, has = &has_node;
      } else if (key == "CheckID") {
        target = &f.check_id, has = &has_id;
      } else if (key == "ServiceName") {
        target = &f.service_name;
      } else if (key == "ServiceID") {
        target = &f.service_id;
      } else if (key == "Status") {
        target = &f.status;
      }
      if (target && sc.Peek('"')) {
        if (!sc.String(target)) return fail("invalid JSON in answer");
        if (has) *has = true;
      } else if (key == "ModifyIndex") {
        if (!sc.Uint(&f.modify_index)) return fail("invalid JSON in answer");
      } else {
        if (target) target->clear();  // not a string: counts as absent (last key wins)
        if (has) *has = false;
        if (!sc.SkipValue()) return fail("invalid JSON in answer");
      }
    }
    if (!has_node || !has_id) {
      // The rest must still be valid JSON for this to be the error.
      return fail("an entry without string Node and CheckID");
    }
    out.push_back(std::move(f));
  }
  if (!sc.AtEnd()) return fail("invalid JSON in answer");
  return out;
}

Result<CheckDelta> ChecksTracker::Update(std::string_view body) {
  // At scale this is megabytes (13,700 checks ~ 4.7 MB) on every change of any check: read
  // with a scanner that keeps six fields and builds no DOM (a full nlohmann parse was most
  // of a change's cost in the agent), kept as a flat hash.
  std::string error;
  auto scanned = ScanCheckListing(body, &error);
  if (!scanned) return Status::InvalidArgument("/v1/health/state/any: " + error);
  CheckDelta d;
  auto mark = [&](const Check& c) {
    if (c.service_name.empty()) {
      d.nodes.insert(c.node);
    } else {
      d.services.insert(c.service_name);
    }
  };
  const uint64_t gen = ++gen_;
  if (checks_.empty()) {
    checks_.reserve(scanned->size());
    instances_.reserve(scanned->size());
  }
  size_t listed_checks = 0, listed_instances = 0;  // distinct entries stamped with `gen`
  std::string key, inst;
  for (CheckFields& f : *scanned) {
    key.assign(f.node).append(1, '\x1f').append(f.check_id);
    if (!f.service_id.empty()) {
      inst.assign(f.node).append(1, '\x1f').append(f.service_id);
      auto [it, added] = instances_.try_emplace(inst, 0);
      if (added || it->second != gen) ++listed_instances;
      it->second = gen;
    }
    Check c{std::move(f.node),       std::move(f.service_name),
            std::move(f.service_id), std::move(f.status),
            f.modify_index,          gen};
    auto it = checks_.find(key);
    if (it == checks_.end()) {
      mark(c);
      checks_.emplace(key, std::move(c));
      ++listed_checks;
      continue;
    }
    if (it->second.gen != gen) ++listed_checks;
    if (!it->second.Same(c)) {
      mark(c);
      if (it->second.service_name != c.service_name) mark(it->second);
      it->second = std::move(c);
    }
    it->second.gen = gen;
  }
  if (listed_checks != checks_.size()) {  // some checks are gone
    for (auto it = checks_.begin(); it != checks_.end();) {
      if (it->second.gen == gen) {
        ++it;
        continue;
      }
      mark(it->second);
      it = checks_.erase(it);
    }
  }
  if (listed_instances != instances_.size())
    std::erase_if(instances_, [&](const auto& e) { return e.second != gen; });
  seen_ = true;
  return d;
}

ChecksTracker::PassingIndex ChecksTracker::Index() const {
  PassingIndex out;
  for (const auto& [k, c] : checks_) {
    if (c.status == "passing") continue;
    if (c.service_id.empty()) {
      out.failing_nodes.insert(c.node);
    } else {
      out.failing_instances.insert(c.node + '\x1f' + c.service_id);
    }
  }
  return out;
}

bool ChecksTracker::HasServiceChecks(const std::string& node, const std::string& service_id) const {
  return instances_.count(node + '\x1f' + service_id) > 0;
}

Result<std::set<std::string>> ServicesTracker::Update(std::string_view body) {
  auto parsed = Parse(body, "/v1/catalog/services");
  if (!parsed.ok()) return parsed.status();
  const Json& j = *parsed;
  if (!j.is_object()) return Status::InvalidArgument("/v1/catalog/services: not a JSON object");
  std::map<std::string, std::set<std::string>> next;
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::set<std::string> tags;
    if (!it.value().is_array() && !it.value().is_null()) {
      return Status::InvalidArgument("/v1/catalog/services: tags of " + it.key() +
                                     " are not an array");
    }
    if (it.value().is_array()) {
      for (const Json& t : it.value()) {
        if (t.is_string()) tags.insert(t.get<std::string>());
      }
    }
    next[it.key()] = std::move(tags);
  }
  std::set<std::string> changed;
  for (const auto& [name, tags] : next) {
    auto it = services_.find(name);
    if (it == services_.end() || it->second != tags) changed.insert(name);
  }
  for (const auto& [name, tags] : services_) {
    if (!next.count(name)) changed.insert(name);
  }
  services_ = std::move(next);
  return changed;
}

// ---- MembershipWatch ----------------------------------------------------------------------

MembershipWatch::MembershipWatch(ConsulEndpoint endpoint, net::HttpClient* http,
                                 ConsulClient* consul, MembershipOptions options, Clock* clock)
    : endpoint_(std::move(endpoint)),
      http_(http),
      consul_(consul),
      options_(options),
      clock_(clock) {}

MembershipWatch::~MembershipWatch() { Stop(); }

void MembershipWatch::SetServices(const std::set<std::string>& names) {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& n : names) {
    if (!watched_.count(n)) dirty_.insert(n);
  }
  for (auto it = known_.begin(); it != known_.end();) {
    it = names.count(it->first) ? std::next(it) : known_.erase(it);
  }
  for (auto it = dirty_.begin(); it != dirty_.end();) {
    it = names.count(*it) ? std::next(it) : dirty_.erase(it);
  }
  watched_ = names;
}

void MembershipWatch::Start(std::function<void()> on_change, bool held) {
  {
    std::lock_guard<std::mutex> l(mu_);
    on_change_ = std::move(on_change);
  }
  checks_poll_ = std::make_unique<LongPoll>(
      endpoint_, http_, "/v1/health/state/any", options_.blocking,
      [this](const BlockingAnswer& a) { OnChecks(a); },
      [this](const Status& s) { OnPollError("health/state/any", s); }, clock_, held);
  services_poll_ = std::make_unique<LongPoll>(
      endpoint_, http_, "/v1/catalog/services", options_.blocking,
      [this](const BlockingAnswer& a) { OnServices(a); },
      [this](const Status& s) { OnPollError("catalog/services", s); }, clock_, held);
}

void MembershipWatch::Release() {
  if (checks_poll_) checks_poll_->Release();
  if (services_poll_) services_poll_->Release();
}

void MembershipWatch::Stop() {
  if (checks_poll_) checks_poll_->RequestStop();
  if (services_poll_) services_poll_->RequestStop();
  if (checks_poll_) checks_poll_->Stop();
  if (services_poll_) services_poll_->Stop();
}

bool MembershipWatch::primed() const {
  std::lock_guard<std::mutex> l(mu_);
  return (checks_.seen() || poll_errors_.count("health/state/any")) &&
         (services_seen_ || poll_errors_.count("catalog/services"));
}

void MembershipWatch::OnPollError(const std::string& which, const Status& s) {
  std::function<void()> cb;
  {
    std::lock_guard<std::mutex> l(mu_);
    poll_errors_[which] = s.message();
    cb = on_change_;
  }
  if (cb) cb();
}

void MembershipWatch::OnChecks(const BlockingAnswer& a) {
  std::function<void()> cb;
  {
    std::lock_guard<std::mutex> l(mu_);
    bool first = !checks_.seen();
    auto d = checks_.Update(a.body);
    if (!d.ok()) {
      poll_errors_["health/state/any"] = "consul " + endpoint_.url + ": " + d.status().message();
    } else {
      poll_errors_.erase("health/state/any");
      if (first) {
        // Changes made while nobody watched are unknown: read everything once.
        dirty_.insert(watched_.begin(), watched_.end());
      }
      for (const auto& s : d->services) {
        if (watched_.count(s)) dirty_.insert(s);
      }
      for (const auto& n : d->nodes) {
        auto it = on_node_.find(n);
        if (it == on_node_.end()) continue;
        for (const auto& s : it->second) {
          if (watched_.count(s)) dirty_.insert(s);
        }
      }
    }
    cb = on_change_;
  }
  if (cb) cb();
}

void MembershipWatch::OnServices(const BlockingAnswer& a) {
  std::function<void()> cb;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto changed = services_.Update(a.body);
    services_seen_ = true;
    if (!changed.ok()) {
      poll_errors_["catalog/services"] =
          "consul " + endpoint_.url + ": " + changed.status().message();
    } else {
      poll_errors_.erase("catalog/services");
      for (const auto& s : *changed) {
        if (watched_.count(s)) dirty_.insert(s);
      }
      // Instances without checks move only this index: read the services that have some.
      for (const auto& [name, insts] : known_) {
        for (const auto& i : insts) {
          if (!checks_.HasServiceChecks(i.node, i.service_id)) {
            dirty_.insert(name);
            break;
          }
        }
      }
    }
    cb = on_change_;
  }
  if (cb) cb();
}

std::optional<std::map<std::string, std::vector<HealthInstance>>> MembershipWatch::ReadByNode(
    const std::set<std::string>& names, int* reads) {
  if (names.size() < std::max<size_t>(1, options_.by_node_from) || !http_) return std::nullopt;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!checks_.seen()) return std::nullopt;  // the passing state comes from the checks poll
  }
  BlockingQuery list(endpoint_, http_, "/v1/catalog/nodes", options_.blocking);
  ++*reads;
  auto a = list.Next();
  if (!a.ok() || a->status != 200) return std::nullopt;
  auto parsed = Parse(a->body, "/v1/catalog/nodes");
  if (!parsed.ok() || !parsed->is_array()) return std::nullopt;
  std::vector<std::string> nodes;
  for (const Json& n : *parsed) {
    auto it = n.is_object() ? n.find("Node") : n.end();
    if (it == n.end() || !it->is_string()) return std::nullopt;
    nodes.push_back(it->get<std::string>());
  }
  if (nodes.size() * 2 > names.size()) return std::nullopt;  // per service is fewer reads
  std::vector<std::optional<std::vector<std::pair<std::string, HealthInstance>>>> got(nodes.size());
  std::atomic<size_t> next{0};
  std::atomic<int> count{0};
  auto work = [&] {
    for (size_t i = next++; i < nodes.size(); i = next++) {
      BlockingQuery q(endpoint_, http_, "/v1/catalog/node/" + internal::EncodePath(nodes[i]),
                      options_.blocking);
      ++count;
      auto r = q.Next();
      if (!r.ok() || r->status != 200) continue;
      auto j = Parse(r->body, "/v1/catalog/node");
      if (!j.ok()) continue;
      std::vector<std::pair<std::string, HealthInstance>> out;
      if (j->is_object()) {  // null: the node left since the list
        auto node = j->find("Node");
        auto services = j->find("Services");
        if (node == j->end() || !node->is_object()) continue;
        std::string node_address = node->value("Address", std::string());
        if (services != j->end() && services->is_object()) {
          for (const auto& [id, sv] : services->items()) {
            if (!sv.is_object()) continue;
            std::string name = sv.value("Service", std::string());
            if (!names.count(name)) continue;
            HealthInstance h;
            h.node = nodes[i];
            h.service_id = sv.value("ID", id);
            h.address = sv.value("Address", std::string());
            if (h.address.empty()) h.address = node_address;
            h.port = static_cast<int>(UintField(sv, "Port"));
            if (auto t = sv.find("Tags"); t != sv.end() && t->is_array()) {
              for (const auto& tag : *t)
                if (tag.is_string()) h.tags.push_back(tag.get<std::string>());
            }
            out.emplace_back(std::move(name), std::move(h));
          }
        }
      }
      got[i] = std::move(out);
    }
  };
  size_t threads = std::min<size_t>(std::max(1, options_.fetch_threads), nodes.size() / 4 + 1);
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  *reads += count.load();
  std::map<std::string, std::vector<HealthInstance>> out;
  for (const auto& n : names) out[n];
  ChecksTracker::PassingIndex passing;
  {
    std::lock_guard<std::mutex> l(mu_);
    passing = checks_.Index();
  }
  for (auto& g : got) {
    if (!g) return std::nullopt;  // a node read failed: read per service instead
    for (auto& [name, h] : *g) {
      h.passing = passing.Passing(h.node, h.service_id);
      out[name].push_back(std::move(h));
    }
  }
  // /v1/health/service lists instances by node, then service ID: keep that order.
  for (auto& [name, insts] : out) {
    std::sort(insts.begin(), insts.end(), [](const HealthInstance& x, const HealthInstance& y) {
      return std::tie(x.node, x.service_id) < std::tie(y.node, y.service_id);
    });
  }
  return out;
}

MembershipSnapshot MembershipWatch::Refresh() {
  std::set<std::string> todo;
  {
    std::lock_guard<std::mutex> l(mu_);
    todo.swap(dirty_);
  }
  MembershipSnapshot snap;
  std::optional<std::map<std::string, std::vector<HealthInstance>>> by_node;
  if (!todo.empty()) by_node = ReadByNode(todo, &snap.node_reads);
  if (by_node) todo.clear();
  std::vector<std::string> names(todo.begin(), todo.end());
  std::vector<Result<std::vector<HealthInstance>>> results(
      names.size(), Result<std::vector<HealthInstance>>(Status::Internal("not read")));
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < names.size(); i = next++) {
      results[i] = consul_->ServiceHealth(names[i], /*passing_only=*/false);
    }
  };
  // A cold start reads every watched service once: spread it over a few connections.
  size_t threads = std::min<size_t>(std::max(1, options_.fetch_threads), names.size() / 16 + 1);
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  std::map<std::string, std::vector<HealthInstance>> got;
  if (by_node) got = std::move(*by_node);
  std::set<std::string> failed;
  for (size_t i = 0; i < names.size(); ++i) {
    ++snap.fetched;
    if (!results[i].ok()) {
      snap.errors.push_back(results[i].status().message());
      failed.insert(names[i]);
      continue;
    }
    got[names[i]] = std::move(results[i]).value();
  }
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [name, insts] : got) {
    if (!watched_.count(name)) continue;
    for (const auto& i : insts) on_node_[i.node].insert(name);
    known_[name] = std::move(insts);
  }
  for (const auto& f : failed) {
    if (watched_.count(f)) dirty_.insert(f);  // read again next time
  }
  for (const auto& name : watched_) {
    auto it = known_.find(name);
    std::vector<model::Instance> out;
    if (it == known_.end()) snap.unknown.insert(name);
    if (it != known_.end()) {
      for (const auto& i : it->second) {
        if (i.passing) out.push_back({i.node, i.address, i.port, i.tags});
      }
    }
    snap.instances[name] = std::move(out);
  }
  return snap;
}

void MembershipWatch::MarkAllDirty() {
  std::lock_guard<std::mutex> l(mu_);
  dirty_.insert(watched_.begin(), watched_.end());
}

bool MembershipWatch::HasDirty() const {
  std::lock_guard<std::mutex> l(mu_);
  return !dirty_.empty();
}

std::string MembershipWatch::poll_error() const {
  std::lock_guard<std::mutex> l(mu_);
  std::string out;
  for (const auto& [k, v] : poll_errors_) out += (out.empty() ? "" : "; ") + v;
  return out;
}

int MembershipWatch::poll_requests() const {
  return (checks_poll_ ? checks_poll_->requests() : 0) +
         (services_poll_ ? services_poll_->requests() : 0);
}

// ---- KvWatch ------------------------------------------------------------------------------

Result<KvValue> DecodeKvAnswer(const BlockingAnswer& a) {
  KvValue v;
  v.index = a.index;
  if (a.status == 404) return v;
  auto parsed = Parse(a.body, "KV read");
  if (!parsed.ok()) return parsed.status();
  const Json& j = *parsed;
  if (!j.is_array() || j.size() != 1 || !j[0].is_object()) {
    return Status::InvalidArgument("KV read: not a JSON array with one entry");
  }
  const Json& e = j[0];
  auto it = e.find("Value");
  if (it != e.end() && !it->is_null()) {
    if (!it->is_string()) return Status::InvalidArgument("KV read: Value is not a string");
    auto decoded = Base64Decode(it->get<std::string>(), Base64Strictness::kPaddingOptional);
    if (!decoded.ok()) return Status::InvalidArgument("KV read: Value is not base64");
    v.value = std::move(decoded).value();
  }
  v.exists = true;
  return v;
}

KvWatch::KvWatch(ConsulEndpoint endpoint, net::HttpClient* http, std::string key,
                 BlockingOptions options, Clock* clock)
    : endpoint_(std::move(endpoint)),
      http_(http),
      key_(std::move(key)),
      options_(options),
      clock_(clock) {}

KvWatch::~KvWatch() { Stop(); }

void KvWatch::Release() {
  if (poll_) poll_->Release();
}

void KvWatch::Start(std::function<void()> on_change, bool held) {
  {
    std::lock_guard<std::mutex> l(mu_);
    on_change_ = std::move(on_change);
  }
  std::string key = key_;
  size_t first = key.find_first_not_of('/');
  key.erase(0, first == std::string::npos ? key.size() : first);
  poll_ = std::make_unique<LongPoll>(
      endpoint_, http_, "/v1/kv/" + internal::EncodePath(key), options_,
      [this](const BlockingAnswer& a) {
        std::function<void()> cb;
        {
          std::lock_guard<std::mutex> l(mu_);
          auto v = DecodeKvAnswer(a);
          if (v.ok()) {
            state_.have = true;
            state_.value = std::move(v).value();
            state_.error.clear();
          } else {
            state_.error = "consul " + endpoint_.url + ": " + v.status().message();
          }
          cb = on_change_;
        }
        if (cb) cb();
      },
      [this](const Status& s) {
        std::function<void()> cb;
        {
          std::lock_guard<std::mutex> l(mu_);
          state_.error = s.message();
          cb = on_change_;
        }
        if (cb) cb();
      },
      clock_, held);
}

void KvWatch::Stop() {
  if (poll_) poll_->Stop();
}

KvWatch::State KvWatch::state() const {
  std::lock_guard<std::mutex> l(mu_);
  return state_;
}

}  // namespace galley::clients
