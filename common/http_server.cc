#include "common/http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace psd {
namespace {

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

void WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the client went away, or took longer than the deadline
    done += static_cast<size_t>(n);
  }
}

}  // namespace

HttpResponse TextResponse(int status, const std::string& text) {
  HttpResponse r;
  r.status = status;
  r.body = absl::StrCat(text, "\n");
  return r;
}

bool QueryParam(const std::string& query, const std::string& name, std::string* value) {
  for (absl::string_view part : absl::StrSplit(query, '&')) {
    const size_t eq = part.find('=');
    if (part.substr(0, eq) != name) continue;
    *value = eq == absl::string_view::npos ? "" : std::string(part.substr(eq + 1));
    return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& host, int port,
                                                              HttpServerOptions options) {
  const std::string name = options.name;
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": port ", port, " is out of range"));
  }
  if (options.threads < 1) options.threads = 1;
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
        absl::StrCat(name, ": cannot resolve ", host, ": ", gai_strerror(e)));
  }
  std::unique_ptr<HttpServer> s(new HttpServer(std::move(options)));
  std::string error = "no address";
  for (addrinfo* a = found; a != nullptr && s->listen_fd_ < 0; a = a->ai_next) {
    // Non-blocking: with several threads polling one socket, those that lose the race for a
    // connection get EAGAIN instead of blocking in accept.
    const int fd =
        socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
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
    s->listen_fd_ = fd;
  }
  freeaddrinfo(found);
  if (s->listen_fd_ < 0) {
    return absl::UnavailableError(absl::StrCat(name, ": cannot listen on ", where, ": ", error));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (getsockname(s->listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return absl::InternalError(absl::StrCat(name, ": getsockname: ", std::strerror(errno)));
  }
  s->port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                         : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  s->wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (s->wake_fd_ < 0) {
    return absl::InternalError(absl::StrCat(name, ": eventfd: ", std::strerror(errno)));
  }
  for (int i = 0; i < s->options_.threads; ++i) {
    s->threads_.emplace_back([p = s.get()] { p->Serve(); });
  }
  return s;
}

HttpServer::~HttpServer() {
  if (!threads_.empty()) {
    // Never read: the eventfd stays readable and wakes every thread.
    const uint64_t one = 1;
    while (write(wake_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
    for (std::thread& t : threads_) t.join();
  }
  if (listen_fd_ >= 0) close(listen_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

HttpResponse HttpServer::Dispatch(const HttpRequest& request) const {
  if (request.method != "GET" && request.method != "HEAD") {
    HttpResponse r = TextResponse(405, absl::StrCat(options_.name, " serves GET only"));
    return r;
  }
  if (auto it = options_.routes.find(request.path); it != options_.routes.end()) {
    return it->second(request);
  }
  const HttpHandler* best = nullptr;
  size_t best_length = 0;
  for (const auto& [prefix, handler] : options_.routes) {
    if (prefix.size() > 1 && prefix.back() == '/' && prefix.size() > best_length &&
        absl::StartsWith(request.path, prefix)) {
      best = &handler;
      best_length = prefix.size();
    }
  }
  if (best != nullptr) return (*best)(request);
  return TextResponse(404, options_.not_found);
}

void HttpServer::Serve() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;  // another thread took it
    Answer(fd);
    close(fd);
  }
}

void HttpServer::Answer(int fd) const {
  // A slow or silent client holds this thread for at most options_.deadline in all, however it
  // spaces its bytes; writing the reply gets as long again.
  auto set_timeout = [fd](int option, absl::Duration d) {
    const absl::Duration left = std::max(d, absl::Milliseconds(1));
    timeval tv = absl::ToTimeval(left);
    setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv));
  };
  set_timeout(SO_SNDTIMEO, options_.deadline);
  const absl::Time deadline = absl::Now() + options_.deadline;
  std::string request;
  char buf[1024];
  bool complete = false;
  while (request.size() <= options_.max_request_bytes) {
    if (request.find("\r\n\r\n") != std::string::npos) {
      complete = true;
      break;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return;  // too slow: no answer
    set_timeout(SO_RCVTIMEO, left);
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    request.append(buf, static_cast<size_t>(n));
  }
  HttpRequest parsed;
  const std::string line = request.substr(0, request.find("\r\n"));
  std::vector<std::string> parts = absl::StrSplit(line, ' ');
  HttpResponse response;
  if (!complete && request.size() > options_.max_request_bytes) {
    response = TextResponse(
        431, absl::StrCat("request longer than ", options_.max_request_bytes, " bytes"));
  } else if (parts.size() < 3 || parts[1].empty() || parts[1][0] != '/') {
    if (parts.size() >= 1 && !parts[0].empty() && parts[0] != "GET" && parts[0] != "HEAD") {
      response = Dispatch({parts[0], "/", ""});  // 405
    } else {
      response = TextResponse(400, "malformed request line");
    }
  } else {
    parsed.method = parts[0];
    const size_t q = parts[1].find('?');
    parsed.path = parts[1].substr(0, q);
    if (q != std::string::npos) parsed.query = parts[1].substr(q + 1);
    response = Dispatch(parsed);
  }
  std::string head = absl::StrCat("HTTP/1.1 ", response.status, " ", Reason(response.status),
                                  "\r\nContent-Type: ", response.content_type,
                                  "\r\nContent-Length: ", response.body.size());
  for (const auto& [name, value] : options_.headers)
    absl::StrAppend(&head, "\r\n", name, ": ", value);
  if (response.status == 405) absl::StrAppend(&head, "\r\nAllow: GET, HEAD");
  absl::StrAppend(&head, "\r\nConnection: close\r\n\r\n");
  if (parsed.method != "HEAD") head += response.body;
  WriteAll(fd, head);
}

}  // namespace psd
