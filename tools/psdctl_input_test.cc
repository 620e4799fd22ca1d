// psdctl (as a process) on bad input files: a FIFO, a file too large, UTF-16, bytes that are
// not UTF-8 in the spec or in its file name. Each gets one line naming the problem, quickly;
// before, a FIFO hung validate, and submit printed an empty "psdctl: " line.
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/job_spec.h"
#include "coordinator/test_util.h"
#include "tests/fifo.h"
#include "tests/idx_writer.h"
#include "tests/process.h"
#include "tests/test_certs.h"
#include "tests/testing.h"

namespace psd {
namespace {

using testing::CommandResult;
using testing::InProcessCoordinator;

constexpr char kPsdctl[] = "tools/psdctl";
constexpr absl::Duration kQuick = absl::Seconds(10);

// psdctl as the admin, against `c`, and then `args`.
CommandResult Psdctl(const InProcessCoordinator& c, const std::vector<std::string>& args) {
  const TlsOptions admin = testing::TestTls("admin", PeerRole::kAdmin);
  std::vector<std::string> argv = {kPsdctl,
                                   "--coordinator",
                                   c.address(),
                                   "--tls-ca=" + admin.ca_file,
                                   "--tls-cert=" + admin.cert_file,
                                   "--tls-key=" + admin.key_file};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::RunCommand(argv, kQuick);
}

CommandResult Validate(const std::string& path) {
  return testing::RunCommand({kPsdctl, "validate", path}, kQuick);
}

std::string Write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// No line of psdctl's stderr is an empty "psdctl:" line.
void CheckNoEmptyErrorLine(const CommandResult& r) {
  INFO("stderr: " << r.err);
  for (absl::string_view line : absl::StrSplit(r.err, '\n')) {
    CHECK(absl::StripTrailingAsciiWhitespace(line) != "psdctl:");
  }
}

std::string Utf16(const std::string& text) {
  std::string out = "\xff\xfe";
  for (char c : text) {
    out.push_back(c);
    out.push_back('\0');
  }
  return out;
}

TEST_CASE("psdctl validate and eval refuse FIFOs at once") {
  const std::string dir = testing::MakeTempDir("psdctl-input");
  const std::string fifo = dir + "/fifo";
  REQUIRE(testing::MakeFifo(fifo));
  CommandResult r = Validate(fifo);
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code == 1);
  CHECK(r.err == "cannot load job spec: not a regular file: " + fifo + " (a FIFO)\n");

  testing::WriteIdx(dir + "/images", {2, 2, 2}, std::vector<uint8_t>(8, 0));
  testing::WriteIdx(dir + "/labels", {2}, {0, 1});
  const std::string job = Write(
      dir + "/job.yaml",
      absl::StrCat("name: job\nmodel:\n  type: logreg\n  input_dim: 4\ndata:\n  train_images: ",
                   fifo, "\n  train_labels: ", dir, "/labels\n  test_images: ", dir,
                   "/images\n  test_labels: ", dir, "/labels\n"));
  r = Validate(job);
  CHECK_FALSE(r.timed_out);
  CHECK(r.err == job + ":6: data.train_images: not a regular file: " + fifo + " (a FIFO)\n");

  // eval reads a model file and data files the same way.
  r = testing::RunCommand({kPsdctl, "eval", fifo}, kQuick);
  CHECK_FALSE(r.timed_out);
  CHECK(r.err == "psdctl: not a regular file: " + fifo + " (a FIFO)\n");
}

TEST_CASE("psdctl validate names UTF-16 and bytes that are not UTF-8") {
  const std::string dir = testing::MakeTempDir("psdctl-input");
  const std::string spec = testing::JobYaml({});
  const std::string utf16 = Write(dir + "/utf16.yaml", Utf16(spec));
  CommandResult r = Validate(utf16);
  CHECK(r.exit_code == 1);
  CHECK(r.err == utf16 + ": the file is UTF-16 (byte order mark); save it as UTF-8\n");
  const std::string latin1 = Write(dir + "/latin1.yaml", "# caf\xe9\n" + spec);
  r = Validate(latin1);
  CHECK(r.err == latin1 +
                     ":1: yaml: not valid UTF-8 at column 6 (byte 0xe9 at byte offset 5); save "
                     "the file as UTF-8\n");
}

TEST_CASE("psdctl submit of bad files: one clear line each, and never an empty one") {
  auto started =
      InProcessCoordinator::Start(testing::MakeTempDir("psdctl-input"), CoordinatorOptions());
  REQUIRE(started.ok());
  InProcessCoordinator& c = **started;
  const std::string dir = testing::MakeTempDir("psdctl-input");
  const std::string spec = testing::JobYaml({});

  // Checked by the coordinator, which names the problem.
  const std::string utf16 = Write(dir + "/utf16.yaml", Utf16(spec));
  CommandResult r = Psdctl(c, {"submit", utf16});
  CheckNoEmptyErrorLine(r);
  CHECK(r.exit_code == 1);
  CHECK(r.err == utf16 + ": the file is UTF-16 (byte order mark); save it as UTF-8\n");
  const std::string latin1 = Write(dir + "/latin1.yaml", spec + "# caf\xe9\n");
  r = Psdctl(c, {"submit", latin1});
  CheckNoEmptyErrorLine(r);
  CHECK_THAT(r.err, Catch::StartsWith(latin1 + ":16: yaml: not valid UTF-8 at column 6"));

  // A file name that is not UTF-8 is sent escaped: the job is accepted.
  const std::string odd_name = Write(dir + "/caf\xe9.yaml", spec);
  r = Psdctl(c, {"submit", odd_name});
  CheckNoEmptyErrorLine(r);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::StartsWith("test-"));
  r = Psdctl(c, {"submit", "--resume-from", dir + "/caf\xe9/job/100", odd_name});
  CheckNoEmptyErrorLine(r);
  CHECK(r.exit_code == 1);
  CHECK(r.err == "psdctl: --resume-from: not valid UTF-8: " + dir + "/caf\\xe9/job/100\n");

  // Checked by psdctl before anything is sent.
  r = Psdctl(c, {"status", "caf\xe9"});
  CHECK(r.exit_code == 2);
  CHECK(r.err == "psdctl: job id \"caf\\xe9\" is not valid UTF-8\n");
  const std::string fifo = dir + "/fifo";
  REQUIRE(testing::MakeFifo(fifo));
  r = Psdctl(c, {"submit", fifo});
  CHECK_FALSE(r.timed_out);
  CHECK(r.err == "psdctl: not a regular file: " + fifo + " (a FIFO)\n");
  const std::string big = Write(dir + "/big.yaml", spec + std::string(kDefaultMaxSpecBytes, '\n'));
  r = Psdctl(c, {"submit", big});
  CHECK(r.exit_code == 1);
  CHECK(r.err == absl::StrCat("psdctl: ", big, ": ", spec.size() + kDefaultMaxSpecBytes,
                              " bytes, more than the limit of ", kDefaultMaxSpecBytes, " bytes\n"));
  // The coordinator still serves.
  r = Psdctl(c, {"submit", Write(dir + "/ok.yaml", spec)});
  CHECK(r.exit_code == 0);
}

}  // namespace
}  // namespace psd
