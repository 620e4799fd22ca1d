// The calibration file: what FormatCalibration writes reads back; bad lines are named.
#include "bench/scale/sim/calibration.h"

#include <catch2/catch.hpp>

namespace psd::sim {
namespace {

TEST_CASE("a formatted calibration reads back") {
  Calibration c;
  c.machine_cores = 4;
  c.layers = {10, 5, 2};
  c.rpc_cpu_per_byte = 1.5e-9;
  c.measured.push_back({2, 3, 1234.5, 0.25});
  auto back = ParseCalibration(FormatCalibration(c, "a comment\nover two lines"), "test");
  REQUIRE(back.ok());
  CHECK(back->machine_cores == 4);
  CHECK(back->layers == std::vector<int>{10, 5, 2});
  CHECK(back->rpc_cpu_per_byte == Approx(1.5e-9));
  REQUIRE(back->measured.size() == 1);
  CHECK(back->measured[0].servers == 2);
  CHECK(back->measured[0].workers == 3);
  CHECK(back->measured[0].samples_per_sec == Approx(1234.5));
}

TEST_CASE("bad calibration lines are errors naming the line and key") {
  auto unknown = ParseCalibration("batch 64\nrpc_cpu_fixd 1e-6\n", "cal.txt");
  REQUIRE_FALSE(unknown.ok());
  CHECK(std::string(unknown.status().message()) == "cal.txt:2: rpc_cpu_fixd: unknown key");
  auto negative = ParseCalibration("rpc_latency -1\n", "cal.txt");
  REQUIRE_FALSE(negative.ok());
  CHECK(std::string(negative.status().message()).find("cal.txt:1: rpc_latency") == 0);
  CHECK_FALSE(ParseCalibration("measured 1 x 5\n", "cal.txt").ok());
  CHECK_FALSE(ParseCalibration("layers 784\n", "cal.txt").ok());
}

}  // namespace
}  // namespace psd::sim
