// A tiny read-only HTTP/1.1 server: GET (and HEAD) only, one request per connection, a bounded
// request size and one deadline for a connection's whole request. It serves the Prometheus
// scrape (common/metrics_exposer.h) and the coordinator's web console (coordinator/console_http.h).
//
// Not civetweb (prometheus-cpp's Exposer): Debian's civetweb starts its threads with a stack size
// fixed when it was compiled (100 KiB), and pthread_create refuses that (EINVAL) in a process
// whose static TLS is larger — a worker linking cuBLAS and OpenBLAS has ~160 KiB. These threads
// get the default stack.
#ifndef PSD_COMMON_HTTP_SERVER_H_
#define PSD_COMMON_HTTP_SERVER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace psd {

struct HttpRequest {
  std::string method;  // "GET" or "HEAD"
  std::string path;    // without the query, e.g. "/api/jobs/j-1/history"
  std::string query;   // after '?', undecoded; empty when none
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// A plain-text response with `status` (a trailing newline is added).
HttpResponse TextResponse(int status, const std::string& text);

// Sets `value` to the value of `name` in a query string "a=1&b=2" (not percent-decoded: psd's
// parameters are numbers and ids); false when `name` is not there.
bool QueryParam(const std::string& query, const std::string& name, std::string* value);

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string name = "http";  // in error messages: "metrics: cannot listen on ..."
  // Exact paths, and prefixes: a key ending in '/' (other than "/") also serves every path
  // under it, the longest such prefix winning.
  std::map<std::string, HttpHandler> routes;
  // The body of a 404 for a path no route serves.
  std::string not_found = "not found";
  // Threads that answer requests: each serves one connection at a time.
  int threads = 1;
  // Headers on every response, e.g. {"X-Content-Type-Options", "nosniff"}.
  std::vector<std::pair<std::string, std::string>> headers;
  // A request (line and headers) longer than this is refused (431).
  size_t max_request_bytes = 8192;
  // A client gets this long in all to send its request, however it spaces its bytes, and as
  // long again to take the reply.
  absl::Duration deadline = absl::Seconds(5);
};

class HttpServer {
 public:
  // Listens on `host`:`port` (an IPv4 or IPv6 literal, or a name; port 0: any free port, see
  // port()). InvalidArgument for a bad port or name, Unavailable when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& host, int port,
                                                           HttpServerOptions options);
  // Stops serving; requests in progress finish first.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }

  // What the server answers to `request` (no socket): routing, 404 and 405.
  HttpResponse Dispatch(const HttpRequest& request) const;

 private:
  explicit HttpServer(HttpServerOptions options) : options_(std::move(options)) {}
  void Serve();
  void Answer(int fd) const;

  const HttpServerOptions options_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: the destructor wakes every Serve()
  int port_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace psd

#endif  // PSD_COMMON_HTTP_SERVER_H_
