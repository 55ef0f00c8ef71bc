#include "cli/domain_commands.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

namespace txmail::cli {

namespace json = boost::json;

namespace {

std::string str(const json::value& v, const char* key) {
  const auto* p = v.is_object() ? v.as_object().if_contains(key) : nullptr;
  if (p == nullptr) {
    return {};
  }
  return p->is_string() ? std::string(p->as_string()) : json::serialize(*p);
}

void print_domain(const json::value& d) {
  fmt::print("domain {} (account {}): {}\n", str(d, "name"), str(d, "account"),
             str(d, "verified") == "true" ? "verified" : "not verified");
  for (const auto& k : d.at("keys").as_array()) {
    fmt::print("  key {} {} {}\n", str(k, "selector"), str(k, "algorithm"), str(k, "state"));
  }
  if (const std::string rp = str(d, "return_path_domain"); !rp.empty()) {
    fmt::print("  return path: b-<token>@{}\n", rp);
  }
  fmt::print("publish these DNS records:\n");
  for (const auto& c : d.at("records").as_array()) {
    const std::string type = str(c, "type");
    fmt::print("  [{}{}] {} {} {}\n", str(c, "status"),
               str(c, "required") == "true" ? "" : ", optional", str(c, "name"), type,
               type == "TXT" ? "\"" + str(c, "value") + "\"" : str(c, "value"));
    if (const std::string cname = str(c, "alternative_cname"); !cname.empty()) {
      fmt::print("      or: {} CNAME {}.\n", str(c, "name"), cname);
    }
    if (const std::string found = str(c, "found"); !found.empty()) {
      fmt::print("      found instead: \"{}\"\n", found);
    }
  }
}

std::string path_part(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// One request whose answer is a domain.
int with_domain(const ApiTarget& t, const std::string& method, const std::string& path,
                const std::string& body, bool as_json) {
  auto reply = call_or_report(t, method, path, body);
  if (!reply) {
    return 1;
  }
  if (as_json) {
    fmt::print("{}\n", reply->body);
    return 0;
  }
  boost::system::error_code ec;
  const auto v = json::parse(reply->body, ec);
  if (ec || !v.is_object()) {
    fmt::print("{}\n", reply->body);
    return 0;
  }
  print_domain(v);
  return 0;
}

}  // namespace

int domain_add(const ApiTarget& t, const DomainArgs& a) {
  json::object body{{"domain", a.domain}};
  if (!a.account.empty()) {
    body["account"] = a.account;
  }
  return with_domain(t, "POST", "/v2/domains", json::serialize(body), a.json);
}

int domain_list(const ApiTarget& target, const DomainArgs& a) {
  ApiTarget t = target;
  t.account = a.account;  // the operator acting for one account sees only its domains
  auto reply = call_or_report(t, "GET", "/v2/domains");
  if (!reply) {
    return 1;
  }
  boost::system::error_code ec;
  const auto v = json::parse(reply->body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("domains")) {
    fmt::print(stderr, "txmail: unexpected answer: {}\n", reply->body.substr(0, 200));
    return 1;
  }
  const auto& list = v.at("domains").as_array();
  if (a.json) {
    fmt::print("{}\n", json::serialize(list));
    return 0;
  }
  for (const auto& d : list) {
    fmt::print("{} {} {}\n", str(d, "name"), str(d, "account"),
               str(d, "verified") == "true" ? "verified" : "not-verified");
  }
  return 0;
}

int domain_show(const ApiTarget& t, const DomainArgs& a) {
  return with_domain(t, "GET", "/v2/domains/" + path_part(a.domain), "", a.json);
}

int domain_verify(const ApiTarget& t, const DomainArgs& a) {
  return with_domain(t, "POST", "/v2/domains/" + path_part(a.domain) + "/verify", "", a.json);
}

int dkim_rotate(const ApiTarget& t, const DomainArgs& a) {
  return with_domain(t, "POST", "/v2/domains/" + path_part(a.domain) + "/rotate", "", a.json);
}

int dkim_import(const ApiTarget& t, const DomainArgs& a) {
  std::ifstream in(a.key_file);
  if (!in) {
    fmt::print(stderr, "txmail: cannot read {}\n", a.key_file);
    return 1;
  }
  std::stringstream pem;
  pem << in.rdbuf();
  return with_domain(t, "POST", "/v2/domains/" + path_part(a.domain) + "/keys",
                     json::serialize(json::object{{"pem", pem.str()}}), a.json);
}

}  // namespace txmail::cli
