// `txmail events --job ID` and `txmail events --recipient ADDRESS`: events from the event log,
// as JSON lines. The recipient is shown with its domain as a U-label ("recipient"), and the
// stored A-label form beside it ("recipient_a_label") when the two differ; a recipient is
// found by either form.
#pragma once

#include <string>

namespace txmail::app {

int events_for_job(const std::string& data_dir, const std::string& job_id);
int events_for_recipient(const std::string& data_dir, const std::string& address);

}  // namespace txmail::app
