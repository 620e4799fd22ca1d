#include "tests/metrics_scrape.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace psd::testing {

double Scrape::Sum(const std::string& name, const std::vector<std::string>& having) const {
  double sum = 0;
  bool any = false;
  for (const auto& [series, value] : samples) {
    const std::string base = series.substr(0, series.find('{'));
    if (base != name) continue;
    bool match = true;
    for (const std::string& h : having) match = match && absl::StrContains(series, h);
    if (!match) continue;
    sum += value;
    any = true;
  }
  return any ? sum : -1;
}

absl::StatusOr<Scrape> ParseMetrics(const std::string& text) {
  Scrape s;
  s.text = text;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "# TYPE ")) {
      std::vector<std::string> f = absl::StrSplit(line, ' ');
      if (f.size() == 4) s.types[f[2]] = f[3];
      continue;
    }
    if (absl::StartsWith(line, "#")) continue;
    // name{labels} value [timestamp]; label values may hold spaces, so split after '}'.
    size_t end = line.find('}');
    end = end == absl::string_view::npos ? line.find(' ') : end + 1;
    if (end == absl::string_view::npos || end >= line.size()) {
      return absl::InvalidArgumentError(absl::StrCat("not a sample: ", line));
    }
    std::vector<std::string> rest = absl::StrSplit(line.substr(end), ' ', absl::SkipEmpty());
    double v = 0;
    if (rest.empty()) return absl::InvalidArgumentError(absl::StrCat("no value: ", line));
    if (rest[0] == "+Inf") {
      v = INFINITY;
    } else if (rest[0] == "NaN") {
      v = NAN;
    } else if (!absl::SimpleAtod(rest[0], &v)) {
      return absl::InvalidArgumentError(absl::StrCat("bad value: ", line));
    }
    s.samples[std::string(line.substr(0, end))] = v;
  }
  return s;
}

int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::string RawHttp(int port, const std::string& request) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  std::string out;
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
      static_cast<ssize_t>(request.size())) {
    char buf[16384];
    for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) out.append(buf, n);
  }
  close(fd);
  return out;
}

absl::StatusOr<std::string> HttpGet(int port, const std::string& target) {
  const std::string response =
      RawHttp(port, absl::StrCat("GET ", target, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"));
  if (response.empty()) {
    return absl::UnavailableError(absl::StrCat("127.0.0.1:", port, ": no answer to GET ", target));
  }
  if (!absl::StartsWith(response, "HTTP/1.") || !absl::StrContains(response.substr(0, 16), "200")) {
    return absl::UnavailableError(absl::StrCat(target, ": not 200: ", response.substr(0, 300)));
  }
  const size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos) return absl::UnavailableError("no HTTP body");
  return response.substr(body + 4);
}

absl::StatusOr<Scrape> ScrapeMetrics(int port) {
  absl::StatusOr<std::string> body = HttpGet(port, "/metrics");
  if (!body.ok()) return body.status();
  return ParseMetrics(*body);
}

}  // namespace psd::testing
