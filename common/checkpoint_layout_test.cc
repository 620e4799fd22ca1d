#include "common/checkpoint_layout.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/testing.h"

namespace psd {
namespace {

namespace fs = std::filesystem;

TEST_CASE("the checkpoint layout is the one on disk since the first release") {
  CHECK(CheckpointJobDir("/ckpt", "mnist-3") == "/ckpt/mnist-3");
  CHECK(CheckpointStepDir("/ckpt", "mnist-3", 200) == "/ckpt/mnist-3/200");
  CHECK(CheckpointDataFile("/ckpt/mnist-3/200", 1) == "/ckpt/mnist-3/200/server-1");
  CHECK(CheckpointManifestFile("/ckpt/mnist-3/200", 1) == "/ckpt/mnist-3/200/server-1.manifest");
  CHECK(ExportedModelPath("/ckpt", "mnist-3") == "/ckpt/mnist-3/model.psdm");
}

TEST_CASE("job ids that could leave the checkpoint dir are refused") {
  for (const std::string& id :
       std::vector<std::string>{"mnist-3", "a", "A.b_c-9", std::string(128, 'x')}) {
    CHECK(ValidateJobId(id).ok());
  }
  const std::vector<std::string> bad = {"",
                                        "..",
                                        "../../x",
                                        ".hidden",
                                        "a/b",
                                        "a b",
                                        "\xc3\xa9",
                                        std::string(129, 'x'),
                                        std::string("a\0b", 3)};
  for (const std::string& id : bad) {
    INFO(id);
    const absl::Status s = ValidateJobId(id);
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(s.message()), Catch::Contains("must match [A-Za-z0-9._-]{1,128}"));
  }
  CHECK(ValidateJobId("../../x").message() ==
        "job id \"../../x\" must match [A-Za-z0-9._-]{1,128} and not start with '.'");
}

TEST_CASE("a resume dir must be a job's step dir") {
  CHECK(ValidateStepDir("/ckpt/mnist-3/200", 200).ok());
  CHECK(ValidateStepDir("rel/mnist-3/200/", 200).ok());
  CHECK_FALSE(ValidateStepDir("/ckpt/mnist-3/200", 300).ok());
  CHECK_FALSE(ValidateStepDir("/ckpt/../etc/200", 200).ok());
  CHECK_FALSE(ValidateStepDir("/ckpt/./x/200", 200).ok());
  CHECK_FALSE(ValidateStepDir("/ckpt/.x/200", 200).ok());
  CHECK_FALSE(ValidateStepDir("200", 200).ok());
  CHECK(ValidateStepDir("/ckpt/../200", 200).message() ==
        "checkpoint dir \"/ckpt/../200\": must not contain '.' or '..'");
}

TEST_CASE("ParseCheckpointStep reads the step back from a step dir") {
  CHECK(ParseCheckpointStep(CheckpointStepDir("/ckpt", "a-1", 500)) == 500);
  CHECK(ParseCheckpointStep("/ckpt/a-1/500/") == 500);
  CHECK(ParseCheckpointStep("500") == 500);
  CHECK(ParseCheckpointStep("rel/a-1/007") == 7);
  CHECK_FALSE(ParseCheckpointStep("/ckpt/a-1").has_value());
  CHECK_FALSE(ParseCheckpointStep("/ckpt/a-1/0").has_value());
  CHECK_FALSE(ParseCheckpointStep("/ckpt/a-1/-5").has_value());
  CHECK_FALSE(ParseCheckpointStep("/ckpt/a-1/+5").has_value());
  CHECK_FALSE(ParseCheckpointStep("/ckpt/a-1/5x").has_value());
  CHECK_FALSE(ParseCheckpointStep("/ckpt/a-1/99999999999999999999").has_value());
  CHECK_FALSE(ParseCheckpointStep("").has_value());
  CHECK_FALSE(ParseCheckpointStep("/").has_value());
}

TEST_CASE("ListCheckpointSteps lists a job's step dirs in order") {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(tmp ? tmp : "/tmp") + "/layout";
  fs::remove_all(dir);
  CHECK(ListCheckpointSteps(CheckpointJobDir(dir, "a-1")).empty());
  for (int64_t step : {300, 20, 1000}) fs::create_directories(CheckpointStepDir(dir, "a-1", step));
  fs::create_directories(CheckpointJobDir(dir, "a-1") + "/tmp");
  std::ofstream(ExportedModelPath(dir, "a-1")) << "model";
  std::ofstream(CheckpointJobDir(dir, "a-1") + "/40") << "a file, not a step dir";
  CHECK(ListCheckpointSteps(CheckpointJobDir(dir, "a-1")) == std::vector<int64_t>{20, 300, 1000});
}

}  // namespace
}  // namespace psd
