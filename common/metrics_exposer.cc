#include "common/metrics_exposer.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <prometheus/text_serializer.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace psd {
namespace {

constexpr size_t kMaxRequestBytes = 8192;
constexpr absl::Duration kRequestDeadline = absl::Seconds(5);

void WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the scraper went away
    done += static_cast<size_t>(n);
  }
}

std::string Response(const char* status, const char* type, const std::string& body) {
  return absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::Start(const std::string& host,
                                                                      int port) {
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("metrics port ", port, " is out of range"));
  }
  const std::string where = absl::StrCat(host, ":", port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = absl::StrCat(port);
  if (int e = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
      e != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics: cannot resolve ", host, ": ", gai_strerror(e)));
  }
  std::unique_ptr<MetricsExposer> e(new MetricsExposer);
  std::string error = "no address";
  for (addrinfo* a = found; a != nullptr && e->listen_fd_ < 0; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 16) != 0) {
      error = std::strerror(errno);
      close(fd);
      continue;
    }
    e->listen_fd_ = fd;
  }
  freeaddrinfo(found);
  if (e->listen_fd_ < 0) {
    return absl::UnavailableError(absl::StrCat("metrics: cannot listen on ", where, ": ", error));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (getsockname(e->listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return absl::InternalError(absl::StrCat("metrics: getsockname: ", std::strerror(errno)));
  }
  e->port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                         : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  e->wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (e->wake_fd_ < 0) {
    return absl::InternalError(absl::StrCat("metrics: eventfd: ", std::strerror(errno)));
  }
  e->thread_ = std::thread([p = e.get()] { p->Serve(); });
  return e;
}

MetricsExposer::~MetricsExposer() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    while (write(wake_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
    thread_.join();
  }
  if (listen_fd_ >= 0) close(listen_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void MetricsExposer::Register(std::shared_ptr<prometheus::Collectable> c) {
  absl::MutexLock lock(&mu_);
  collectables_.push_back(std::move(c));
}

std::string MetricsExposer::Render() const {
  std::vector<std::shared_ptr<prometheus::Collectable>> all;
  {
    absl::MutexLock lock(&mu_);
    all = collectables_;
  }
  std::vector<prometheus::MetricFamily> families;
  for (const auto& c : all) {
    for (auto& f : c->Collect()) families.push_back(std::move(f));
  }
  return prometheus::TextSerializer().Serialize(families);
}

void MetricsExposer::Serve() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Answer(fd);
    close(fd);
  }
}

void MetricsExposer::Answer(int fd) const {
  // A slow or silent client holds the (only) thread for at most kRequestDeadline in all, however
  // it spaces its bytes; writing the reply gets as long again.
  auto set_timeout = [fd](int option, absl::Duration d) {
    const absl::Duration left = std::max(d, absl::Milliseconds(1));
    timeval tv = absl::ToTimeval(left);
    setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv));
  };
  set_timeout(SO_SNDTIMEO, kRequestDeadline);
  const absl::Time deadline = absl::Now() + kRequestDeadline;
  std::string request;
  char buf[1024];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < kMaxRequestBytes) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return;  // too slow: no answer
    set_timeout(SO_RCVTIMEO, left);
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    request.append(buf, static_cast<size_t>(n));
  }
  const std::string line = request.substr(0, request.find("\r\n"));
  if (!absl::StartsWith(line, "GET ") && !absl::StartsWith(line, "HEAD ")) {
    return WriteAll(fd, Response("405 Method Not Allowed", "text/plain", "GET /metrics\n"));
  }
  const size_t path_start = line.find(' ') + 1;
  const std::string path = line.substr(path_start, line.find(' ', path_start) - path_start);
  if (path != "/metrics" && !absl::StartsWith(path, "/metrics?")) {
    return WriteAll(fd, Response("404 Not Found", "text/plain", "psd serves /metrics\n"));
  }
  std::string body = Render();
  if (absl::StartsWith(line, "HEAD ")) {
    std::string head = Response("200 OK", "text/plain; version=0.0.4; charset=utf-8", body);
    head.resize(head.size() - body.size());
    return WriteAll(fd, head);
  }
  WriteAll(fd, Response("200 OK", "text/plain; version=0.0.4; charset=utf-8", body));
}

}  // namespace psd
