#include "common/trace_proto.h"

namespace psd {

void ToProto(const TraceEvent& event, TimelineEvent* out) {
  out->set_name(event.name);
  out->set_track(event.track);
  out->set_step(event.step);
  out->set_start_us(event.start_us);
  out->set_dur_us(event.dur_us);
  for (const auto& [key, value] : event.args) {
    TimelineArg* arg = out->add_args();
    arg->set_key(key);
    arg->set_value(value);
  }
}

TraceEvent FromProto(const TimelineEvent& event) {
  TraceEvent out;
  out.name = event.name();
  out.track = event.track();
  out.step = event.step();
  out.start_us = event.start_us();
  out.dur_us = event.dur_us();
  for (const TimelineArg& arg : event.args()) out.args.emplace_back(arg.key(), arg.value());
  return out;
}

std::vector<TraceEvent> FromProto(const google::protobuf::RepeatedPtrField<TimelineEvent>& events) {
  std::vector<TraceEvent> out;
  out.reserve(events.size());
  for (const TimelineEvent& e : events) out.push_back(FromProto(e));
  return out;
}

}  // namespace psd
