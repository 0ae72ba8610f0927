// SPDX-License-Identifier: Apache-2.0
// NewProcessRunner, driven directly (no Marathon emulator): real galley-testserver
// processes, real HTTP/TCP health checks, kills with a grace period, argv resolution
// (cmd words, exec_alias, host_alias, image_map) and failures reported through the listener.
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <regex>

#include <dirent.h>
#include <gtest/gtest.h>

#include "container/child.h"
#include "sandbox/marathon/task_runner.h"

namespace galley::sandbox::marathon {
namespace {

using namespace std::chrono_literals;
using container_test::FreePort;
using container_test::Get;
using container_test::WaitUntil;

const std::string kServer = GALLEY_TESTSERVER_BIN;

const char* Name(TaskState s) {
  switch (s) {
    case TaskState::kStaging:
      return "staging";
    case TaskState::kStarting:
      return "starting";
    case TaskState::kRunning:
      return "running";
    case TaskState::kKilling:
      return "killing";
    case TaskState::kKilled:
      return "killed";
    case TaskState::kFailed:
      return "failed";
    case TaskState::kFinished:
      return "finished";
  }
  return "?";
}

// Records every listener call.
class Recorder {
 public:
  TaskRunner::Listener Listener() {
    return [this](const std::string& id, const TaskStatus& s) {
      std::lock_guard<std::mutex> lock(mu_);
      events_[id].push_back(s);
      cv_.notify_all();
    };
  }
  // Waits until `pred` holds for the latest status of `id`.
  bool WaitFor(const std::string& id, const std::function<bool(const TaskStatus&)>& pred,
               std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      auto it = events_.find(id);
      return it != events_.end() && !it->second.empty() && pred(it->second.back());
    });
  }
  bool WaitForState(const std::string& id, TaskState s, std::chrono::milliseconds timeout = 10s) {
    return WaitFor(
        id, [s](const TaskStatus& st) { return st.state == s; }, timeout);
  }
  std::vector<TaskStatus> Events(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    return events_[id];
  }
  std::string States(const std::string& id) {
    std::string out;
    for (const auto& s : Events(id)) {
      if (out.empty() || out.substr(out.rfind(' ') + 1) != Name(s.state))
        out += std::string(" ") + Name(s.state);
    }
    return out;
  }
  TaskStatus Last(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    return events_[id].back();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::vector<TaskStatus>> events_;
};

bool Alive(const TaskStatus& s) {
  return s.state == TaskState::kRunning && !s.health.empty() &&
         std::all_of(s.health.begin(), s.health.end(),
                     [](const HealthResult& h) { return h.alive; });
}

class ProcessRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({}); }
  void TearDown() override {
    if (runner_) runner_->Shutdown();
  }
  void Start(ProcessRunnerOptions options) {
    if (runner_) runner_->Shutdown();
    options.log_dir = logs_.dir();
    runner_ = NewProcessRunner(options);
    runner_->SetListener(recorder_.Listener());
  }

  // A testserver task listening on a fresh port, with one HTTP check on /healthcheck. With
  // `drains`, it ignores the first SIGTERM (as the reference service does) and needs SIGKILL;
  // otherwise it exits on SIGTERM, which keeps the tests short.
  TaskSpec ServerTask(const std::string& id, int max_failures = 3, bool drains = false) {
    TaskSpec t;
    t.app_id = "/app/test/server";
    t.task_id = id;
    t.host = "127.0.0.1";
    t.host_ports = {FreePort()};
    t.args = {kServer, "/app/server.js"};
    if (!drains) t.args.insert(t.args.end(), {"--drain-exit-after", "0"});
    t.env = {{"PORT0", std::to_string(t.host_ports[0])},
             {"HOST", "127.0.0.1"},
             {"MARATHON_APP_ID", t.app_id}};
    HealthCheckSpec hc;
    hc.protocol = "HTTP";
    hc.path = "/healthcheck";
    hc.grace_period_seconds = 1;
    hc.interval_seconds = 1;
    hc.timeout_seconds = 5;  // headroom on a loaded machine; a 503 fails at once anyway
    hc.max_consecutive_failures = max_failures;
    t.health_checks = {hc};
    t.kill_grace_seconds = 1;
    return t;
  }

  std::string Log(const std::string& id) {
    return galley::testing::ReadText(logs_.Path(id + ".log"));
  }
  static std::string Url(const TaskSpec& t, const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(t.host_ports[0]) + path;
  }

  galley::testing::TempRepo logs_;
  Recorder recorder_;
  std::unique_ptr<TaskRunner> runner_;
};

TEST_F(ProcessRunnerTest, ThreeServersTurnHealthyAndFailuresAreCounted) {
  std::vector<TaskSpec> tasks{ServerTask("app_test_server.a"), ServerTask("app_test_server.b"),
                              ServerTask("app_test_server.c")};
  for (const auto& t : tasks) ASSERT_TRUE(runner_->Launch(t).ok());
  for (const auto& t : tasks) {
    ASSERT_TRUE(recorder_.WaitFor(t.task_id, Alive, 10s)) << t.task_id << Log(t.task_id);
    EXPECT_EQ(recorder_.States(t.task_id), " starting running");
  }
  TaskStatus a = *runner_->Get("app_test_server.a");
  EXPECT_EQ(a.state, TaskState::kRunning);
  ASSERT_EQ(a.health.size(), 1u);
  std::regex iso(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  EXPECT_TRUE(std::regex_match(a.health[0].first_success, iso)) << a.health[0].first_success;
  EXPECT_TRUE(std::regex_match(a.staged_at, iso));
  EXPECT_TRUE(std::regex_match(a.started_at, iso));
  EXPECT_EQ(a.health[0].consecutive_failures, 0);
  EXPECT_NE(Get(Url(tasks[0], "/")).body.find("MARATHON_APP_ID=/app/test/server\n"),
            std::string::npos);

  // /fail on b: failures are counted and alive turns false. Killing it after
  // maxConsecutiveFailures is the scheduler's decision, not the runner's: it keeps running.
  ASSERT_EQ(Get(Url(tasks[1], "/fail")).status, 200);
  for (int n = 1; n <= 4; ++n) {
    ASSERT_TRUE(recorder_.WaitFor("app_test_server.b", [n](const TaskStatus& s) {
      return !s.health.empty() && s.health[0].consecutive_failures == n;
    })) << n;
    TaskStatus failing = recorder_.Last("app_test_server.b");
    EXPECT_FALSE(failing.health[0].alive);
    EXPECT_EQ(failing.state, TaskState::kRunning);
    EXPECT_EQ(failing.health[0].last_failure_cause, "HTTP 503 Service Unavailable");
    EXPECT_TRUE(std::regex_match(failing.health[0].last_failure, iso));
    EXPECT_FALSE(failing.health[0].first_success.empty());
  }
  ASSERT_EQ(Get(Url(tasks[1], "/restore")).status, 200);
  ASSERT_TRUE(recorder_.WaitFor("app_test_server.b", Alive));
  EXPECT_EQ(runner_->Get("app_test_server.b")->health[0].consecutive_failures, 0);

  // The others stay healthy.
  EXPECT_TRUE(Alive(*runner_->Get("app_test_server.a")));
  EXPECT_TRUE(Alive(*runner_->Get("app_test_server.c")));
}

TEST_F(ProcessRunnerTest, KillIgnoredSigtermIsFollowedBySigkillAfterTheGrace) {
  TaskSpec t = ServerTask("app_test_server.k", 3, /*drains=*/true);
  // Long enough for the two requests below to land inside it on a loaded machine (with 1 s,
  // a slow request could arrive after the SIGKILL and see no server).
  t.kill_grace_seconds = 3;
  ASSERT_TRUE(runner_->Launch(t).ok());
  ASSERT_TRUE(recorder_.WaitFor(t.task_id, Alive));
  auto start = std::chrono::steady_clock::now();
  runner_->Kill(t.task_id);
  ASSERT_TRUE(recorder_.WaitForState(t.task_id, TaskState::kKilling));
  // Draining: it fails its health check but still serves.
  EXPECT_EQ(Get(Url(t, "/healthcheck")).status, 503);
  EXPECT_EQ(Get(Url(t, "/")).status, 200);
  ASSERT_TRUE(recorder_.WaitForState(t.task_id, TaskState::kKilled, 30s));
  // Never before the grace ends (the clock cannot run fast); the upper bound only says the
  // SIGKILL came from the grace timer, with room for a loaded machine and sanitizers.
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 3s);
  EXPECT_LT(took, 20s);
  EXPECT_NE(recorder_.Last(t.task_id).message.find("SIGKILL after the 3 s kill grace period"),
            std::string::npos);
  EXPECT_EQ(Get(Url(t, "/")).status, 0);
  runner_->Kill(t.task_id);  // ignored once gone
  runner_->Kill("no-such-task");
  EXPECT_EQ(runner_->Get(t.task_id)->state, TaskState::kKilled);
  EXPECT_FALSE(runner_->Get("no-such-task").has_value());
}

TEST_F(ProcessRunnerTest, KillOfAProcessThatHonoursSigtermIsQuick) {
  TaskSpec t;
  t.task_id = "sleeper";
  t.cmd = "sleep 30";
  t.kill_grace_seconds = 60;  // far beyond the wait below: the kill cannot be the SIGKILL
  ASSERT_TRUE(runner_->Launch(t).ok());
  ASSERT_TRUE(recorder_.WaitForState("sleeper", TaskState::kRunning));
  runner_->Kill("sleeper");
  ASSERT_TRUE(recorder_.WaitForState("sleeper", TaskState::kKilled, 30s));
  EXPECT_EQ(recorder_.Last("sleeper").message, "killed (killed by SIGTERM)");
}

TEST_F(ProcessRunnerTest, CmdIsSplitIntoWordsWithoutAShell) {
  TaskSpec t;
  t.task_id = "words";
  t.cmd = R"(/bin/sh -c 'for a in "$@"; do echo "[$a]"; done' sh "two words" a\ b "q\"x" '' plain)";
  ASSERT_TRUE(runner_->Launch(t).ok());
  ASSERT_TRUE(recorder_.WaitForState("words", TaskState::kFinished)) << recorder_.States("words");
  EXPECT_EQ(Log("words"), "[two words]\n[a b]\n[q\"x]\n[]\n[plain]\n");
  EXPECT_EQ(recorder_.States("words"), " starting running finished");
  EXPECT_EQ(recorder_.Last("words").message, "exited with code 0");

  TaskSpec pipe;
  pipe.task_id = "pipe";
  pipe.cmd = "echo a | wc -l";
  ASSERT_TRUE(runner_->Launch(pipe).ok());
  ASSERT_TRUE(recorder_.WaitForState("pipe", TaskState::kFailed));
  EXPECT_NE(recorder_.Last("pipe").message.find("cmd uses shell syntax ('|')"), std::string::npos);

  TaskSpec var;
  var.task_id = "var";
  var.cmd = "echo \"$PORT0\"";
  ASSERT_TRUE(runner_->Launch(var).ok());
  ASSERT_TRUE(recorder_.WaitForState("var", TaskState::kFailed));
  EXPECT_NE(recorder_.Last("var").message.find("('$')"), std::string::npos);

  TaskSpec open;
  open.task_id = "open";
  open.cmd = "echo 'unterminated";
  ASSERT_TRUE(runner_->Launch(open).ok());
  ASSERT_TRUE(recorder_.WaitForState("open", TaskState::kFailed));
  EXPECT_EQ(recorder_.Last("open").message, "cmd has an unterminated ' quote");
}

TEST_F(ProcessRunnerTest, ExecAliasAndHostAliasAreApplied) {
  ProcessRunnerOptions o;
  o.exec_alias = {{"service-wrapper.sh", "galley-wrapper"}, {"my-server", "galley-testserver"}};
  o.host_alias = {{"dockerhost", "127.0.0.1"}};
  Start(o);

  // argv: an aliased program is found next to the running executable; host names replaced.
  TaskSpec echo;
  echo.task_id = "echo";
  echo.args = {
      "/bin/sh",         "-c", "echo \"[$1] [$2] [$UPSTREAM]\"", "sh", "service-wrapper.sh",
      "dockerhost:18080"};
  echo.env = {{"UPSTREAM", "http://dockerhost:18500/v1"}};
  ASSERT_TRUE(runner_->Launch(echo).ok());
  ASSERT_TRUE(recorder_.WaitForState("echo", TaskState::kFinished));
  std::string wrapper = std::string(GALLEY_WRAPPER_BIN);
  EXPECT_EQ(Log("echo"), "[" + wrapper + "] [127.0.0.1:18080] [http://127.0.0.1:18500/v1]\n");

  // A server started through an alias, showing the rewritten environment.
  TaskSpec s = ServerTask("aliased");
  s.args = {"my-server", "--drain-exit-after", "0"};
  s.env["CONSUL"] = "dockerhost:18500";
  ASSERT_TRUE(runner_->Launch(s).ok());
  ASSERT_TRUE(recorder_.WaitFor("aliased", Alive)) << Log("aliased");
  EXPECT_NE(Get(Url(s, "/")).body.find("CONSUL=127.0.0.1:18500\n"), std::string::npos);
}

TEST_F(ProcessRunnerTest, ImageMapRunsADockerAppWithoutArgsAndAnUnknownImageFails) {
  ProcessRunnerOptions o;
  o.image_map = {{"registry.local/test-server:*", "galley-testserver --drain-exit-after 0"},
                 {"registry.local/exact:1", "/bin/true"}};
  Start(o);
  TaskSpec t = ServerTask("docker");
  t.args.clear();
  t.docker_image = "registry.local/test-server:master-ef5a154e25b268c611006d08a78a3ec0a451e7ed-56";
  ASSERT_TRUE(runner_->Launch(t).ok());
  ASSERT_TRUE(recorder_.WaitFor("docker", Alive)) << Log("docker");

  TaskSpec exact;
  exact.task_id = "exact";
  exact.docker_image = "registry.local/exact:1";
  ASSERT_TRUE(runner_->Launch(exact).ok());
  EXPECT_TRUE(recorder_.WaitForState("exact", TaskState::kFinished));

  TaskSpec unknown;
  unknown.task_id = "unknown";
  unknown.docker_image = "registry.local/exact:2";
  ASSERT_TRUE(runner_->Launch(unknown).ok());
  ASSERT_TRUE(recorder_.WaitForState("unknown", TaskState::kFailed));
  EXPECT_EQ(recorder_.Last("unknown").message,
            "docker image 'registry.local/exact:2' has no --image-map entry; the process runner "
            "cannot run Docker images");
  EXPECT_EQ(recorder_.States("unknown"), " starting failed");
}

TEST_F(ProcessRunnerTest, FailuresCarryTheExitCodeAndTheLastOutput) {
  TaskSpec t;
  t.task_id = "boom";
  t.args = {"/bin/sh", "-c", "echo first; echo boom >&2; exit 3"};
  ASSERT_TRUE(runner_->Launch(t).ok());
  ASSERT_TRUE(recorder_.WaitForState("boom", TaskState::kFailed));
  EXPECT_EQ(recorder_.Last("boom").message, "task exited with code 3; last output: first | boom");

  TaskSpec missing;
  missing.task_id = "missing";
  missing.args = {"no-such-program-galley"};
  ASSERT_TRUE(runner_->Launch(missing).ok());
  ASSERT_TRUE(recorder_.WaitForState("missing", TaskState::kFailed));
  EXPECT_EQ(recorder_.Last("missing").message.rfind(
                "program 'no-such-program-galley' not found on PATH", 0),
            0u);

  TaskSpec nothing;
  nothing.task_id = "nothing";
  ASSERT_TRUE(runner_->Launch(nothing).ok());
  EXPECT_TRUE(recorder_.WaitForState("nothing", TaskState::kFailed));

  EXPECT_EQ(runner_->Launch(t).code(), StatusCode::kAlreadyExists);
}

TEST_F(ProcessRunnerTest, TcpChecksAndChecksWithoutAPort) {
  TaskSpec t = ServerTask("tcp");
  t.health_checks[0].protocol = "TCP";
  HealthCheckSpec no_port = t.health_checks[0];
  no_port.port_index = 3;
  no_port.max_consecutive_failures = 0;  // never kill
  no_port.grace_period_seconds = 0;
  t.health_checks.push_back(no_port);
  ASSERT_TRUE(runner_->Launch(t).ok());
  ASSERT_TRUE(recorder_.WaitFor("tcp", [](const TaskStatus& s) {
    return s.health.size() == 2 && s.health[0].alive && s.health[1].consecutive_failures >= 1;
  }));
  TaskStatus s = *runner_->Get("tcp");
  EXPECT_FALSE(s.health[1].alive);
  EXPECT_EQ(s.health[1].last_failure_cause, "the task has no host port at portIndex 3");
}

TEST_F(ProcessRunnerTest, FailuresWithinTheGracePeriodAreIgnored) {
  TaskSpec t = ServerTask("late");
  t.args = {"/bin/sh", "-c", "sleep 1.6; exec \"$0\" \"$@\"", kServer, "--drain-exit-after",
            "0"};  // up after ~1.6 s
  t.health_checks[0].grace_period_seconds = 5;
  ASSERT_TRUE(runner_->Launch(t).ok());
  ASSERT_TRUE(recorder_.WaitFor("late", Alive, 10s)) << Log("late");
  for (const auto& ev : recorder_.Events("late")) {
    if (!ev.health.empty()) {
      EXPECT_EQ(ev.health[0].consecutive_failures, 0);
    }
  }
  EXPECT_TRUE(runner_->Get("late")->health[0].last_failure.empty());
}

// Children of this process: zombies (state Z) and the total.
std::pair<int, int> ChildProcesses() {
  int zombies = 0, total = 0;
  DIR* d = opendir("/proc");
  while (dirent* e = readdir(d)) {
    std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    if (!std::getline(f, line)) continue;
    size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (sscanf(line.c_str() + close + 1, " %c %d", &state, &ppid) != 2 || ppid != getpid())
      continue;
    ++total;
    zombies += state == 'Z';
  }
  closedir(d);
  return {zombies, total};
}

TEST_F(ProcessRunnerTest, ShutdownKillsEverythingAndLeavesNoZombies) {
  TaskSpec a = ServerTask("s1", 3, /*drains=*/true);
  TaskSpec b = ServerTask("s2");
  TaskSpec c;
  c.task_id = "quick";
  c.args = {"/bin/true"};
  for (const auto& t : {a, b, c}) ASSERT_TRUE(runner_->Launch(t).ok());
  ASSERT_TRUE(recorder_.WaitFor("s1", Alive));
  ASSERT_TRUE(recorder_.WaitFor("s2", Alive));
  ASSERT_TRUE(recorder_.WaitForState("quick", TaskState::kFinished));
  auto start = std::chrono::steady_clock::now();
  runner_->Shutdown();
  // Bounded (Shutdown waits at most the longest grace plus 2 s), with room for a loaded machine.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
  EXPECT_EQ(recorder_.Last("s1").state, TaskState::kKilled);  // delivered before Shutdown returned
  EXPECT_EQ(recorder_.Last("s2").state, TaskState::kKilled);
  EXPECT_EQ(Get(Url(a, "/")).status, 0);
  EXPECT_EQ(runner_->Launch(ServerTask("late")).code(), StatusCode::kUnavailable);
  runner_->Shutdown();  // idempotent
  auto [zombies, total] = ChildProcesses();
  EXPECT_EQ(zombies, 0);
  EXPECT_EQ(total, 0);
}

}  // namespace
}  // namespace galley::sandbox::marathon
