#include "common/closest_name.h"

#include <string>
#include <vector>

#include "tests/testing.h"

namespace psd {
namespace {

TEST_CASE("EditDistance counts insertions, deletions, substitutions and swaps") {
  CHECK(EditDistance("wait", "wait") == 0);
  CHECK(EditDistance("wait", "wiat") == 1);  // neighbours swapped
  CHECK(EditDistance("wait", "wat") == 1);
  CHECK(EditDistance("wait", "waits") == 1);
  CHECK(EditDistance("wait", "want") == 1);
  CHECK(EditDistance("WAIT", "wait") == 0);  // case is ignored
  CHECK(EditDistance("", "abc") == 3);
  CHECK(EditDistance("kitten", "sitting") == 3);
}

TEST_CASE("ClosestName suggests the one candidate within a typo") {
  const std::vector<std::string> commands = {"validate", "submit", "status", "list",
                                             "cancel",   "nodes",  "wait",   "checkpoint"};
  CHECK(ClosestName("statsu", commands) == "status");
  CHECK(ClosestName("lsit", commands) == "list");
  CHECK(ClosestName("chekpoint", commands) == "checkpoint");
  CHECK(ClosestName("Submit", commands) == "submit");
  CHECK(ClosestName("frobnicate", commands) == std::nullopt);
  CHECK(ClosestName("", commands) == std::nullopt);
  // Short names allow fewer edits: one per four characters.
  CHECK(ClosestName("ls", {"list"}) == std::nullopt);
  CHECK(ClosestName("wt", {"wait"}) == std::nullopt);
  // Two candidates equally close: no guess.
  CHECK(ClosestName("data-image", {"data-images", "data-imagez"}) == std::nullopt);
  // The same name twice is one candidate.
  CHECK(ClosestName("wiat", {"wait", "wait"}) == "wait");
  CHECK(ClosestName("anything", {}) == std::nullopt);
}

}  // namespace
}  // namespace psd
