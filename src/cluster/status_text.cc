// `txmail cluster status` as text: the JSON of status_json, laid out for a terminal.
#include <fmt/format.h>

#include <boost/json.hpp>

#include "cluster/cluster.h"
#include "cluster/event_replication.h"

namespace txmail::cluster {

namespace json = boost::json;

namespace {

std::int64_t number(const json::value& v) {
  return v.is_int64() ? v.as_int64() : v.is_uint64() ? static_cast<std::int64_t>(v.as_uint64()) : 0;
}

// The spool streams and the owners of the spools, for people.
std::string spool_text(const json::object& o) {
  std::string out;
  if (const auto* spools = o.if_contains("spool_streams")) {
    for (const auto& sv : spools->as_array()) {
      const auto& st = sv.as_object();
      if (const auto* err = st.if_contains("error")) {
        out += fmt::format("spool stream {}: {}\n", json::value_to<std::string>(st.at("stream")),
                           json::value_to<std::string>(*err));
        continue;
      }
      out +=
          fmt::format("spool stream {}: R{}, {} messages, {} bytes, leader {}\n",
                      json::value_to<std::string>(st.at("stream")), number(st.at("replicas")),
                      number(st.at("values")), number(st.at("bytes")),
                      st.contains("leader") ? json::value_to<std::string>(st.at("leader")) : "-");
    }
  }
  if (const auto* spools = o.if_contains("spools")) {
    for (const auto& sv : spools->as_array()) {
      const auto& sp = sv.as_object();
      auto str = [&](const char* k) {
        const auto* x = sp.if_contains(k);
        return x != nullptr && x->is_string() ? std::string(x->as_string()) : std::string("-");
      };
      out +=
          fmt::format("{}: owner {} ({}{}), revision {}\n", str("key"), str("owner"), str("kind"),
                      str("from") == "-" || str("from").empty() ? "" : ", from " + str("from"),
                      number(sp.at("revision")));
    }
  }
  return out;
}

}  // namespace

std::string status_text(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    return text;
  }
  const auto& o = v.as_object();
  std::string out;
  const auto& me = o.at("this_node").as_object();
  out += fmt::format("region {}: this node {} (site {}) talks to {}\n",
                     json::value_to<std::string>(o.at("region")),
                     json::value_to<std::string>(me.at("node")),
                     json::value_to<std::string>(me.at("site")),
                     json::value_to<std::string>(me.at("connected_url")));
  for (const auto& bv : o.at("buckets").as_array()) {
    const auto& b = bv.as_object();
    if (const auto* err = b.if_contains("error")) {
      out += fmt::format("bucket {}: {}\n", json::value_to<std::string>(b.at("bucket")),
                         json::value_to<std::string>(*err));
      continue;
    }
    out += fmt::format("bucket {}: R{}, {} values, leader {}\n",
                       json::value_to<std::string>(b.at("bucket")), number(b.at("replicas")),
                       number(b.at("values")),
                       b.contains("leader") ? json::value_to<std::string>(b.at("leader")) : "-");
    if (const auto* f = b.if_contains("followers")) {
      for (const auto& pv : f->as_array()) {
        const auto& p = pv.as_object();
        out += fmt::format("  follower {}: {}{}, lag {}\n",
                           json::value_to<std::string>(p.at("server")),
                           p.at("current").as_bool() ? "current" : "behind",
                           p.at("offline").as_bool() ? ", OFFLINE" : "", number(p.at("lag")));
      }
    }
  }
  out += spool_text(o);
  if (const auto* ev = o.if_contains("events_stream"); ev != nullptr && ev->is_object()) {
    const auto& st = ev->as_object();
    out +=
        st.contains("error")
            ? fmt::format("events stream {}: {}\n", kEventsStream,
                          json::value_to<std::string>(st.at("error")))
            : fmt::format(
                "events stream {}: R{}, {} messages, last seq {}, leader {}\n", kEventsStream,
                number(st.at("replicas")), number(st.at("values")), number(st.at("last_revision")),
                st.contains("leader") ? json::value_to<std::string>(st.at("leader")) : "-");
  }
  for (const auto& nv : o.at("nodes").as_array()) {
    const auto& n = nv.as_object();
    auto str = [&](const char* k) {
      const auto* x = n.if_contains(k);
      return x != nullptr && x->is_string() ? std::string(x->as_string()) : std::string("?");
    };
    auto num = [&](const char* k) {
      return n.contains(k) ? number(n.at(k)) : std::int64_t{-1};
    };
    out += fmt::format("node {}: site {}, via {}, last heartbeat {} ms ago", str("node"),
                       str("site"), str("server"), num("age_ms"));
    if (n.contains("generation")) {
      const auto* lease = n.if_contains("lease");
      out += fmt::format(
          "; spool generation {}, {} local-only, {} waiting to leave the stream, {} publishing, "
          "{} spools held, lease {}",
          num("generation"), num("local_only"), num("stream_pending"), num("publishing"),
          num("spools_held"),
          lease != nullptr && lease->is_bool() && lease->as_bool() ? "yes" : "no");
    }
    if (n.contains("events_imported_seq")) {
      out += fmt::format(
          "; events published up to log seq {}, copied up to stream seq {} ({} pending, the "
          "newest {} ms old when copied)",
          num("events_published_seq"), num("events_imported_seq"), num("events_import_pending"),
          num("events_import_lag_ms"));
    }
    out += "\n";
  }
  return out;
}

}  // namespace txmail::cluster
