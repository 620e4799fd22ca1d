#include "tests/local_cluster.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace psd::testing {
namespace {

constexpr char kScript[] = "deploy/local/cluster.sh";

std::string Absolute(const std::string& runfile) {
  return std::filesystem::absolute(runfile).string();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(int servers, int workers,
                                                                  std::vector<std::string> extra) {
  std::unique_ptr<LocalCluster> c(new LocalCluster());
  c->run_dir_ = MakeTempDir("cluster");
  c->bin_dir_ = c->run_dir_ + "/bin";
  std::filesystem::create_directories(c->bin_dir_);
  for (const char* bin :
       {"coordinator/psd-coordinator", "server/psd-server", "worker/psd-worker", "tools/psdctl"}) {
    const std::string target = Absolute(bin);
    std::error_code ec;
    std::filesystem::create_symlink(
        target, c->bin_dir_ + "/" + std::filesystem::path(bin).filename().string(), ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot link ", target, ": ", ec.message()));
  }
  std::vector<std::string> args = {"up",          "--servers",           absl::StrCat(servers),
                                   "--workers",   absl::StrCat(workers), "--base-port",
                                   "0",           "--threads",           "1",
                                   "--exit-with", absl::StrCat(getpid())};
  args.insert(args.end(), extra.begin(), extra.end());
  const CommandResult up = c->Script(args, absl::Seconds(90));
  if (up.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("cluster.sh up failed (", up.exit_code, "): ", up.out, up.err));
  }
  c->coordinator_ =
      std::string(absl::StripAsciiWhitespace(ReadFile(c->run_dir_ + "/coordinator.addr")));
  return c;
}

LocalCluster::~LocalCluster() { Script({"down"}); }

CommandResult LocalCluster::Script(std::vector<std::string> args, absl::Duration timeout) const {
  std::vector<std::string> argv = {Absolute(kScript)};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--run-dir", run_dir_, "--bin-dir", bin_dir_});
  return RunCommand(argv, timeout);
}

CommandResult LocalCluster::Psdctl(std::vector<std::string> args, absl::Duration timeout) const {
  // As the cluster's admin (cluster.sh up made the certificates in RUN_DIR/certs).
  const std::string certs = run_dir_ + "/certs/";
  std::vector<std::string> argv = {bin_dir_ + "/psdctl",
                                   "--coordinator",
                                   coordinator_,
                                   "--tls-ca=" + certs + "ca-bundle.crt",
                                   "--tls-cert=" + certs + "admin.crt",
                                   "--tls-key=" + certs + "admin.key"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, timeout);
}

std::string LocalCluster::Log(const std::string& name) const {
  return ReadFile(run_dir_ + "/logs/" + name + ".log");
}

std::string LocalCluster::WriteJobFile(const std::string& name, const std::string& yaml) const {
  const std::string path = run_dir_ + "/" + name + ".yaml";
  std::ofstream(path) << yaml;
  return path;
}

std::string LastLine(const std::string& text) {
  absl::string_view t = absl::StripTrailingAsciiWhitespace(text);
  const size_t nl = t.rfind('\n');
  return std::string(nl == absl::string_view::npos ? t : t.substr(nl + 1));
}

}  // namespace psd::testing
