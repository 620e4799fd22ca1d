// psdctl validate (as a process) checks that each parameter server can hold its share of the
// model: a 10^9-parameter MLP that parsed fine used to be accepted, then killed its servers.
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/idx_writer.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

constexpr char kPsdctl[] = "tools/psdctl";

std::string Spec(const std::string& dir, const std::string& hidden) {
  return absl::StrCat("name: big\nmodel: {type: mlp, input_dim: 784, hidden: [", hidden,
                      "], num_classes: 10}\ndata:\n  train_images: ", dir,
                      "/images\n  train_labels: ", dir, "/labels\n  test_images: ", dir,
                      "/images\n  test_labels: ", dir,
                      "/labels\ntraining: {optimizer: {type: momentum}}\n"
                      "cluster: {servers: 2, workers: 1}\n");
}

TEST_CASE("psdctl validate refuses a model the servers cannot hold, naming the sizes") {
  const std::string dir = testing::MakeTempDir("psdctl-memory");
  testing::WriteIdx(dir + "/images", {2, 28, 28}, std::vector<uint8_t>(2 * 784, 0));
  testing::WriteIdx(dir + "/labels", {2}, {0, 1});
  const std::string huge = dir + "/huge.yaml", small = dir + "/small.yaml";
  std::ofstream(huge) << Spec(dir, "32768, 30000");
  std::ofstream(small) << Spec(dir, "256");
  testing::CommandResult r =
      testing::RunCommand({kPsdctl, "validate", huge, "--server-memory", "2GiB"});
  CHECK(r.exit_code == 1);
  CHECK(r.err == absl::StrCat(huge,
                              ": model needs 5.6 GiB per server (params 1.9 GiB + momentum 1.9 "
                              "GiB + accumulator 1.9 GiB + chunk records 1.3 MiB) with 2 "
                              "servers; the budget is 2.0 GiB\n"));
  r = testing::RunCommand({kPsdctl, "validate", huge, "--server-memory", "8GiB"});
  CHECK(r.exit_code == 0);
  CHECK(r.out ==
        "ok: big: 2 servers, 1 workers, sync, 1009092890 parameters, 5.6 GiB per server\n");
  r = testing::RunCommand({kPsdctl, "validate", small});  // the default: this machine's memory
  CHECK(r.exit_code == 0);
  r = testing::RunCommand({kPsdctl, "validate", small, "--server-memory", "lots"});
  CHECK(r.exit_code == 2);
  CHECK(r.err == "psdctl: --server-memory: expected a size like 16GiB, got 'lots'\n");
}

TEST_CASE("psdctl validate warns when servers would hold no parameters") {
  const std::string dir = testing::MakeTempDir("psdctl-idle");
  testing::WriteIdx(dir + "/images", {2, 28, 28}, std::vector<uint8_t>(2 * 784, 0));
  testing::WriteIdx(dir + "/labels", {2}, {0, 1});
  const std::string spread = dir + "/spread.yaml";
  std::string spec = Spec(dir, "16");  // 4 tensors, 4 chunks
  spec.replace(spec.find("servers: 2"), 10, "servers: 6");
  std::ofstream(spread) << spec << "checkpoint: {dir: " << dir << ", every_steps: 100}\n";
  testing::CommandResult r = testing::RunCommand({kPsdctl, "validate", spread});
  CHECK(r.exit_code == 0);
  CHECK(r.err == absl::StrCat(spread,
                              ": warning: the model has 4 chunks of cluster.chunk_bytes, so 2 of "
                              "the 6 servers hold no parameters and its periodic checkpoints "
                              "never complete (docs/operations.md)\n"));
}

}  // namespace
}  // namespace psd
