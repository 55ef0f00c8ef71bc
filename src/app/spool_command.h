// `txmail spool list|show`: a read-only look at the spool, for operators and tests.
#pragma once

#include <string>

namespace txmail::app {

int spool_list(const std::string& data_dir, bool with_messages);
int spool_show(const std::string& data_dir, const std::string& job_id, bool raw);

}  // namespace txmail::app
