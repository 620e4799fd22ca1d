#include "coordinator/console_http.h"

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "coordinator/console_assets.h"
#include "proto/coordinator.pb.h"

namespace psd {
namespace {

constexpr char kJson[] = "application/json; charset=utf-8";
constexpr char kJobsPrefix[] = "/api/jobs/";

std::string ContentType(absl::string_view name) {
  if (absl::EndsWith(name, ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(name, ".js")) return "text/javascript; charset=utf-8";
  if (absl::EndsWith(name, ".css")) return "text/css; charset=utf-8";
  return "application/octet-stream";
}

// The file's contents, or empty when it cannot be read.
std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

HttpResponse Static(absl::string_view name, std::string body) {
  HttpResponse r;
  r.content_type = ContentType(name);
  r.body = std::move(body);
  return r;
}

// JSON of `message` with snake_case field names and every field present (zeros included).
std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "null";
  return out;
}

HttpResponse Json(std::string body) {
  HttpResponse r;
  r.content_type = kJson;
  r.body = std::move(body);
  return r;
}

// A number for JSON: null for NaN, infinities or (test accuracy) "none yet".
std::string Number(double v) {
  if (!std::isfinite(v)) return "null";
  return absl::StrCat(v);
}

bool Finished(JobState s) { return s == JOB_SUCCEEDED || s == JOB_FAILED || s == JOB_CANCELLED; }

}  // namespace

absl::StatusOr<std::unique_ptr<ConsoleHttp>> ConsoleHttp::Start(JobManager* manager,
                                                                const ConsoleOptions& options) {
  std::unique_ptr<ConsoleHttp> c(new ConsoleHttp(manager, options));
  const std::string js = absl::StrCat(options.assets_dir, "/uPlot.iife.min.js");
  const std::string css = absl::StrCat(options.assets_dir, "/uPlot.min.css");
  c->uplot_js_ = ReadFileOrEmpty(js);
  c->uplot_css_ = ReadFileOrEmpty(css);
  if (c->uplot_js_.empty() || c->uplot_css_.empty()) {
    c->uplot_js_.clear();
    c->uplot_css_.clear();
    spdlog::warn(
        "console: uPlot is not installed ({} missing): the console serves without charts; run "
        "deploy/local/install_deps.sh (or set --console_assets_dir)",
        js);
  }
  absl::StatusOr<std::unique_ptr<HttpServer>> http =
      HttpServer::Start(options.address, options.port, c->Routes());
  if (!http.ok()) return http.status();
  c->http_ = *std::move(http);
  return c;
}

HttpServerOptions ConsoleHttp::Routes() {
  HttpServerOptions o;
  o.name = "console";
  o.threads = options_.threads;
  o.not_found = "not found: the console serves /, its assets and /api/...";
  o.headers = {{"Content-Security-Policy", "default-src 'self'"},
               {"X-Content-Type-Options", "nosniff"},
               {"Cache-Control", "no-store"},
               {"Referrer-Policy", "no-referrer"}};
  for (const ConsoleAsset* a = kConsoleAssets; !a->name.empty(); ++a) {
    const std::string path = a->name == "index.html" ? "/" : absl::StrCat("/", a->name);
    HttpResponse r = Static(a->name, std::string(a->content));
    o.routes[path] = [r](const HttpRequest&) { return r; };
  }
  const bool charts = charts_available();
  for (const auto& [name, body] :
       {std::pair<std::string, const std::string*>{"uPlot.iife.min.js", &uplot_js_},
        {"uPlot.min.css", &uplot_css_}}) {
    HttpResponse r = charts ? Static(name, *body)
                            : TextResponse(404,
                                           "uPlot not installed (run "
                                           "deploy/local/install_deps.sh)");
    o.routes["/" + name] = [r](const HttpRequest&) { return r; };
  }
  o.routes["/favicon.ico"] = [](const HttpRequest&) { return Static("favicon.ico", ""); };
  o.routes["/api/nodes"] = [this](const HttpRequest&) { return Nodes(); };
  o.routes["/api/jobs"] = [this](const HttpRequest&) { return Jobs(); };
  o.routes[kJobsPrefix] = [this](const HttpRequest& r) { return Job(r); };
  return o;
}

HttpResponse ConsoleHttp::Get(const std::string& target) const {
  HttpRequest r;
  r.method = "GET";
  const size_t q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) r.query = target.substr(q + 1);
  return http_->Dispatch(r);
}

HttpResponse ConsoleHttp::Nodes() const {
  return Json(absl::StrCat("{\"now_ms\":", absl::ToUnixMillis(absl::Now()),
                           ",\"charts\":", charts_available() ? "true" : "false",
                           ",\"nodes\":", ToJson(manager_->ListNodes()), "}"));
}

HttpResponse ConsoleHttp::Jobs() const {
  ListJobsResponse all = manager_->ListJobs();
  // Every queued and running job; of the finished ones, the newest.
  std::vector<const JobInfo*> finished;
  ListJobsResponse out;
  for (const JobInfo& j : all.jobs()) {
    if (Finished(j.state())) {
      finished.push_back(&j);
      continue;
    }
  }
  const size_t skip =
      finished.size() > options_.finished_jobs ? finished.size() - options_.finished_jobs : 0;
  size_t seen = 0;
  for (const JobInfo& j : all.jobs()) {
    if (Finished(j.state()) && seen++ < skip) continue;
    JobInfo* light = out.add_jobs();
    light->set_job_id(j.job_id());
    light->set_name(j.name());
    light->set_state(j.state());
    light->set_reason(j.reason());
    light->set_submitted_ms(j.submitted_ms());
    light->set_started_ms(j.started_ms());
    light->set_ended_ms(j.ended_ms());
    *light->mutable_progress() = j.progress();
    *light->mutable_result() = j.result();
    *light->mutable_stragglers() = j.stragglers();
  }
  return Json(absl::StrCat("{\"total\":", all.jobs_size(), ",\"jobs\":", ToJson(out), "}"));
}

HttpResponse ConsoleHttp::Job(const HttpRequest& request) const {
  std::string rest = request.path.substr(sizeof(kJobsPrefix) - 1);
  bool history = false;
  if (absl::EndsWith(rest, "/history")) {
    history = true;
    rest.resize(rest.size() - sizeof("/history") + 1);
  }
  if (rest.empty() || rest.find('/') != std::string::npos) {
    return TextResponse(404, "not found: /api/jobs/<id> or /api/jobs/<id>/history");
  }
  if (history) return History(rest, request.query);
  absl::StatusOr<JobInfo> job = manager_->GetJob(rest);
  if (!job.ok()) {
    return TextResponse(absl::IsNotFound(job.status()) ? 404 : 500,
                        std::string(job.status().message()));
  }
  const int total = job->events_size();
  if (static_cast<size_t>(total) > options_.events_tail) {
    job->mutable_events()->DeleteSubrange(0, total - static_cast<int>(options_.events_tail));
  }
  return Json(absl::StrCat("{\"events_total\":", total, ",\"job\":", ToJson(*job), "}"));
}

HttpResponse ConsoleHttp::History(const std::string& job_id, const std::string& query) const {
  int64_t since = -1;
  std::string value;
  if (QueryParam(query, "since", &value) && !absl::SimpleAtoi(value, &since)) {
    return TextResponse(400, absl::StrCat("since: expected a step number, got '", value, "'"));
  }
  absl::StatusOr<JobInfo> job = manager_->GetJob(job_id);
  if (!job.ok()) {
    return TextResponse(absl::IsNotFound(job.status()) ? 404 : 500,
                        std::string(job.status().message()));
  }
  const std::vector<HistoryPoint> points =
      manager_->history().Since(job_id, since, options_.history_points);
  // [step, loss, test accuracy (null: none yet), samples/s, wall seconds] per point.
  std::string body = "{\"points\":[";
  for (size_t i = 0; i < points.size(); ++i) {
    const HistoryPoint& p = points[i];
    absl::StrAppend(&body, i == 0 ? "" : ",", "[", p.step, ",", Number(p.loss), ",",
                    p.test_accuracy < 0 ? "null" : Number(p.test_accuracy), ",",
                    Number(p.samples_per_sec), ",", Number(p.wall_seconds), "]");
  }
  absl::StrAppend(&body, "],\"more\":", points.size() == options_.history_points ? "true" : "false",
                  "}");
  return Json(std::move(body));
}

}  // namespace psd
