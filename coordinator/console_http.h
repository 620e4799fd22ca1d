// The coordinator's live web console (--http_port; docs/observability.md, "Web console"): the
// page and its script (compiled in, coordinator/console_assets.h), the uPlot chart library
// (read at start from --console_assets_dir, where deploy/local/install_deps.sh installs it; the
// page says so plainly when it is missing) and read-only JSON of the coordinator's own state:
//   /api/nodes                        ListNodes, with the coordinator's clock
//   /api/jobs                         the job queue: queued and running jobs, the newest
//                                     finished ones (bounded), without their specs and events
//   /api/jobs/<id>                    GetJob, with only the tail of its events
//   /api/jobs/<id>/history?since=S    the job's progress points after step S (bounded)
// GET only. Plaintext: bind it to a trusted address (docs/security.md).
#ifndef PSD_COORDINATOR_CONSOLE_HTTP_H_
#define PSD_COORDINATOR_CONSOLE_HTTP_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/http_server.h"
#include "coordinator/job_manager.h"

namespace psd {

struct ConsoleOptions {
  std::string address = "127.0.0.1";
  int port = 0;  // 0: a free port (see ConsoleHttp::port())
  // Where uPlot.iife.min.js and uPlot.min.css are (the install step's directory).
  std::string assets_dir;
  int threads = 2;               // a slow browser holds one for at most 5 s
  size_t finished_jobs = 50;     // finished jobs /api/jobs lists, newest first
  size_t events_tail = 100;      // events /api/jobs/<id> returns, newest
  size_t history_points = 1000;  // points one /history answer holds at most
};

class ConsoleHttp {
 public:
  // `manager` must outlive the console. Logs one warning when uPlot is not in assets_dir.
  static absl::StatusOr<std::unique_ptr<ConsoleHttp>> Start(JobManager* manager,
                                                            const ConsoleOptions& options);
  int port() const { return http_->port(); }
  bool charts_available() const { return !uplot_js_.empty(); }
  // What a GET of `target` ("/api/jobs?x=1") answers, without a socket (for tests).
  HttpResponse Get(const std::string& target) const;

 private:
  ConsoleHttp(JobManager* manager, const ConsoleOptions& options)
      : manager_(manager), options_(options) {}
  HttpServerOptions Routes();
  HttpResponse Nodes() const;
  HttpResponse Jobs() const;
  // /api/jobs/<id> and /api/jobs/<id>/history.
  HttpResponse Job(const HttpRequest& request) const;
  HttpResponse History(const std::string& job_id, const std::string& query) const;

  JobManager* const manager_;
  const ConsoleOptions options_;
  std::string uplot_js_, uplot_css_;  // empty when not installed
  std::unique_ptr<HttpServer> http_;  // last: stopped first
};

}  // namespace psd

#endif  // PSD_COORDINATOR_CONSOLE_HTTP_H_
