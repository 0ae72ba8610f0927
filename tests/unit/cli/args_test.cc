// SPDX-License-Identifier: Apache-2.0
// The table-driven argument parser every command uses (cli/args.h), and the forms every
// command therefore accepts: --flag value, --flag=value, repeated options, positionals,
// unknown options with "did you mean", usage generated from the table.
#include "cli/args.h"

#include <sstream>
#include <utility>

#include <gtest/gtest.h>

#include "cli/commands.h"
#include "cli/pipeline.h"

namespace galley::cli {
namespace {

struct Parsed {
  CommandLine::Outcome outcome;
  std::string out, err;
};

struct Fixture {
  std::string dir = ".", out_file, sub;
  bool json = false, quiet = false;
  std::vector<std::string> envs;
  int number = 0;
  CommandLine cl{"demo", "[DIR] [options]", "Does a demo."};
  Fixture() {
    cl.Positional("DIR", &dir);
    cl.Value("--out", "FILE", &out_file, "where to write");
    cl.Flag("--json", &json, "print JSON");
    cl.Flag("--quiet", &quiet, "say nothing").Alias("-q");
    cl.List("--env", "E", &envs, "only environment E");
    cl.Custom(
        "--number", "N",
        [this](const std::string& v) {
          auto n = ParsePositive(v, 10);
          if (!n) return Status::InvalidArgument("--number wants 1 to 10, not '" + v + "'");
          number = static_cast<int>(*n);
          return Status::Ok();
        },
        "a number");
    cl.Refuse("--rev", "is not supported here");
  }
  Parsed Parse(const Args& args) {
    std::ostringstream o, e;
    auto r = cl.Parse(args, o, e);
    return {r, o.str(), e.str()};
  }
};

TEST(CommandLineTest, AcceptsSeparateAndEqualsValues) {
  Fixture f;
  auto r = f.Parse({"--out", "a.json", "repo"});
  ASSERT_EQ(r.outcome, CommandLine::Outcome::kOk) << r.err;
  EXPECT_EQ(f.out_file, "a.json");
  EXPECT_EQ(f.dir, "repo");
  Fixture g;
  r = g.Parse({"--out=b.json", "--number=7"});
  ASSERT_EQ(r.outcome, CommandLine::Outcome::kOk) << r.err;
  EXPECT_EQ(g.out_file, "b.json");
  EXPECT_EQ(g.number, 7);
  EXPECT_EQ(g.dir, ".");  // an optional positional keeps its default
  Fixture h;
  r = h.Parse({"--out=a=b"});  // only the first '=' separates
  ASSERT_EQ(r.outcome, CommandLine::Outcome::kOk) << r.err;
  EXPECT_EQ(h.out_file, "a=b");
  Fixture e;
  r = e.Parse({"--out="});  // an explicitly empty value
  ASSERT_EQ(r.outcome, CommandLine::Outcome::kOk) << r.err;
  EXPECT_EQ(e.out_file, "");
}

TEST(CommandLineTest, BooleanFlagsAliasesAndRepeatedOptions) {
  Fixture f;
  auto r = f.Parse({"--json", "-q", "--env", "a", "--env=b", "--env", "c"});
  ASSERT_EQ(r.outcome, CommandLine::Outcome::kOk) << r.err;
  EXPECT_TRUE(f.json);
  EXPECT_TRUE(f.quiet);
  EXPECT_EQ(f.envs, (std::vector<std::string>{"a", "b", "c"}));
  Fixture g;
  r = g.Parse({"--json=yes"});
  EXPECT_EQ(r.outcome, CommandLine::Outcome::kError);
  EXPECT_EQ(r.err, "galley demo: --json takes no value (got '--json=yes')\n");
}

TEST(CommandLineTest, ASingleValueOptionGivenTwiceIsAnError) {
  Fixture f;
  auto r = f.Parse({"--out", "a", "--out=b"});
  EXPECT_EQ(r.outcome, CommandLine::Outcome::kError);
  EXPECT_EQ(r.err, "galley demo: --out is given more than once\n");
}

TEST(CommandLineTest, MissingValueNamesBothForms) {
  Fixture f;
  auto r = f.Parse({"--out"});
  EXPECT_EQ(r.outcome, CommandLine::Outcome::kError);
  EXPECT_EQ(r.err, "galley demo: --out needs a value (--out FILE or --out=FILE)\n");
}

TEST(CommandLineTest, UnknownOptionSuggestsAndPrintsUsage) {
  Fixture f;
  auto r = f.Parse({"--jsno"});
  EXPECT_EQ(r.outcome, CommandLine::Outcome::kError);
  EXPECT_EQ(
      r.err.rfind(
          "galley demo: unknown option '--jsno'\n    did you mean '--json'?\n\nusage: galley demo",
          0),
      0)
      << r.err;
  Fixture g;
  r = g.Parse({"--out-file=x"});  // the name before '=' is what is looked up
  EXPECT_EQ(r.err.rfind("galley demo: unknown option '--out-file'\n", 0), 0) << r.err;
  Fixture h;
  r = h.Parse({"--completely-different"});
  EXPECT_EQ(r.err.find("did you mean"), std::string::npos) << r.err;
}

TEST(CommandLineTest, RefusedOptionsSayWhy) {
  Fixture f;
  auto r = f.Parse({"--rev", "HEAD"});
  EXPECT_EQ(r.outcome, CommandLine::Outcome::kError);
  EXPECT_EQ(r.err, "galley demo: --rev is not supported here\n");
  EXPECT_EQ(f.cl.Usage().find("--rev"), std::string::npos);
}

TEST(CommandLineTest, CustomParserErrorsArePrinted) {
  Fixture f;
  auto r = f.Parse({"--number", "11"});
  EXPECT_EQ(r.outcome, CommandLine::Outcome::kError);
  EXPECT_EQ(r.err, "galley demo: --number wants 1 to 10, not '11'\n");
}

TEST(CommandLineTest, PositionalsDoubleDashAndExtraArguments) {
  Fixture f;
  auto r = f.Parse({"--", "--odd-dir"});
  ASSERT_EQ(r.outcome, CommandLine::Outcome::kOk) << r.err;
  EXPECT_EQ(f.dir, "--odd-dir");
  Fixture g;
  r = g.Parse({"a", "b"});
  EXPECT_EQ(r.outcome, CommandLine::Outcome::kError);
  EXPECT_EQ(r.err, "galley demo: unexpected argument 'b' (usage: galley demo [DIR] [options])\n");
  Fixture h;
  r = h.Parse({"-"});  // a lone dash is an argument
  ASSERT_EQ(r.outcome, CommandLine::Outcome::kOk) << r.err;
  EXPECT_EQ(h.dir, "-");
}

TEST(CommandLineTest, RequiredPositionalWithChoices) {
  std::string sub, dir;
  CommandLine cl("lock", "status|break [DIR]", "");
  cl.Positional("SUBCOMMAND", &sub, true, {"status", "break"});
  cl.Positional("DIR", &dir);
  std::ostringstream out, err;
  EXPECT_EQ(cl.Parse({}, out, err), CommandLine::Outcome::kError);
  EXPECT_EQ(
      err.str().rfind("galley lock: which subcommand? (status or break)\nusage: galley lock", 0), 0)
      << err.str();
  err.str("");
  EXPECT_EQ(cl.Parse({"statsu"}, out, err), CommandLine::Outcome::kError);
  EXPECT_EQ(err.str().rfind("galley lock: unknown subcommand 'statsu' (status or break)\n"
                            "    did you mean 'status'?\n",
                            0),
            0)
      << err.str();
  err.str("");
  EXPECT_EQ(cl.Parse({"break", "repo"}, out, err), CommandLine::Outcome::kOk) << err.str();
  EXPECT_EQ(sub, "break");
  EXPECT_EQ(dir, "repo");
}

TEST(CommandLineTest, UsageIsGeneratedFromTheTable) {
  Fixture f;
  auto r = f.Parse({"--help"});
  EXPECT_EQ(r.outcome, CommandLine::Outcome::kHelp);
  EXPECT_EQ(r.out,
            "usage: galley demo [DIR] [options]\n"
            "\n"
            "Does a demo.\n"
            "\n"
            "options:\n"
            "  --out FILE            where to write\n"
            "  --json                print JSON\n"
            "  -q, --quiet           say nothing\n"
            "  --env E               only environment E (repeatable)\n"
            "  --number N            a number\n"
            "  -h, --help            print this help\n");
  EXPECT_EQ(f.Parse({"-h"}).outcome, CommandLine::Outcome::kHelp);
}

TEST(CommandLineTest, ParsePositive) {
  EXPECT_EQ(ParsePositive("1", 5), 1);
  EXPECT_EQ(ParsePositive("5", 5), 5);
  EXPECT_FALSE(ParsePositive("6", 5));
  EXPECT_FALSE(ParsePositive("0", 5));
  EXPECT_FALSE(ParsePositive("-1", 5));
  EXPECT_FALSE(ParsePositive("1x", 5));
  EXPECT_FALSE(ParsePositive("", 5));
  EXPECT_FALSE(ParsePositive("99999999999999999999", 5));
}

// Every command takes --flag=value (issue #10: `plan --out=FILE` was refused).
TEST(CommandLineTest, EveryCommandAcceptsEqualsForm) {
  std::ostringstream out, err;
  // Errors past parsing (a missing repository) prove the options were accepted.
  const std::string missing = "/nonexistent/galley-args-test";
  struct Case {
    int (*run)(const Args&, std::ostream&, std::ostream&);
    Args args;
  };
  std::vector<Case> cases = {
      {RunPlan, {missing, "--out=/tmp/x.json", "--env=staging", "--state=/nonexistent/s.db"}},
      {RunDrift, {missing, "--env=staging", "--consul=http://127.0.0.1:1"}},
      {RunApply,
       {missing, "--deadline=5m", "--concurrency=4", "--lock-timeout=1s", "--auto-approve"}},
      {RunRender, {missing, "--format=kv"}},
      {RunLock, {"status", missing, "--state=/nonexistent/s.db"}},
      {RunValidate, {missing}},
  };
  for (const auto& c : cases) {
    err.str("");
    c.run(c.args, out, err);
    EXPECT_EQ(err.str().find("unknown option"), std::string::npos) << err.str();
    EXPECT_EQ(err.str().find("needs a value"), std::string::npos) << err.str();
  }
  err.str("");
  RunHistory({"--limit=3", "--state=/nonexistent/dir/state.db"}, out, err);
  EXPECT_EQ(err.str().find("unknown option"), std::string::npos) << err.str();
}

// Every command's --help is generated from its table, and cites only documents in the
// repository (`apply --help` cited a design document that is not).
TEST(CommandLineTest, EveryHelpIsGeneratedAndCitesNoMissingDocument) {
  struct Case {
    const char* name;
    int (*run)(const Args&, std::ostream&, std::ostream&);
  };
  for (const auto& c : std::vector<Case>{{"validate", RunValidate},
                                         {"render", RunRender},
                                         {"plan", RunPlan},
                                         {"apply", RunApply},
                                         {"drift", RunDrift},
                                         {"history", RunHistory},
                                         {"lock", RunLock}}) {
    std::ostringstream out, err;
    EXPECT_EQ(c.run({"--help"}, out, err), kExitOk) << c.name;
    EXPECT_EQ(out.str().rfind(std::string("usage: galley ") + c.name, 0), 0u) << out.str();
    EXPECT_NE(out.str().find("  -h, --help"), std::string::npos) << out.str();
    EXPECT_EQ(out.str().find("DESIGN"), std::string::npos) << out.str();
    EXPECT_EQ(err.str(), "") << c.name;
  }
}

// Flags and files share one duration grammar: `--deadline 1h0m5s` was refused (issue #10).
TEST(CommandLineTest, ApplyDurationsUseTheOneGrammar) {
  std::ostringstream out, err;
  const std::string missing = "/nonexistent/galley-args-test";
  for (const char* d : {"1h0m5s", "1h30m", "90s", "5m"}) {
    err.str("");
    RunApply({missing, "--auto-approve", "--deadline", d, "--lock-timeout", d}, out, err);
    EXPECT_EQ(err.str().find("expected a duration"), std::string::npos) << d << ": " << err.str();
  }
  for (const char* d : {"10", "-5s", "1d", "soon", "250ms", "1.5h", "1s2m"}) {
    err.str("");
    EXPECT_EQ(RunApply({missing, "--deadline", d}, out, err), kExitError);
    EXPECT_EQ(err.str(), std::string("galley apply: --deadline '") + d +
                             "': expected a duration such as 30s, 5m, 1h30m or 1h0m5s\n");
  }
}

// Discard frees at once for in-process callers; when galley's main says the process ends
// after the command (never in sanitizer builds), it leaves the value to the OS.
TEST(DiscardTest, FreesNowUnlessTheProcessEndsAfterTheCommand) {
  struct Counted {
    int* destroyed;
    explicit Counted(int* d) : destroyed(d) {}
    Counted(Counted&& o) noexcept : destroyed(std::exchange(o.destroyed, nullptr)) {}
    ~Counted() {
      if (destroyed) ++*destroyed;
    }
  };
  int destroyed = 0;
  ASSERT_FALSE(ProcessEndsAfterCommand());
  Discard(Counted(&destroyed));
  EXPECT_EQ(destroyed, 1);
  SetProcessEndsAfterCommand(true);
  bool ends = ProcessEndsAfterCommand();
  Discard(Counted(&destroyed));
  SetProcessEndsAfterCommand(false);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  EXPECT_FALSE(ends);
  EXPECT_EQ(destroyed, 2);
#else
  EXPECT_TRUE(ends);
  EXPECT_EQ(destroyed, 1);  // kept for the OS
#endif
}

}  // namespace
}  // namespace galley::cli
