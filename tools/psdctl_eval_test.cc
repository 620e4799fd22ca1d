// psdctl eval, run as a process: a tiny logistic-regression model file and IDX test set written
// here, its printed accuracy and loss checked against a hand computation, and its errors.
#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/job_spec.h"
#include "common/model_file.h"
#include "common/placement.h"
#include "tests/idx_writer.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

constexpr char kPsdctl[] = "tools/psdctl";

using testing::WriteIdx;

// Five 2x2 images (pixels 0 or 255, i.e. features 0 or 1 once normalised) and their labels.
const std::vector<std::vector<uint8_t>> kImages = {
    {255, 0, 0, 0}, {0, 255, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 255}, {255, 255, 0, 0}};
const std::vector<uint8_t> kLabels = {0, 1, 2, 0, 1};
// logreg 4 -> 3: W [in, out] row-major, and b.
const std::vector<float> kWeight = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0};
const std::vector<float> kBias = {0, 0, 0.5};

struct Files {
  std::string dir, model, images, labels;
};

std::string Spec(const Files& f, int input_dim) {
  return absl::StrFormat(R"(name: tiny
model:
  type: logreg
  input_dim: %d
  num_classes: 3
data:
  train_images: %s
  train_labels: %s
  test_images: %s
  test_labels: %s
)",
                         input_dim, f.images, f.labels, f.images, f.labels);
}

Files WriteFiles() {
  Files f;
  f.dir = testing::MakeTempDir("eval");
  f.model = f.dir + "/model.psdm";
  f.images = f.dir + "/images.idx";
  f.labels = f.dir + "/labels.idx";
  std::vector<uint8_t> pixels;
  for (const auto& image : kImages) pixels.insert(pixels.end(), image.begin(), image.end());
  WriteIdx(f.images, {5, 2, 2}, pixels);
  WriteIdx(f.labels, {5}, kLabels);
  ModelFile model;
  model.spec_yaml = Spec(f, 4);
  absl::StatusOr<JobSpec> spec = ParseJobSpec(model.spec_yaml, "spec");
  REQUIRE(spec.ok());
  model.tensors = ModelTensors(spec->model);
  model.values = {kWeight, kBias};
  REQUIRE(WriteModelFile(f.model, model).ok());
  return f;
}

// Accuracy (first highest logit) and mean cross-entropy, computed by hand.
std::pair<double, double> HandScore() {
  int correct = 0;
  double loss = 0;
  for (size_t e = 0; e < kImages.size(); ++e) {
    double logits[3];
    for (int o = 0; o < 3; ++o) {
      logits[o] = kBias[o];
      for (int i = 0; i < 4; ++i) logits[o] += kImages[e][i] / 255.0 * kWeight[i * 3 + o];
    }
    int best = 0;
    for (int o = 1; o < 3; ++o) {
      if (logits[o] > logits[best]) best = o;
    }
    correct += best == kLabels[e];
    double sum = 0;
    for (double l : logits) sum += std::exp(l);
    loss += std::log(sum) - logits[kLabels[e]];
  }
  return {static_cast<double>(correct) / kImages.size(), loss / kImages.size()};
}

testing::CommandResult Eval(std::vector<std::string> args) {
  args.insert(args.begin(), {kPsdctl, "eval"});
  return testing::RunCommand(args);
}

TEST_CASE("psdctl eval scores a model file on its spec's test set") {
  const Files f = WriteFiles();
  const auto [accuracy, loss] = HandScore();
  CHECK(accuracy == 0.6);  // examples 3 (label 0, predicted 2) and 4 (a tie: 0 wins) miss
  const testing::CommandResult r = Eval({f.model});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == absl::StrFormat("model %s: test_accuracy=%.4f test_loss=%.4f examples=5\n",
                                 f.model, accuracy, loss));
  CHECK(r.out == absl::StrCat("model ", f.model,
                              ": test_accuracy=0.6000 test_loss=0.8815 "
                              "examples=5\n"));
}

TEST_CASE("psdctl eval scores other data given with --data-images and --data-labels") {
  const Files f = WriteFiles();
  const std::string images = f.dir + "/one.idx", labels = f.dir + "/one-labels.idx";
  WriteIdx(images, {1, 2, 2}, {255, 0, 0, 0});
  WriteIdx(labels, {1}, {0});
  const testing::CommandResult r =
      Eval({f.model, "--data-images", images, "--data-labels", labels});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains(": test_accuracy=1.0000 "));
  CHECK_THAT(r.out, Catch::EndsWith(" examples=1\n"));
}

TEST_CASE("psdctl eval errors are one line naming the problem") {
  const Files f = WriteFiles();
  SECTION("not a model file") {
    const std::string bad = f.dir + "/bad.psdm";
    std::ofstream(bad) << "hello";
    const testing::CommandResult r = Eval({bad});
    CHECK(r.exit_code == 1);
    CHECK(r.err ==
          absl::StrCat("psdctl: ", bad, ": truncated at byte 0 while reading the magic\n"));
    std::ofstream(bad) << "NOTAMODEL-NOTAMODEL-NOTAMODEL";
    CHECK(Eval({bad}).err == absl::StrCat("psdctl: ", bad, ": not a psd model file (bad magic)\n"));
  }
  SECTION("a missing file") {
    const testing::CommandResult r = Eval({f.dir + "/missing.psdm"});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::StartsWith("psdctl: "));
    CHECK_THAT(r.err, Catch::Contains(f.dir + "/missing.psdm"));
  }
  SECTION("data of another width") {
    const std::string images = f.dir + "/wide.idx";
    WriteIdx(images, {5, 2, 3}, std::vector<uint8_t>(30, 0));
    const testing::CommandResult r =
        Eval({f.model, "--data-images", images, "--data-labels", f.labels});
    CHECK(r.exit_code == 1);
    CHECK(r.err == absl::StrCat("psdctl: model expects 4 inputs but ", images, " has 6\n"));
  }
  SECTION("a label the model has no class for") {
    const std::string labels = f.dir + "/bad-labels.idx";
    WriteIdx(labels, {5}, {0, 1, 2, 7, 0});
    const testing::CommandResult r =
        Eval({f.model, "--data-images", f.images, "--data-labels", labels});
    CHECK(r.exit_code == 1);
    CHECK(r.err ==
          absl::StrCat("psdctl: ", labels,
                       ": label 7 of example 3 is not a class of the model (3 classes)\n"));
  }
  SECTION("--data-images without --data-labels") {
    const testing::CommandResult r = Eval({f.model, "--data-images", f.images});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::StartsWith("psdctl: eval: --data-images and --data-labels go "
                                        "together"));
  }
  SECTION("a model file whose tensors do not match its spec") {
    ModelFile model;
    model.spec_yaml = Spec(f, 5);
    absl::StatusOr<JobSpec> spec = ParseJobSpec(Spec(f, 4), "spec");
    REQUIRE(spec.ok());
    model.tensors = ModelTensors(spec->model);
    model.values = {kWeight, kBias};
    const std::string path = f.dir + "/mismatch.psdm";
    REQUIRE(WriteModelFile(path, model).ok());
    const testing::CommandResult r = Eval({path});
    CHECK(r.exit_code == 1);
    CHECK(r.err == absl::StrCat("psdctl: ", path,
                                ": tensor 0 is layer0.weight [4, 3], but its spec's model has "
                                "layer0.weight [5, 3]\n"));
  }
}

}  // namespace
}  // namespace psd
