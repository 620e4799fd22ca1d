// Tests only: GET /metrics from 127.0.0.1:port over plain HTTP and parse the Prometheus text
// format into series -> value ("psd_x_total{job=\"j\",role=\"server\"}" -> 3).
#ifndef PSD_TESTS_METRICS_SCRAPE_H_
#define PSD_TESTS_METRICS_SCRAPE_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace psd::testing {

struct Scrape {
  std::string text;                          // the body as served
  std::map<std::string, double> samples;     // series (name and labels, as written) -> value
  std::map<std::string, std::string> types;  // metric family -> "counter", "histogram", ...
  // The value of `series`, or -1 when absent.
  double Get(const std::string& series) const {
    auto it = samples.find(series);
    return it == samples.end() ? -1 : it->second;
  }
  // The sum of every sample of metric `name` whose labels include all of `having`
  // ("job=\"j\"" etc.); -1 when there is none.
  double Sum(const std::string& name, const std::vector<std::string>& having = {}) const;
};

absl::StatusOr<Scrape> ScrapeMetrics(int port);
// A TCP connection to 127.0.0.1:port: its file descriptor, or -1.
int ConnectLoopback(int port);
// Sends `request` as it is on a new connection to 127.0.0.1:port and returns everything the
// server answers until it closes ("" when it cannot connect).
std::string RawHttp(int port, const std::string& request);
// GET `target` ("/metrics", "/api/v1/query?query=up") from 127.0.0.1:port over HTTP/1.0; the
// body of a 200 reply, else Unavailable with the status line.
absl::StatusOr<std::string> HttpGet(int port, const std::string& target);
// Parses a text-format body; InvalidArgument naming the first line that is not a sample.
absl::StatusOr<Scrape> ParseMetrics(const std::string& text);

}  // namespace psd::testing

#endif  // PSD_TESTS_METRICS_SCRAPE_H_
