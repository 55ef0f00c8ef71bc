// Files a serving node keeps beside its stores: the admin token (DESIGN.md section 10: created
// with a random value on first start, so a fresh install can be administered at once) and the
// ports file (tests and tools find the bound ports there; listeners may use port 0).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "net/asio.h"
#include "smtp/server/options.h"

namespace txmail::app {

Result<void> ensure_admin_token(const std::string& path);
Result<std::string> read_admin_token(const std::string& path);
void write_ports(const std::string& data_dir, const std::vector<tcp::endpoint>& endpoints,
                 const std::vector<smtp::ListenerOptions>& listeners,
                 const std::vector<std::pair<tcp::endpoint, bool>>& http);

}  // namespace txmail::app
