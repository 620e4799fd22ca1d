// psd-datagen as a user runs it: the usage, `ctr` and its flags, determinism by seed.
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

using Catch::Matchers::Contains;

constexpr char kDatagen[] = "tools/psd-datagen";

std::string TmpDir(const std::string& name) {
  const char* d = std::getenv("TEST_TMPDIR");
  return absl::StrCat(d != nullptr ? d : "/tmp", "/", name);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

TEST_CASE("psd-datagen without a known command prints a usage naming ctr") {
  testing::CommandResult r = testing::RunCommand({kDatagen});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("usage: psd-datagen <command>"));
  CHECK_THAT(r.err, Contains("  ctr "));
  r = testing::RunCommand({kDatagen, "crt"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("psd-datagen: unknown command 'crt' (commands: ctr)"));
  r = testing::RunCommand({kDatagen, "--help"});
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("  ctr "));
  r = testing::RunCommand({kDatagen, "ctr", "--help"});
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("--cardinality"));
}

TEST_CASE("psd-datagen ctr rejects bad flags by name") {
  testing::CommandResult r = testing::RunCommand({kDatagen, "ctr", "--train_rows", "10"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("psd-datagen ctr: --out DIR is required"));
  r = testing::RunCommand({kDatagen, "ctr", "--out", TmpDir("x"), "--train_row=5"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("unknown flag --train_row (did you mean --train_rows?)"));
  r = testing::RunCommand({kDatagen, "ctr", "--out", TmpDir("x"), "--zipf", "big"});
  CHECK_THAT(r.err, Contains("--zipf: not a number: 'big'"));
  r = testing::RunCommand({kDatagen, "ctr", "--out", TmpDir("x"), "--cardinality", "10,x"});
  CHECK_THAT(r.err, Contains("--cardinality: not a non-negative integer: 'x'"));
  r = testing::RunCommand({kDatagen, "ctr", "--out", TmpDir("x"), "--seed"});
  CHECK_THAT(r.err, Contains("--seed needs a value"));
}

TEST_CASE("psd-datagen ctr: the same seed, the same bytes; it prints the ceiling") {
  auto run = [](const std::string& dir, const std::string& seed) {
    testing::CommandResult r =
        testing::RunCommand({kDatagen, "ctr", "--out", TmpDir(dir), "--train_rows", "2e3",
                             "--test_rows=1000", "--cardinality", "1000", "--fields=4", "--dense",
                             "2", "--interactions", "2", "--seed", seed, "--gzip"},
                            absl::Seconds(60));
    REQUIRE(r.exit_code == 0);
    return r.out;
  };
  const std::string out = run("cli_a", "7");
  run("cli_b", "7");
  run("cli_c", "8");
  CHECK_THAT(out, Contains("2000 train rows"));
  CHECK_THAT(out, Contains("bayes-optimal test auc 0."));
  CHECK_THAT(out, Contains(" rows/s"));
  for (const char* f : {"/train.txt.gz", "/test.txt.gz", "/ground_truth.json"}) {
    const std::string a = ReadAll(TmpDir("cli_a") + f);
    CHECK(!a.empty());
    CHECK(a == ReadAll(TmpDir("cli_b") + f));
    CHECK(a != ReadAll(TmpDir("cli_c") + f));
  }
  CHECK_THAT(ReadAll(TmpDir("cli_a") + "/ground_truth.json"), Contains("\"seed\": 7,"));
}

}  // namespace
}  // namespace psd
