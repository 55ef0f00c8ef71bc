// `txmail inbound list|show`: the inbound messages that could not be read, kept for inspection
// under <data_dir>/inbound-kept/ (app/kept_messages.h). Read-only, without the node.
#pragma once

#include <string>

namespace txmail::app {

// A JSON array, oldest first: id, receivedTs, bytes, and the message's From and Subject.
int inbound_list(const std::string& data_dir);
// The kept message's bytes as they came.
int inbound_show(const std::string& data_dir, const std::string& id);

}  // namespace txmail::app
