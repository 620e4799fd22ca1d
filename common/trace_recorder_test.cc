#include "common/trace_recorder.h"

#include <thread>
#include <vector>

#include "tests/testing.h"

namespace psd {
namespace {

TraceEvent At(int64_t step, const char* name = "forward") {
  TraceEvent e;
  e.name = name;
  e.track = "phases";
  e.step = step;
  e.start_us = 1000 * step;
  e.dur_us = 10;
  return e;
}

TEST_CASE("TraceRecorder keeps nothing until armed, then only the window's steps") {
  TraceRecorder r;
  CHECK_FALSE(r.armed());
  CHECK_FALSE(r.Wants(5));
  r.Record(At(5));
  CHECK(r.Take().events.empty());

  r.Arm("job-1", 3, 5);
  CHECK(r.Wants(3));
  CHECK(r.Wants(5));
  CHECK_FALSE(r.Wants(2));
  CHECK_FALSE(r.Wants(6));
  CHECK(r.Wants("job-1", 4));
  CHECK_FALSE(r.Wants("job-2", 4));
  for (int64_t step = 0; step < 10; ++step) r.Record(At(step));
  TraceRecorder::Taken t = r.Take();
  REQUIRE(t.events.size() == 3);
  CHECK(t.events[0].step == 3);
  CHECK(t.events[2].step == 5);
  CHECK(t.dropped == 0);
  CHECK(r.Take().events.empty());  // taken once

  r.Disarm();
  CHECK_FALSE(r.Wants(4));
  r.Record(At(4));
  CHECK(r.Take().events.empty());
}

TEST_CASE("TraceRecorder drops and counts events beyond its cap") {
  TraceRecorder r(/*max_events=*/4);
  r.Arm("j", 0, 100);
  for (int i = 0; i < 10; ++i) r.Record(At(1));
  TraceRecorder::Taken t = r.Take();
  CHECK(t.events.size() == 4);
  CHECK(t.dropped == 6);
  // Arming again starts afresh.
  r.Arm("j", 0, 100);
  r.Record(At(1));
  t = r.Take();
  CHECK(t.events.size() == 1);
  CHECK(t.dropped == 0);
}

TEST_CASE("TraceRecorder is safe to record from many threads") {
  TraceRecorder r(/*max_events=*/1000);
  r.Arm("j", 0, 10);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&r] {
      for (int i = 0; i < 500; ++i) {
        if (r.Wants(i % 20)) r.Record(At(i % 20));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  TraceRecorder::Taken taken = r.Take();
  // Steps 0..10 of every 20: 11 of 20 events kept per thread, 275 each, 1100 in all.
  CHECK(static_cast<int64_t>(taken.events.size()) + taken.dropped == 1100);
  CHECK(taken.events.size() == 1000);
}

TEST_CASE("TraceRecorder off costs a load: a million checks take well under a second") {
  TraceRecorder r;
  const absl::Time start = absl::Now();
  int64_t wanted = 0;
  for (int64_t i = 0; i < 1000000; ++i) wanted += r.Wants(i);
  CHECK(wanted == 0);
  // Generous for sanitizer builds; a relaxed load is about a nanosecond.
  CHECK(absl::Now() - start < absl::Seconds(1));
}

}  // namespace
}  // namespace psd
