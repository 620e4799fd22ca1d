// Catch2 main for every psd test binary. A listener counts test cases as passed, failed or
// skipped and prints one summary line that tests/run.sh adds up across binaries.
#define CATCH_CONFIG_RUNNER
#include <cstdio>
#include <string>

#include "tests/testing.h"

namespace psd::testing {
namespace {

bool g_skipped = false;
std::string g_skip_reason;

struct Counts {
  int passed = 0, failed = 0, skipped = 0;
} g_counts;

class SummaryListener : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;

  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    g_skipped = false;
    TestEventListenerBase::testCaseStarting(info);
  }

  void testCaseEnded(const Catch::TestCaseStats& stats) override {
    if (stats.totals.assertions.failed > 0 || stats.totals.testCases.failed > 0) {
      ++g_counts.failed;
    } else if (g_skipped) {
      ++g_counts.skipped;
      std::printf("SKIPPED: %s: %s\n", stats.testInfo.name.c_str(), g_skip_reason.c_str());
    } else {
      ++g_counts.passed;
    }
    TestEventListenerBase::testCaseEnded(stats);
  }

  void testRunEnded(const Catch::TestRunStats& stats) override {
    std::printf("PSD_TEST_SUMMARY passed=%d failed=%d skipped=%d\n", g_counts.passed,
                g_counts.failed, g_counts.skipped);
    std::fflush(stdout);
    TestEventListenerBase::testRunEnded(stats);
  }
};

}  // namespace

void MarkSkipped(const std::string& reason) {
  g_skipped = true;
  g_skip_reason = reason;
}

}  // namespace psd::testing

using PsdSummaryListener = psd::testing::SummaryListener;
CATCH_REGISTER_LISTENER(PsdSummaryListener)

int main(int argc, char* argv[]) { return Catch::Session().run(argc, argv); }
