#include "tools/psdctl_help.h"

#include <string>

#include "tests/testing.h"
#include "tools/psdctl_commands.h"

namespace psd::psdctl {
namespace {

const CommandTable& Table() { return PsdctlCommands(); }

const Command& Find(const std::string& name) {
  const Command* c = Table().FindCommand(name);
  REQUIRE(c != nullptr);
  return *c;
}

TEST_CASE("CommandUsage shows arguments, optional ones in brackets, and flags") {
  CHECK(CommandUsage(Find("submit")) == "submit FILE [--wait] [--resume-from DIR]");
  CHECK(CommandUsage(Find("status")) == "status JOB");
  CHECK(CommandUsage(Find("list")) == "list");
  CHECK(CommandUsage(Find("eval")) == "eval MODEL_FILE [--data-images FILE] [--data-labels FILE]");
  CHECK(CommandUsage(Find("help")) == "help [COMMAND]");
  CHECK(FlagUsage(*Find("submit").FindFlag("wait")) == "--wait");
  CHECK(FlagUsage(*Table().FindGlobalFlag("timeout")) == "--timeout DURATION");
}

TEST_CASE("GeneralHelp lists every command with its summary, and the global flags") {
  const std::string help = GeneralHelp(Table());
  CHECK_THAT(help, Catch::StartsWith(
                       "psdctl: the command line of psd, a parameter-server training cluster\n\n"
                       "usage: psdctl [--coordinator HOST:PORT] [--timeout DURATION] [--tls-ca "
                       "FILE] [--tls-cert FILE] [--tls-key FILE] [--insecure] COMMAND [ARGS]\n\n"
                       "commands:\n"
                       "  validate FILE [--server-memory SIZE]         check a job file offline\n"
                       "  submit FILE [--wait] [--resume-from DIR]     submit a job file\n"));
  for (const Command& c : Table().commands) {
    INFO(c.name);
    CHECK_THAT(help, Catch::Contains("\n  " + CommandUsage(c)) &&
                         Catch::Contains(std::string(c.summary) + "\n"));
  }
  CHECK_THAT(help, Catch::Contains("  help [COMMAND]                               show help\n"));
  // A usage too wide for its column puts the summary on the next line, in the column.
  CHECK_THAT(help, Catch::Contains("  eval MODEL_FILE [--data-images FILE] [--data-labels FILE]\n" +
                                   std::string(47, ' ') + "score a model file on a test set\n"));
  CHECK_THAT(help, Catch::Contains("\nglobal flags:\n  --coordinator HOST:PORT    the coordinator "
                                   "(default: $PSD_COORDINATOR, else 127.0.0.1:7070)\n"
                                   "  --timeout DURATION         deadline of each call"));
  CHECK_THAT(help, Catch::EndsWith("\n\nexit codes: 0 ok; 1 failed (job failed or cancelled, bad "
                                   "job file, unknown job,\nrequest refused); 2 bad usage; 3 "
                                   "coordinator unreachable.\n`psdctl COMMAND --help` shows a "
                                   "command's help.\n"));
}

TEST_CASE("CommandHelp shows the usage, the help, the command's flags and the global flags") {
  CHECK(CommandHelp(Table(), Find("submit")) ==
        "usage: psdctl submit FILE [--wait] [--resume-from DIR]\n\n"
        "Sends the job file to the coordinator, which validates and queues it, and prints the\n"
        "new job's id. With --wait, follows the job like `psdctl wait` and exits 0 only if it\n"
        "succeeds.\n\n"
        "flags:\n"
        "  --wait                     follow the job's progress until it ends\n"
        "  --resume-from DIR          start from this checkpoint directory "
        "(CKPT_DIR/<job>/<step>)\n\n"
        "global flags:\n"
        "  --coordinator HOST:PORT    the coordinator (default: $PSD_COORDINATOR, else "
        "127.0.0.1:7070)\n"
        "  --timeout DURATION         deadline of each call to the coordinator, e.g. 10s or 500ms "
        "(default 10s)\n"
        "  --tls-ca FILE              CA bundle to trust (default: $PSD_TLS_CA, else "
        "RUN/certs/ca-bundle.crt, RUN being $PSD_RUN_DIR or .run/cluster)\n"
        "  --tls-cert FILE            your certificate, role admin or viewer (default: "
        "$PSD_TLS_CERT, else RUN/certs/admin.crt)\n"
        "  --tls-key FILE             its key (default: $PSD_TLS_KEY, else RUN/certs/admin.key)\n"
        "  --insecure                 plaintext, to a cluster run with --insecure (default: "
        "$PSD_INSECURE=1)\n");
  for (const Command& c : Table().commands) {
    INFO(c.name);
    const std::string help = CommandHelp(Table(), c);
    CHECK_THAT(help, Catch::StartsWith("usage: psdctl " + CommandUsage(c) + "\n\n" +
                                       std::string(c.help) + "\n"));
    CHECK((help.find("\nflags:\n") != std::string::npos) == !c.flags.empty());
    for (const Flag& f : c.flags) CHECK_THAT(help, Catch::Contains("  " + FlagUsage(f) + " "));
    CHECK_THAT(help, Catch::Contains("\nglobal flags:\n  --coordinator HOST:PORT "));
  }
}

TEST_CASE("The table's texts are complete") {
  for (const Command& c : Table().commands) {
    INFO(c.name);
    CHECK(!c.summary.empty());
    CHECK(!c.help.empty());
    CHECK(c.min_args <= c.max_args());
    for (const Flag& f : c.flags) {
      INFO(f.name);
      CHECK(!f.help.empty());
      CHECK(f.value_name.empty() == !f.takes_value());
      CHECK(Table().FindGlobalFlag(f.name) == nullptr);  // a global flag would shadow it
      if (!f.goes_with.empty()) CHECK(c.FindFlag(f.goes_with) != nullptr);
    }
  }
}

}  // namespace
}  // namespace psd::psdctl
