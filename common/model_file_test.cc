#include "common/model_file.h"

#include <cstdlib>
#include <fstream>

#include "common/crc32c.h"
#include "common/file_util.h"
#include "tests/testing.h"

namespace psd {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

ModelFile Sample() {
  ModelSpec spec;
  spec.type = ModelType::kLogreg;
  spec.input_dim = 5;
  spec.num_classes = 3;
  ModelFile m;
  m.spec_yaml = "name: x\n";
  m.tensors = ModelTensors(spec);
  for (const TensorInfo& t : m.tensors) {
    m.values.emplace_back(t.size);
    InitTensorSlice(9, t, 0, absl::MakeSpan(m.values.back()));
  }
  return m;
}

TEST_CASE("crc32c matches the standard check value", "[model_file]") {
  CHECK(Crc32c("123456789", 9) == 0xe3069283u);
  CHECK(Crc32c("", 0) == 0u);
  // Extending a checksum equals checksumming the concatenation.
  CHECK(Crc32c("6789", 4, Crc32c("12345", 5)) == 0xe3069283u);
}

TEST_CASE("a model file round-trips", "[model_file]") {
  const ModelFile m = Sample();
  const std::string path = TempPath("round.psdm");
  REQUIRE(WriteModelFile(path, m).ok());
  auto back = ReadModelFile(path);
  REQUIRE(back.ok());
  CHECK(back->spec_yaml == m.spec_yaml);
  REQUIRE(back->tensors.size() == 2);
  CHECK(back->tensors[0].name == "layer0.weight");
  CHECK(back->tensors[0].shape == std::vector<int64_t>{5, 3});
  CHECK(back->values == m.values);
}

TEST_CASE("a damaged model file is rejected with the reason", "[model_file]") {
  const std::string path = TempPath("bad.psdm");
  REQUIRE(WriteModelFile(path, Sample()).ok());
  std::string bytes = *ReadFileToString(path);

  std::string flipped = bytes;
  flipped[flipped.size() - 20] ^= 0x40;  // inside the last tensor's values
  REQUIRE(WriteFileAtomically(path, flipped).ok());
  CHECK(ReadModelFile(path).status().message() == path + ": tensor layer0.bias: checksum mismatch");

  REQUIRE(WriteFileAtomically(path, bytes.substr(0, 40)).ok());
  CHECK(ReadModelFile(path).status().message().find("truncated at byte") != std::string::npos);

  REQUIRE(WriteFileAtomically(path, "not a model at all").ok());
  CHECK(ReadModelFile(path).status().message() == path + ": not a psd model file (bad magic)");

  CHECK(ReadModelFile(TempPath("missing.psdm")).status().code() == absl::StatusCode::kNotFound);
}

// A model file of one tensor "w" with the given shape and value count, and no values.
std::string Forged(const std::vector<int64_t>& shape, uint64_t count) {
  std::string out("PSDMODEL", 8);
  auto put = [&out](auto v) { out.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
  put(uint32_t{1});  // version
  put(uint32_t{1});  // tensors
  put(uint64_t{0});  // spec size
  put(uint32_t{1});
  out += "w";
  put(static_cast<uint32_t>(shape.size()));
  for (int64_t d : shape) put(d);
  put(count);
  return out;
}

TEST_CASE("a model file whose sizes lie is an error, not a crash", "[model_file]") {
  const std::string path = TempPath("forged.psdm");
  // 2^62 values: 2^64 bytes wrapped to 0 in the bounds check, then 2^62 floats were allocated.
  // The tensor's checksum of no bytes (0) follows, so the old reader got to the allocation.
  const std::string zero_crc(4, '\0');
  REQUIRE(
      WriteFileAtomically(path, Forged({int64_t{1} << 62}, uint64_t{1} << 62) + zero_crc + zero_crc)
          .ok());
  CHECK(ReadModelFile(path).status().message() ==
        path + ": truncated at byte 49 while reading w (4611686018427387904 values)");
  // Dimensions whose product overflows, or that are negative.
  REQUIRE(WriteFileAtomically(path, Forged({int64_t{1} << 40, int64_t{1} << 40}, 0)).ok());
  CHECK(ReadModelFile(path).status().message() ==
        path + ": tensor w: shape 1099511627776 x 1099511627776 is too large");
  REQUIRE(WriteFileAtomically(path, Forged({-1, -1}, 1)).ok());
  CHECK(ReadModelFile(path).status().message() == path + ": tensor w: shape -1 x -1 is negative");
  // The whole file is bounded.
  REQUIRE(WriteModelFile(path, Sample()).ok());
  CHECK(ReadModelFile(path, 10).status().message().find("more than the limit of 10 bytes") !=
        std::string::npos);
  CHECK(ReadModelFile("/dev/zero").status().message() ==
        "not a regular file: /dev/zero (a character device)");
}

}  // namespace
}  // namespace psd
