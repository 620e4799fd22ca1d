#include "bench/scale/sim/calibration.h"

#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace psd::sim {

absl::StatusOr<Calibration> ParseCalibration(const std::string& text, const std::string& source) {
  Calibration c;
  c.source = source;
  std::map<std::string, double*> doubles = {
      {"compute_seconds", &c.compute_seconds},
      {"compute_flops_per_second", &c.compute_flops_per_second},
      {"rpc_cpu_fixed", &c.rpc_cpu_fixed},
      {"rpc_cpu_per_byte", &c.rpc_cpu_per_byte},
      {"rpc_latency", &c.rpc_latency},
      {"loopback_bytes_per_second", &c.loopback_bytes_per_second},
      {"header_bytes", &c.header_bytes},
      {"apply_accumulate_per_byte", &c.apply_accumulate_per_byte},
      {"apply_update_per_byte", &c.apply_update_per_byte},
      {"apply_fixed", &c.apply_fixed},
  };
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_no;
    absl::string_view line = raw.substr(0, raw.find('#'));
    std::vector<absl::string_view> f =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (f.empty()) continue;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", line_no, ": ", f[0], ": ", why));
    };
    const std::string key(f[0]);
    if (key == "measured") {
      MeasuredRun m;
      if (f.size() < 4 || !absl::SimpleAtoi(f[1], &m.servers) ||
          !absl::SimpleAtoi(f[2], &m.workers) || !absl::SimpleAtod(f[3], &m.samples_per_sec) ||
          (f.size() > 4 && !absl::SimpleAtod(f[4], &m.spread)) || m.servers < 1 || m.workers < 1 ||
          m.samples_per_sec <= 0) {
        return bad("want 'measured SERVERS WORKERS SAMPLES_PER_SEC [SPREAD]'");
      }
      c.measured.push_back(m);
      continue;
    }
    if (f.size() < 2) return bad("no value");
    if (key == "layers") {
      c.layers.clear();
      for (absl::string_view w : absl::StrSplit(f[1], ',')) {
        int v = 0;
        if (!absl::SimpleAtoi(w, &v) || v < 1) return bad(absl::StrCat("bad width '", w, "'"));
        c.layers.push_back(v);
      }
      if (c.layers.size() < 2) return bad("need at least two widths");
      continue;
    }
    if (key == "machine_cores" || key == "batch") {
      int v = 0;
      if (!absl::SimpleAtoi(f[1], &v) || v < 1) return bad("want a positive integer");
      (key == "batch" ? c.batch : c.machine_cores) = v;
      continue;
    }
    if (key == "chunk_bytes") {
      if (!absl::SimpleAtoi(f[1], &c.chunk_bytes) || c.chunk_bytes < 4) return bad("want >= 4");
      continue;
    }
    auto it = doubles.find(key);
    if (it == doubles.end()) return bad("unknown key");
    double v = 0;
    if (!absl::SimpleAtod(f[1], &v) || v < 0) return bad("want a number >= 0");
    *it->second = v;
  }
  if (c.compute_flops_per_second <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": compute_flops_per_second must be > 0"));
  }
  return c;
}

absl::StatusOr<Calibration> LoadCalibration(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read calibration file ", path));
  std::stringstream s;
  s << in.rdbuf();
  return ParseCalibration(s.str(), path);
}

std::string FormatCalibration(const Calibration& c, const std::string& comment) {
  std::string out;
  for (absl::string_view l : absl::StrSplit(comment, '\n')) absl::StrAppend(&out, "# ", l, "\n");
  auto put = [&](const char* key, double v, const char* what) {
    absl::StrAppend(&out, key, " ", absl::StrFormat("%.6g", v), "  # ", what, "\n");
  };
  absl::StrAppend(&out, "machine_cores ", c.machine_cores, "\n");
  absl::StrAppend(&out, "batch ", c.batch, "\n");
  absl::StrAppend(&out, "layers ", absl::StrJoin(c.layers, ","), "\n");
  absl::StrAppend(&out, "chunk_bytes ", c.chunk_bytes, "\n");
  put("compute_seconds", c.compute_seconds, "worker step without the exchange, 1 BLAS thread");
  put("compute_flops_per_second", c.compute_flops_per_second, "model FLOPs per step / that");
  put("rpc_cpu_fixed", c.rpc_cpu_fixed, "CPU s per message, both ends");
  put("rpc_cpu_per_byte", c.rpc_cpu_per_byte, "CPU s per message byte, both ends");
  put("rpc_latency", c.rpc_latency, "one-way wall s per message beyond CPU");
  put("loopback_bytes_per_second", c.loopback_bytes_per_second, "0: loopback adds no time");
  put("header_bytes", c.header_bytes, "framing per message");
  put("apply_accumulate_per_byte", c.apply_accumulate_per_byte, "server s per pushed byte");
  put("apply_update_per_byte", c.apply_update_per_byte, "server s per byte, once a step");
  put("apply_fixed", c.apply_fixed, "server s per chunk push");
  for (const MeasuredRun& m : c.measured) {
    absl::StrAppend(&out, "measured ", m.servers, " ", m.workers, " ",
                    absl::StrFormat("%.1f %.3f", m.samples_per_sec, m.spread), "\n");
  }
  return out;
}

}  // namespace psd::sim
