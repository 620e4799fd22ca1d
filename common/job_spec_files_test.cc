// ParseOptions::check_files: the data files must be regular IDX files whose headers agree with
// each other and with the model, found by reading the headers only (and small label files).
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/job_spec.h"
#include "tests/fifo.h"
#include "tests/idx_writer.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

using testing::IdxBytes;
using testing::WriteGzip;
using testing::WriteIdx;

constexpr absl::Duration kDeadline = absl::Seconds(5);

struct Files {
  std::string dir, train_images, train_labels, test_images, test_labels;
};

// Four 2x3 training images and two test images of 3 classes.
Files WriteFiles(const std::string& name) {
  Files f;
  f.dir = testing::MakeTempDir(name);
  f.train_images = f.dir + "/train-images";
  f.train_labels = f.dir + "/train-labels";
  f.test_images = f.dir + "/test-images.gz";
  f.test_labels = f.dir + "/test-labels.gz";
  WriteIdx(f.train_images, {4, 2, 3}, std::vector<uint8_t>(24, 1));
  WriteIdx(f.train_labels, {4}, {0, 1, 2, 0});
  WriteGzip(f.test_images, IdxBytes({2, 2, 3}, std::vector<uint8_t>(12, 1)));
  WriteGzip(f.test_labels, IdxBytes({2}, {2, 1}));
  return f;
}

// Lines: 1 name, 2 model, 3 input_dim, 4 num_classes, 5 data, 6-9 the four files.
std::string Spec(const Files& f, int input_dim = 6, int num_classes = 3) {
  return absl::StrCat("name: job\nmodel:\n  input_dim: ", input_dim,
                      "\n  num_classes: ", num_classes, "\ndata:\n  train_images: ", f.train_images,
                      "\n  train_labels: ", f.train_labels, "\n  test_images: ", f.test_images,
                      "\n  test_labels: ", f.test_labels, "\n");
}

std::string ErrorOf(const std::string& yaml) {
  ParseOptions check;
  check.check_files = true;
  absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml, "job.yaml", check);
  if (spec.ok()) return "(parsed)";
  CHECK(spec.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(spec.status().message());
}

TEST_CASE("check_files accepts data files that agree with the model") {
  Files f = WriteFiles("spec-files");
  CHECK(ErrorOf(Spec(f)) == "(parsed)");
  // Without check_files nothing is read.
  f.train_images = f.dir + "/missing";
  CHECK(ParseJobSpec(Spec(f), "job.yaml").ok());
}

TEST_CASE("check_files names the field of a file that is missing or not a regular file") {
  Files f = WriteFiles("spec-files-kind");
  const std::string missing = f.dir + "/missing";
  Files bad = f;
  bad.test_labels = missing;
  CHECK(ErrorOf(Spec(bad)) == "job.yaml:9: data.test_labels: file not found: " + missing);
  bad.test_labels = f.dir;
  CHECK(ErrorOf(Spec(bad)) ==
        "job.yaml:9: data.test_labels: not a regular file: " + f.dir + " (a directory)");
  bad.test_labels = "/dev/zero";
  CHECK(ErrorOf(Spec(bad)) ==
        "job.yaml:9: data.test_labels: not a regular file: /dev/zero (a character device)");
}

TEST_CASE("check_files refuses a FIFO at once instead of waiting for a writer") {
  Files f = WriteFiles("spec-files-fifo");
  const std::string fifo = f.dir + "/fifo";
  REQUIRE(testing::MakeFifo(fifo));
  Files bad = f;
  bad.train_images = fifo;
  std::string error;
  REQUIRE(testing::ReturnsWithin(kDeadline, fifo, [&] { error = ErrorOf(Spec(bad)); }));
  CHECK(error == "job.yaml:6: data.train_images: not a regular file: " + fifo + " (a FIFO)");

  // The job file itself.
  absl::StatusOr<JobSpec> spec;
  REQUIRE(testing::ReturnsWithin(kDeadline, fifo, [&] { spec = LoadJobSpecFile(fifo); }));
  CHECK(spec.status().message() ==
        "cannot load job spec: not a regular file: " + fifo + " (a FIFO)");
}

TEST_CASE("check_files compares model.input_dim with the images' headers") {
  Files f = WriteFiles("spec-files-dim");
  CHECK(ErrorOf(Spec(f, 784)) == "job.yaml:3: model.input_dim: is 784, but " + f.train_images +
                                     " holds images of 2 x 3 = 6 values (data.train_images)");
  // The default input_dim is checked too; the message points at the images' field.
  std::string no_dim = Spec(f);
  no_dim.erase(no_dim.find("  input_dim: 6\n"), 15);
  CHECK(ErrorOf(no_dim) == "job.yaml:5: model.input_dim: is 784 (the default), but " +
                               f.train_images +
                               " holds images of 2 x 3 = 6 values (data.train_images)");
  WriteGzip(f.test_images, IdxBytes({2, 6}, std::vector<uint8_t>(12, 1)));
  CHECK(ErrorOf(Spec(f)) == "(parsed)");  // 6 values per image, in another shape
  WriteGzip(f.test_images, IdxBytes({2, 7}, std::vector<uint8_t>(14, 1)));
  CHECK(ErrorOf(Spec(f)) == "job.yaml:3: model.input_dim: is 6, but " + f.test_images +
                                " holds images of 7 values (data.test_images)");
}

TEST_CASE("check_files compares labels with images and the model's classes") {
  Files f = WriteFiles("spec-files-labels");
  WriteIdx(f.train_labels, {5}, {0, 1, 2, 0, 1});
  CHECK(ErrorOf(Spec(f)) == "job.yaml:7: data.train_labels: " + f.train_labels +
                                " has 5 labels but " + f.train_images + " has 4 images");
  WriteIdx(f.train_labels, {4, 1}, {0, 1, 2, 0});
  CHECK(ErrorOf(Spec(f)) ==
        "job.yaml:7: data.train_labels: " + f.train_labels + ": labels need 1 dimension, got 2");
  WriteIdx(f.train_labels, {4}, {0, 1, 2, 0});
  CHECK(ErrorOf(Spec(f, 6, 2)) == "job.yaml:7: data.train_labels: " + f.train_labels +
                                      ": label 2 of example 2 is not a class of the model "
                                      "(model.num_classes is 2)");
  WriteGzip(f.test_labels, IdxBytes({2}, {2, 9}));
  CHECK(ErrorOf(Spec(f)) == "job.yaml:9: data.test_labels: " + f.test_labels +
                                ": label 9 of example 1 is not a class of the model "
                                "(model.num_classes is 3)");
  WriteIdx(f.train_images, {4, 6}, std::vector<uint8_t>(24, 1));
  WriteIdx(f.train_labels, {4}, {0, 1, 2, 0});
  WriteGzip(f.test_labels, IdxBytes({2}, {2, 1}));
  CHECK(ErrorOf(Spec(f)) == "(parsed)");
  WriteIdx(f.train_images, {24}, std::vector<uint8_t>(24, 1));
  CHECK(ErrorOf(Spec(f)) == "job.yaml:6: data.train_images: " + f.train_images +
                                ": images need at least 2 dimensions, got 1");
}

TEST_CASE("check_files refuses a header that lies about the file's size") {
  Files f = WriteFiles("spec-files-lies");
  WriteIdx(f.train_images, {60000, 2, 3}, std::vector<uint8_t>(24, 1));
  CHECK(ErrorOf(Spec(f)) == "job.yaml:6: data.train_images: " + f.train_images +
                                ": truncated: its header says 60000 x 2 x 3 = 360000 bytes of "
                                "data, the file has 24");
  WriteIdx(f.train_images, {4, 2, 3}, std::vector<uint8_t>(30, 1));
  CHECK(ErrorOf(Spec(f)) == "job.yaml:6: data.train_images: " + f.train_images +
                                ": larger than its header says: 4 x 2 x 3 = 24 bytes of data, "
                                "the file has 30");
  std::ofstream(f.train_images, std::ios::binary) << "not idx";
  CHECK(ErrorOf(Spec(f)) ==
        "job.yaml:6: data.train_images: " + f.train_images + ": not an IDX file (bad magic)");
}

}  // namespace
}  // namespace psd
