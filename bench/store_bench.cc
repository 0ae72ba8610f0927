// SPDX-License-Identifier: Apache-2.0
// store_bench: a year of 5-minute plans through the StateStore API (issue #14), on a fake
// clock, with the retention galley runs with (StoreOptions::retention, pruned at every
// FinishRun). Each 5-minute step is a plan run that observes every resource and saves its
// plan; every hour a drift check observes the same; DEPLOYS times a day an apply changes one
// app and its KV keys (journal, applied records), which the next plan observes as changed.
// Prints the file's size as it goes and, at the end, PASS/FAIL against the bound it prints:
// the size once retention is full (after the first day) × 1.25 + 1 MB — the store stops
// growing. Exit 0 PASS, 1 FAIL, 2 error.
//
//   store_bench [--runs 105120] [--resources 1000] [--deploys-per-day 24] [--dir DIR]
//               [--observation-runs 10] [--plans 100]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "base/clock.h"
#include "base/digest.h"
#include "store/state_store.h"

namespace {

using galley::store::Applied;
using galley::store::JournalEntry;
using galley::store::Observation;
using galley::store::StateStore;

class SteppedClock : public galley::Clock {
 public:
  std::chrono::system_clock::time_point WallNow() override { return now_; }
  void Advance(std::chrono::seconds d) { now_ += d; }

 private:
  std::chrono::system_clock::time_point now_ =
      std::chrono::system_clock::time_point(std::chrono::seconds(1795780800));  // 2026-11-27
};

int64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

double Mb(int64_t bytes) { return static_cast<double>(bytes) / 1e6; }

struct Options {
  int64_t runs = 105120;  // a year of 5-minute plans
  // 2,000 x 3 has 30,818 (6,000 apps and their keys): a year of those takes hours of CPU
  // here, so the year runs at 1,000 and the full size over a few days (bench/README.md).
  int resources = 1000;
  int deploys_per_day = 24;
  int observation_runs = 10;
  int plans = 100;
  std::string dir;
};

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return false;
    std::string v = argv[++i];
    char* end = nullptr;
    long long n = std::strtoll(v.c_str(), &end, 10);
    bool number = end && *end == '\0' && n > 0;
    if (a == "--dir") {
      o->dir = v;
      continue;
    }
    if (!number) return false;
    if (a == "--runs")
      o->runs = n;
    else if (a == "--resources")
      o->resources = static_cast<int>(n);
    else if (a == "--deploys-per-day")
      o->deploys_per_day = static_cast<int>(n);
    else if (a == "--observation-runs")
      o->observation_runs = static_cast<int>(n);
    else if (a == "--plans")
      o->plans = static_cast<int>(n);
    else
      return false;
  }
  return o->resources >= 10;
}

// The platform: apps (a fifth of the resources) and KV keys, as a plan observes them; a
// deploy changes an entry in place (a new token and hash).
struct Platform {
  std::vector<Observation> obs;
  void Add(const std::string& key) { obs.push_back({key, galley::Sha256Hex(key + "#1"), "1", ""}); }
  void Change(size_t i) {
    int v = std::stoi(obs[i].token) + 1;
    obs[i].token = std::to_string(v);
    obs[i].hash = galley::Sha256Hex(obs[i].resource + "#" + obs[i].token);
  }
};

int Fail(const std::string& what, const galley::Status& st) {
  std::cerr << "store_bench: " << what << ": " << st.ToString() << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, &o)) {
    std::cerr << "usage: store_bench [--runs N] [--resources N] [--deploys-per-day N] "
                 "[--observation-runs N] [--plans N] [--dir DIR]\n";
    return 2;
  }
  std::string dir = o.dir.empty() ? std::filesystem::temp_directory_path().string() +
                                        "/galley-store-bench-" + std::to_string(::getpid())
                                  : o.dir;
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/state.db";
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");

  SteppedClock clock;
  galley::store::StoreOptions options;
  options.clock = &clock;
  galley::store::Retention retention;
  retention.observation_runs = o.observation_runs;
  retention.plans = o.plans;
  options.retention = retention;
  auto opened = galley::store::OpenSqliteStore(path, options);
  if (!opened.ok()) return Fail("open", opened.status());
  StateStore& store = **opened;

  Platform p;
  const int apps = o.resources / 5;
  for (int i = 0; i < o.resources; ++i) {
    p.Add(i < apps ? "marathon-app:/app/e" + std::to_string(i % 3) + "/s" + std::to_string(i)
                   : "consul-kv:app/e/s" + std::to_string(i % apps) + "/K" + std::to_string(i));
  }

  std::printf(
      "store_bench: %lld runs 5 minutes apart (%.0f days), %d resources, %d deploys a day, "
      "retention: plans %d, drift checks %d, applies %d, observation runs %d, max age %lld h\n",
      static_cast<long long>(o.runs), static_cast<double>(o.runs) / 288.0, o.resources,
      o.deploys_per_day, retention.plans, retention.drift_checks, retention.applies,
      retention.observation_runs, static_cast<long long>(retention.max_age.count() / 3600));
  std::fflush(stdout);

  const int64_t steps_per_day = 288;
  const int64_t deploy_every = std::max<int64_t>(1, steps_per_day / std::max(1, o.deploys_per_day));
  int64_t day1_size = 0, max_size = 0;
  auto started = std::chrono::steady_clock::now();
  int deployed = 0;
  for (int64_t step = 0; step < o.runs; ++step) {
    // An apply: one app and its keys change.
    if (step % deploy_every == deploy_every / 2) {
      auto run = store.BeginRun("apply", "cli", "c" + std::to_string(step), "bench");
      if (!run.ok()) return Fail("BeginRun", run.status());
      int app = deployed++ % apps;
      std::vector<int> changed = {app};
      for (int k = apps + app; k < o.resources; k += apps) changed.push_back(k);
      std::vector<Applied> records;
      for (int i : changed) {
        JournalEntry e;
        e.run_id = *run;
        e.action_id = p.obs[i].resource;
        e.resource = p.obs[i].resource;
        e.kind = i < apps ? "update" : "kv-put";
        auto id = store.JournalStart(e);
        if (!id.ok()) return Fail("JournalStart", id.status());
        if (auto st = store.JournalFinish(*id, "succeeded", "{}"); !st.ok())
          return Fail("JournalFinish", st);
        p.Change(i);
        Applied a;
        a.resource = p.obs[i].resource;
        a.body = std::string(i < apps ? 1500 : 40, 'x');
        a.digest = p.obs[i].hash;
        a.run_id = *run;
        records.push_back(a);
      }
      if (auto st = store.SetApplied(records); !st.ok()) return Fail("SetApplied", st);
      if (auto st = store.FinishRun(*run, "ok", R"({"applied": 1})"); !st.ok())
        return Fail("FinishRun", st);
    }
    // The 5-minute plan, and every hour a drift check.
    for (const char* kind : {"plan", "drift"}) {
      if (std::strcmp(kind, "drift") == 0 && step % 12 != 0) continue;
      auto run = store.BeginRun(kind, "timer", "", "bench");
      if (!run.ok()) return Fail("BeginRun", run.status());
      if (auto st = store.RecordObservations(*run, p.obs); !st.ok())
        return Fail("RecordObservations", st);
      if (std::strcmp(kind, "plan") == 0) {
        // Converged: the same empty plan each time (saved once while its run is kept).
        auto saved = store.SavePlan(*run, R"({"actions": []})", "converged");
        if (!saved.ok() && saved.status().code() != galley::StatusCode::kAlreadyExists)
          return Fail("SavePlan", saved.status());
      }
      if (auto st = store.FinishRun(*run, "ok", R"({"actions": 0})"); !st.ok())
        return Fail("FinishRun", st);
    }
    clock.Advance(std::chrono::minutes(5));
    int64_t size = FileSize(path) + FileSize(path + "-wal");
    // The first day is the reference (the first plan's WAL may briefly be larger): from
    // then on the store must not outgrow it.
    if (step + 1 >= steps_per_day) max_size = std::max(max_size, size);
    if (step + 1 == steps_per_day) day1_size = size;
    if ((step + 1) % (steps_per_day * 30) == 0 || step + 1 == o.runs || step + 1 == steps_per_day) {
      double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      auto runs = store.RecentRuns(1000000);
      auto latest = store.LatestObservations();
      std::printf(
          "day %5.1f: %lld runs kept, %zu resources' newest observations, file %.2f MB + "
          "WAL %.2f MB (%.0f s so far)\n",
          static_cast<double>(step + 1) / steps_per_day,
          runs.ok() ? static_cast<long long>(runs->size()) : -1LL, latest.ok() ? latest->size() : 0,
          Mb(FileSize(path)), Mb(FileSize(path + "-wal")), secs);
      std::fflush(stdout);
    }
  }
  int64_t final_size = FileSize(path) + FileSize(path + "-wal");
  if (day1_size == 0) day1_size = max_size = final_size;
  int64_t bound = day1_size + day1_size / 4 + 1000000;
  bool ok = max_size <= bound;
  std::printf(
      "store after %lld runs: %.2f MB (largest from day 1 on: %.2f MB); bound: the size after day "
      "1 "
      "(%.2f MB) x 1.25 + 1 MB = %.2f MB\n",
      static_cast<long long>(o.runs), Mb(final_size), Mb(max_size), Mb(day1_size), Mb(bound));
  std::printf("%s: the store stays under %.2f MB over %.0f days of 5-minute plans\n",
              ok ? "PASS" : "FAIL", Mb(bound), static_cast<double>(o.runs) / 288.0);
  opened->reset();
  if (o.dir.empty()) std::filesystem::remove_all(dir);
  return ok ? 0 : 1;
}
