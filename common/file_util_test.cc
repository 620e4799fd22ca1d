#include "common/file_util.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "tests/fifo.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

constexpr absl::Duration kDeadline = absl::Seconds(5);

std::string Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST_CASE("ReadFileToString refuses a FIFO at once instead of waiting for a writer") {
  const std::string fifo = testing::MakeTempDir("file-util") + "/fifo";
  REQUIRE(testing::MakeFifo(fifo));
  absl::StatusOr<std::string> read;
  REQUIRE(testing::ReturnsWithin(kDeadline, fifo, [&] { read = ReadFileToString(fifo); }));
  REQUIRE_FALSE(read.ok());
  CHECK(read.status().message() == "not a regular file: " + fifo + " (a FIFO)");
}

TEST_CASE("ReadRegularFile reads regular files within a limit") {
  const std::string dir = testing::MakeTempDir("file-util");
  const std::string path = Write(dir + "/ten", "0123456789");
  absl::StatusOr<std::string> read = ReadRegularFile(path, 10);
  REQUIRE(read.ok());
  CHECK(*read == "0123456789");
  CHECK(ReadRegularFile(Write(dir + "/empty", ""), 0).value() == "");

  read = ReadRegularFile(path, 9);
  CHECK(read.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(read.status().message() == path + ": 10 bytes, more than the limit of 9 bytes");

  read = ReadRegularFile(dir + "/missing", 100);
  CHECK(read.status().code() == absl::StatusCode::kNotFound);
  CHECK(read.status().message() == "file not found: " + dir + "/missing");
}

TEST_CASE("OpenRegularFile names what a path is when it is not a regular file") {
  const std::string dir = testing::MakeTempDir("file-util");
  const std::string fifo = dir + "/fifo";
  REQUIRE(testing::MakeFifo(fifo));
  absl::StatusOr<RegularFile> opened;
  REQUIRE(testing::ReturnsWithin(kDeadline, fifo, [&] { opened = OpenRegularFile(fifo); }));
  CHECK(opened.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(opened.status().message() == "not a regular file: " + fifo + " (a FIFO)");

  CHECK(OpenRegularFile(dir).status().message() == "not a regular file: " + dir + " (a directory)");
  CHECK(OpenRegularFile("/dev/null").status().message() ==
        "not a regular file: /dev/null (a character device)");

  char socket_dir[] = "/tmp/psd-sock-XXXXXX";  // sun_path is short: not under TEST_TMPDIR
  REQUIRE(mkdtemp(socket_dir) != nullptr);
  const std::string socket_path = std::string(socket_dir) + "/sock";
  const int s = socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(s >= 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  socket_path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  REQUIRE(bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  CHECK(OpenRegularFile(socket_path).status().message() ==
        "not a regular file: " + socket_path + " (a socket)");
  close(s);
  unlink(socket_path.c_str());
  rmdir(socket_dir);

  const std::string file = Write(dir + "/file", "abc");
  opened = OpenRegularFile(file);
  REQUIRE(opened.ok());
  CHECK(opened->size == 3);
  CHECK(opened->fd.get() >= 0);
}

}  // namespace
}  // namespace psd
