#include "common/trace_json.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace psd {
namespace {

// One lane of a track: the events open on it (each nested in the one before).
struct Lane {
  std::vector<int64_t> open_ends;
};

// Assigns each event (sorted by start, longer first) to the first lane where it either starts
// after everything open has ended or nests inside the innermost open event.
int PickLane(std::vector<Lane>& lanes, int64_t start, int64_t end) {
  for (size_t i = 0; i < lanes.size(); ++i) {
    std::vector<int64_t>& open = lanes[i].open_ends;
    while (!open.empty() && open.back() <= start) open.pop_back();
    if (open.empty() || end <= open.back()) {
      open.push_back(end);
      return static_cast<int>(i);
    }
  }
  lanes.push_back(Lane{{end}});
  return static_cast<int>(lanes.size() - 1);
}

void AppendMetadataEvent(std::string* out, const char* name, int pid, int tid,
                         const std::string& value, bool* first) {
  absl::StrAppend(out, *first ? "\n" : ",\n", "{\"ph\":\"M\",\"name\":\"", name, "\",\"pid\":", pid,
                  ",\"tid\":", tid, ",\"args\":{\"name\":", JsonQuote(value), "}}");
  *first = false;
}

}  // namespace

std::string JsonQuote(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::string WriteChromeTrace(const std::vector<TraceNode>& nodes,
                             const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::string out = "{\"traceEvents\":[";
  bool first = true;
  for (size_t n = 0; n < nodes.size(); ++n) {
    const TraceNode& node = nodes[n];
    const int pid = static_cast<int>(n) + 1;
    AppendMetadataEvent(&out, "process_name", pid, 0, node.label, &first);
    absl::StrAppend(&out, ",\n{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":", pid,
                    ",\"tid\":0,\"args\":{\"sort_index\":", pid, "}}");
    // Events by track, each track's by start (an enclosing event before what it encloses).
    std::map<std::string, std::vector<const TraceEvent*>> tracks;
    for (const TraceEvent& e : node.events) tracks[e.track].push_back(&e);
    int next_tid = 1;
    for (auto& [track, events] : tracks) {
      std::sort(events.begin(), events.end(), [](const TraceEvent* a, const TraceEvent* b) {
        if (a->start_us != b->start_us) return a->start_us < b->start_us;
        return a->dur_us > b->dur_us;
      });
      std::vector<Lane> lanes;
      std::vector<int> lane_tids;
      for (const TraceEvent* e : events) {
        const int64_t start = e->start_us - node.offset_us;
        const int64_t dur = std::max<int64_t>(0, e->dur_us);
        const int lane = PickLane(lanes, e->start_us, e->start_us + dur);
        if (lane >= static_cast<int>(lane_tids.size())) {
          lane_tids.push_back(next_tid++);
          AppendMetadataEvent(&out, "thread_name", pid, lane_tids.back(),
                              lane == 0 ? track : absl::StrCat(track, " #", lane + 1), &first);
          // Lanes in order under their track (viewers sort threads by name otherwise).
          absl::StrAppend(&out, ",\n{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":", pid,
                          ",\"tid\":", lane_tids.back(),
                          ",\"args\":{\"sort_index\":", lane_tids.back(), "}}");
        }
        absl::StrAppend(&out, ",\n{\"ph\":\"X\",\"name\":", JsonQuote(e->name),
                        ",\"cat\":", JsonQuote(track), ",\"pid\":", pid,
                        ",\"tid\":", lane_tids[lane], ",\"ts\":", start, ",\"dur\":", dur,
                        ",\"args\":{\"step\":", e->step);
        for (const auto& [key, value] : e->args) {
          absl::StrAppend(&out, ",", JsonQuote(key), ":", value);
        }
        out += "}}";
      }
    }
  }
  out += "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{";
  bool first_field = true;
  for (const auto& [key, value] : metadata) {
    absl::StrAppend(&out, first_field ? "" : ",", JsonQuote(key), ":", JsonQuote(value));
    first_field = false;
  }
  absl::StrAppend(&out, first_field ? "" : ",", "\"nodes\":[");
  for (size_t n = 0; n < nodes.size(); ++n) {
    const TraceNode& node = nodes[n];
    absl::StrAppend(&out, n == 0 ? "" : ",", "\n{\"pid\":", n + 1,
                    ",\"label\":", JsonQuote(node.label), ",\"role\":", JsonQuote(node.role),
                    ",\"rank\":", node.rank, ",\"node_id\":", JsonQuote(node.node_id),
                    ",\"clock_offset_us\":", node.offset_us, ",\"clock_error_us\":", node.error_us,
                    ",\"events\":", node.events.size(), ",\"dropped_events\":", node.dropped,
                    ",\"note\":", JsonQuote(node.note), "}");
  }
  out += "]}}\n";
  return out;
}

}  // namespace psd
