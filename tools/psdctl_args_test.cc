#include "tools/psdctl_args.h"

#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/testing.h"
#include "tools/psdctl_commands.h"

namespace psd::psdctl {
namespace {

using Args = std::vector<std::string>;

absl::StatusOr<Invocation> Parse(const Args& args, const CommandTable& table = PsdctlCommands()) {
  return ParseArgs(table, args);
}

// The parse of `args`, which must succeed.
Invocation Parsed(const Args& args, const CommandTable& table = PsdctlCommands()) {
  absl::StatusOr<Invocation> inv = Parse(args, table);
  INFO(absl::StrJoin(args, " ") << ": " << inv.status());
  REQUIRE(inv.ok());
  return *std::move(inv);
}

// The error line of `args`, which must fail as a usage error.
std::string ErrorOf(const Args& args, const CommandTable& table = PsdctlCommands()) {
  absl::StatusOr<Invocation> inv = Parse(args, table);
  INFO(absl::StrJoin(args, " "));
  REQUIRE(!inv.ok());
  CHECK(inv.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(inv.status().message());
}

std::string NameOf(const Invocation& inv) {
  return inv.command != nullptr ? std::string(inv.command->name) : "(none)";
}

// A value of each type, as given on the command line and as parsed.
std::string SampleText(FlagType type) {
  switch (type) {
    case FlagType::kSwitch:
      return "";
    case FlagType::kString:
      return "some/value";
    case FlagType::kDuration:
      return "1500ms";
    case FlagType::kStepRange:
      return "10-20";
  }
  return "";
}

void CheckSample(const Invocation& inv, const Flag& f) {
  INFO("--" << f.name);
  REQUIRE(inv.Has(f.name));
  switch (f.type) {
    case FlagType::kSwitch:
      CHECK(std::get<bool>(inv.flags.at(std::string(f.name))));
      break;
    case FlagType::kString:
      CHECK(inv.String(f.name) == "some/value");
      break;
    case FlagType::kDuration:
      CHECK(inv.Duration(f.name) == absl::Milliseconds(1500));
      break;
    case FlagType::kStepRange:
      CHECK(inv.Steps(f.name) == StepRange{10, 20});
      break;
  }
}

// The arguments that run `c` with its required positional arguments: "arg0", "arg1", ...
Args Required(const Command& c) {
  Args args = {std::string(c.name)};
  for (int i = 0; i < c.min_args; ++i) args.push_back(absl::StrCat("arg", i));
  return args;
}

TEST_CASE("Every command parses with its required arguments") {
  for (const Command& c : PsdctlCommands().commands) {
    if (c.id == CommandId::kHelp) continue;
    INFO(c.name);
    const Args args = Required(c);
    const Invocation inv = Parsed(args);
    CHECK(inv.command == &c);
    CHECK(!inv.help);
    CHECK(inv.args == Args(args.begin() + 1, args.end()));
    CHECK(inv.flags.empty());
  }
}

TEST_CASE("Every flag of every command parses as --flag=value and as --flag value") {
  const CommandTable& table = PsdctlCommands();
  for (const Command& c : table.commands) {
    if (c.id == CommandId::kHelp) continue;
    INFO(c.name);
    std::vector<Flag> flags = c.flags;
    flags.insert(flags.end(), table.global_flags.begin(), table.global_flags.end());
    Args joined = Required(c);
    Args separate = Required(c);
    for (const Flag& f : flags) {
      const std::string flag = absl::StrCat("--", f.name);
      if (f.takes_value()) {
        joined.push_back(absl::StrCat(flag, "=", SampleText(f.type)));
        separate.insert(separate.end(), {flag, SampleText(f.type)});
      } else {
        joined.push_back(flag);
        separate.push_back(flag);
      }
    }
    for (const Args& args : {joined, separate}) {
      const Invocation inv = Parsed(args);
      CHECK(inv.command == &c);
      CHECK(inv.args.size() == static_cast<size_t>(c.min_args));
      CHECK(inv.flags.size() == flags.size());
      for (const Flag& f : flags) CheckSample(inv, f);
    }
  }
}

TEST_CASE("The valid forms of each command") {
  SECTION("validate") {
    CHECK(Parsed({"validate", "job.yaml"}).args == Args{"job.yaml"});
    // After "--" a word that looks like a flag is an argument.
    CHECK(Parsed({"validate", "--", "--odd.yaml"}).args == Args{"--odd.yaml"});
    CHECK(Parsed({"validate", "--", "-h"}).args == Args{"-h"});
  }
  SECTION("submit") {
    Invocation plain = Parsed({"submit", "job.yaml"});
    CHECK(NameOf(plain) == "submit");
    CHECK(!plain.Has("wait"));
    CHECK(plain.String("resume-from") == std::nullopt);
    // Flags go before or after the file.
    for (const Args& args :
         {Args{"submit", "job.yaml", "--wait", "--resume-from", "/c/m-1/200"},
          Args{"submit", "--wait", "--resume-from=/c/m-1/200", "job.yaml"},
          Args{"--timeout=5s", "submit", "--wait", "job.yaml", "--resume-from", "/c/m-1/200"}}) {
      const Invocation inv = Parsed(args);
      CHECK(inv.args == Args{"job.yaml"});
      CHECK(inv.Has("wait"));
      CHECK(inv.String("resume-from") == "/c/m-1/200");
    }
    // A value may contain '=' and look like a flag.
    CHECK(Parsed({"submit", "j", "--resume-from=/a=b/1"}).String("resume-from") == "/a=b/1");
    CHECK(Parsed({"submit", "j", "--resume-from", "--wait"}).String("resume-from") == "--wait");
  }
  SECTION("commands taking a job id") {
    for (const char* name : {"status", "cancel", "wait", "checkpoint"}) {
      const Invocation inv = Parsed({name, "mnist-3"});
      CHECK(NameOf(inv) == name);
      CHECK(inv.args == Args{"mnist-3"});
    }
  }
  SECTION("commands taking nothing") {
    CHECK(NameOf(Parsed({"list"})) == "list");
    CHECK(NameOf(Parsed({"nodes"})) == "nodes");
  }
  SECTION("eval") {
    CHECK(Parsed({"eval", "m.psdm"}).args == Args{"m.psdm"});
    const Invocation inv =
        Parsed({"eval", "--data-images", "i.idx", "m.psdm", "--data-labels=l.idx"});
    CHECK(inv.args == Args{"m.psdm"});
    CHECK(inv.String("data-images") == "i.idx");
    CHECK(inv.String("data-labels") == "l.idx");
  }
  SECTION("global flags, before or after the command") {
    for (const Args& args : {Args{"--coordinator", "h:7070", "--timeout", "500ms", "list"},
                             Args{"list", "--coordinator=h:7070", "--timeout=500ms"},
                             Args{"--timeout", "0.5", "list", "--coordinator", "h:7070"}}) {
      const Invocation inv = Parsed(args);
      CHECK(NameOf(inv) == "list");
      CHECK(inv.String("coordinator") == "h:7070");
      CHECK(inv.Duration("timeout") == absl::Milliseconds(500));
    }
    CHECK(Parsed({"list", "--timeout", "2m"}).Duration("timeout") == absl::Minutes(2));
    CHECK(Parsed({"list", "--timeout", "3"}).Duration("timeout") == absl::Seconds(3));
    // Given twice, the last one counts.
    CHECK(Parsed({"--timeout=1s", "list", "--timeout=2s"}).Duration("timeout") == absl::Seconds(2));
  }
  SECTION("a value is read only as its flag's type") {
    const Invocation inv = Parsed({"list", "--timeout", "2s"});
    CHECK(inv.String("timeout") == std::nullopt);
    CHECK(inv.Duration("coordinator") == std::nullopt);
    CHECK(inv.Steps("timeout") == std::nullopt);
  }
}

TEST_CASE("An unknown command is named, with the command it probably meant") {
  CHECK(ErrorOf({"statsu", "mnist-1"}) ==
        "psdctl: unknown command 'statsu'; did you mean 'status'? (see psdctl --help)");
  CHECK(ErrorOf({"lsit"}) ==
        "psdctl: unknown command 'lsit'; did you mean 'list'? (see psdctl --help)");
  CHECK(ErrorOf({"frobnicate"}) == "psdctl: unknown command 'frobnicate' (see psdctl --help)");
  CHECK(ErrorOf({"-x"}) == "psdctl: unknown command '-x' (see psdctl --help)");
  CHECK(ErrorOf({"--timeout=1s", "Status", "x"}) ==
        "psdctl: unknown command 'Status'; did you mean 'status'? (see psdctl --help)");
}

TEST_CASE("An unknown flag is named, with the flag it probably meant") {
  CHECK(ErrorOf({"submit", "job.yaml", "--wiat"}) ==
        "psdctl: unknown flag --wiat for submit; did you mean --wait? (see psdctl submit --help)");
  CHECK(ErrorOf({"submit", "job.yaml", "--bogus"}) ==
        "psdctl: unknown flag --bogus for submit (see psdctl submit --help)");
  CHECK(ErrorOf({"list", "--cordinator", "h:1"}) ==
        "psdctl: unknown flag --cordinator for list; did you mean --coordinator? "
        "(see psdctl list --help)");
  CHECK(ErrorOf({"--timout", "1s", "list"}) ==
        "psdctl: unknown flag --timout; did you mean --timeout? (see psdctl --help)");
  CHECK(ErrorOf({"status", "x", "--hepl"}) ==
        "psdctl: unknown flag --hepl for status; did you mean --help? (see psdctl status --help)");
  CHECK(ErrorOf({"eval", "m", "--data-image", "i"}) ==
        "psdctl: unknown flag --data-image for eval; did you mean --data-images? "
        "(see psdctl eval --help)");
  // Another command's flag.
  CHECK(ErrorOf({"status", "x", "--wait"}) ==
        "psdctl: unknown flag --wait for status (see psdctl status --help)");
  // A command's flag before the command says where it goes.
  CHECK(ErrorOf({"--wait", "submit", "job.yaml"}) ==
        "psdctl: --wait is a flag of submit; give it after the command (see psdctl --help)");
  // Only the words after "--" are exempt; a single dash is a word.
  CHECK(ErrorOf({"list", "-"}) == "psdctl: list: unexpected argument '-' (see psdctl list --help)");
  CHECK(ErrorOf({"--", "--help"}) == "psdctl: unknown command '--help' (see psdctl --help)");
}

TEST_CASE("Missing, extra and empty positional arguments") {
  CHECK(ErrorOf({"status"}) == "psdctl: status: expected JOB (see psdctl status --help)");
  CHECK(ErrorOf({"submit", "--wait"}) ==
        "psdctl: submit: expected FILE (see psdctl submit --help)");
  CHECK(ErrorOf({"eval"}) == "psdctl: eval: expected MODEL_FILE (see psdctl eval --help)");
  CHECK(ErrorOf({"status", "a", "b"}) ==
        "psdctl: status: unexpected argument 'b' (see psdctl status --help)");
  CHECK(ErrorOf({"list", "x"}) == "psdctl: list: unexpected argument 'x' (see psdctl list --help)");
  CHECK(ErrorOf({"status", ""}) == "psdctl: status: empty JOB (see psdctl status --help)");
  CHECK(ErrorOf({"help", "status", "extra"}) ==
        "psdctl: help: unexpected argument 'extra' (see psdctl help --help)");
  for (const Command& c : PsdctlCommands().commands) {
    if (c.min_args == 0) continue;
    INFO(c.name);
    CHECK_THAT(ErrorOf({std::string(c.name)}), Catch::Contains(": expected "));
  }
}

TEST_CASE("A flag value of the wrong type is a usage error naming the flag") {
  CHECK(ErrorOf({"list", "--timeout", "soon"}) ==
        "psdctl: --timeout: expected a duration like 10s or 500ms, got 'soon' "
        "(see psdctl list --help)");
  CHECK_THAT(ErrorOf({"list", "--timeout=0"}), Catch::Contains("got '0'"));
  CHECK_THAT(ErrorOf({"list", "--timeout=-1s"}), Catch::Contains("got '-1s'"));
  CHECK_THAT(ErrorOf({"list", "--timeout=1s=2"}), Catch::Contains("got '1s=2'"));
  CHECK(ErrorOf({"--timeout", "soon"}) ==
        "psdctl: --timeout: expected a duration like 10s or 500ms, got 'soon' (see psdctl --help)");
  CHECK(ErrorOf({"list", "--timeout"}) ==
        "psdctl: --timeout needs a value (see psdctl list --help)");
  CHECK(ErrorOf({"list", "--coordinator="}) ==
        "psdctl: --coordinator: needs HOST:PORT (see psdctl list --help)");
  CHECK(ErrorOf({"submit", "j", "--resume-from="}) ==
        "psdctl: --resume-from: needs DIR (see psdctl submit --help)");
  CHECK(ErrorOf({"submit", "j", "--resume-from"}) ==
        "psdctl: --resume-from needs a value (see psdctl submit --help)");
  CHECK(ErrorOf({"submit", "j", "--wait=yes"}) ==
        "psdctl: --wait takes no value (see psdctl submit --help)");
}

TEST_CASE("Flags that go together") {
  CHECK(ErrorOf({"eval", "m", "--data-images", "i"}) ==
        "psdctl: eval: --data-images and --data-labels go together (see psdctl eval --help)");
  CHECK(ErrorOf({"eval", "m", "--data-labels", "l"}) ==
        "psdctl: eval: --data-images and --data-labels go together (see psdctl eval --help)");
}

TEST_CASE("Step ranges and one-letter aliases: psdctl trace") {
  const Invocation inv = Parsed({"trace", "j-1", "--steps", "100-120", "-o", "out.json"});
  CHECK(NameOf(inv) == "trace");
  CHECK(inv.args == Args{"j-1"});
  CHECK(inv.Steps("steps") == StepRange{100, 120});
  CHECK(inv.String("output") == "out.json");
  const Invocation long_form = Parsed({"trace", "j-1", "--steps=5-5", "--output=t.json"});
  CHECK(long_form.Steps("steps") == StepRange{5, 5});
  CHECK(long_form.String("output") == "t.json");
  CHECK(ErrorOf({"trace", "j-1", "--steps", "x"}) ==
        "psdctl: --steps: expected steps A-B like 100-120 (A <= B), got 'x' "
        "(see psdctl trace --help)");
  CHECK(ErrorOf({"trace", "j-1", "--steps", "7-3"}) ==
        "psdctl: --steps: expected steps A-B like 100-120 (A <= B), got '7-3' "
        "(see psdctl trace --help)");
  for (const char* bad : {"5", "120-100", "-5", "5-", "1-2-3", "+1-2", " 1-2", "1-2 ", "a-b"}) {
    INFO(bad);
    CHECK_THAT(ErrorOf({"trace", "j-1", "--steps", bad}),
               Catch::StartsWith("psdctl: --steps: expected steps A-B"));
  }
  CHECK_THAT(ErrorOf({"trace", "j-1", "--steps", "1-2", "-o"}),
             Catch::StartsWith("psdctl: -o needs a value"));
  CHECK(ErrorOf({"trace"}) == "psdctl: trace: expected JOB (see psdctl trace --help)");
  CHECK(ErrorOf({"trace", "a", "b"}) ==
        "psdctl: trace: unexpected argument 'b' (see psdctl trace --help)");
}

TEST_CASE("ParseDurationFlag and ParseStepRange") {
  CHECK(ParseDurationFlag("10s") == absl::Seconds(10));
  CHECK(ParseDurationFlag("500ms") == absl::Milliseconds(500));
  CHECK(ParseDurationFlag("1m30s") == absl::Seconds(90));
  CHECK(ParseDurationFlag("2.5") == absl::Milliseconds(2500));
  CHECK(ParseDurationFlag("0") == std::nullopt);
  CHECK(ParseDurationFlag("-3s") == std::nullopt);
  CHECK(ParseDurationFlag("") == std::nullopt);
  CHECK(ParseDurationFlag("soon") == std::nullopt);
  CHECK(ParseStepRange("0-0") == StepRange{0, 0});
  CHECK(ParseStepRange("7-9000000000") == StepRange{7, 9000000000});
  CHECK(ParseStepRange("9-7") == std::nullopt);
  CHECK(ParseStepRange("99999999999999999999-1") == std::nullopt);
}

TEST_CASE("Help: --help, -h and help COMMAND, anywhere before --") {
  for (const Args& args : {Args{"--help"}, Args{"-h"}, Args{"help"}, Args{"help", "--help"},
                           Args{"--timeout=1s", "help"}}) {
    INFO(absl::StrJoin(args, " "));
    const Invocation inv = Parsed(args);
    CHECK(inv.help);
    CHECK(inv.command == nullptr);
  }
  for (const Args& args : {Args{"help", "submit"}, Args{"submit", "--help"}, Args{"submit", "-h"},
                           Args{"--help", "submit"}, Args{"submit", "job.yaml", "--wait", "--help"},
                           Args{"help", "submit", "--wait"}}) {
    INFO(absl::StrJoin(args, " "));
    const Invocation inv = Parsed(args);
    CHECK(inv.help);
    CHECK(NameOf(inv) == "submit");
    CHECK(inv.args.empty());
  }
  // Help needs none of the command's arguments.
  CHECK(Parsed({"status", "--help"}).help);
  CHECK(NameOf(Parsed({"help", "help"})) == "help");
  for (const Command& c : PsdctlCommands().commands) {
    INFO(c.name);
    const Invocation inv = Parsed({"help", std::string(c.name)});
    CHECK(inv.help);
    CHECK(inv.command == &c);
  }
  CHECK(ErrorOf({"help", "nope"}) == "psdctl: unknown command 'nope' (see psdctl --help)");
  CHECK(ErrorOf({"help", "stauts"}) ==
        "psdctl: unknown command 'stauts'; did you mean 'status'? (see psdctl --help)");
  // Flags are still checked.
  CHECK(ErrorOf({"wait", "--help", "--bogus"}) ==
        "psdctl: unknown flag --bogus for wait (see psdctl wait --help)");
  // No command at all: neither help nor a command; psdctl prints the help and exits 2.
  const Invocation none = Parsed({});
  CHECK(!none.help);
  CHECK(none.command == nullptr);
  CHECK(Parsed({"--coordinator", "h:1"}).command == nullptr);
}

}  // namespace
}  // namespace psd::psdctl
