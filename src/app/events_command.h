// `txmail events --job ID`: the events of one job from the event log, as JSON lines.
#pragma once

#include <string>

namespace txmail::app {

int events_for_job(const std::string& data_dir, const std::string& job_id);

}  // namespace txmail::app
