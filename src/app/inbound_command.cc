#include "app/inbound_command.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cstdio>

#include "app/kept_messages.h"
#include "common/duration.h"
#include "mime/entity.h"

namespace txmail::app {

namespace {

std::string kept_dir(const std::string& data_dir) {
  return data_dir + "/inbound-kept";
}

}  // namespace

int inbound_list(const std::string& data_dir) {
  const std::string dir = kept_dir(data_dir);
  auto kept = list_kept(dir);
  if (!kept) {
    fmt::print(stderr, "txmail: inbound: {}\n", kept.error().detail);
    return 1;
  }
  boost::json::array out;
  for (const auto& m : *kept) {
    auto text = read_kept(dir, m.id);
    if (!text) {
      continue;  // dropped meanwhile to make room
    }
    const mime::Entity e = mime::split_entity(*text);
    out.push_back(boost::json::object{{"id", m.id},
                                      {"receivedTs", iso8601_ms(m.ts_ms)},
                                      {"bytes", m.bytes},
                                      {"from", mime::first_value(e.headers, "From")},
                                      {"subject", mime::first_value(e.headers, "Subject")}});
  }
  fmt::print("{}\n", boost::json::serialize(out));
  return 0;
}

int inbound_show(const std::string& data_dir, const std::string& id) {
  auto text = read_kept(kept_dir(data_dir), id);
  if (!text) {
    fmt::print(stderr, "txmail: inbound: {}\n", text.error().detail);
    return 1;
  }
  const std::string bytes = std::move(*text);
  std::fwrite(bytes.data(), 1, bytes.size(), stdout);
  return 0;
}

}  // namespace txmail::app
