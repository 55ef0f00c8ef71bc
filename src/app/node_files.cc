#include "app/node_files.h"

#include <filesystem>
#include <fstream>

#include "common/ids.h"

namespace txmail::app {

Result<void> ensure_admin_token(const std::string& path) {
  if (std::filesystem::exists(path)) {
    return {};
  }
  std::string raw(32, '\0');
  random_bytes(raw.data(), raw.size());
  std::ofstream out(path, std::ios::trunc);
  if (!out) {
    return make_error(ErrorCode::kIo, "cannot write http.admin_token_file '" + path + "'");
  }
  out << hex(raw) << "\n";
  out.close();
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return {};
}

Result<std::string> read_admin_token(const std::string& path) {
  std::ifstream in(path);
  std::string token;
  if (!in || !std::getline(in, token)) {
    return make_error(ErrorCode::kIo, "cannot read http.admin_token_file '" + path + "'");
  }
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
    token.pop_back();
  }
  if (token.size() < 16) {
    return make_error(ErrorCode::kConfig,
                      "http.admin_token_file: the token is shorter than 16 characters");
  }
  return token;
}

void write_ports(const std::string& data_dir, const std::vector<tcp::endpoint>& endpoints,
                 const std::vector<smtp::ListenerOptions>& listeners,
                 const std::vector<std::pair<tcp::endpoint, bool>>& http) {
  static constexpr const char* kModes[] = {"relay", "submission", "submissions", "inbound"};
  const std::string tmp = data_dir + "/ports.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      out << "smtp " << kModes[static_cast<int>(listeners[i].mode)] << " "
          << endpoints[i].address().to_string() << ":" << endpoints[i].port() << "\n";
    }
    for (const auto& [ep, is_tls] : http) {
      out << "http " << (is_tls ? "https" : "http") << " " << ep.address().to_string() << ":"
          << ep.port() << "\n";
    }
  }
  std::filesystem::rename(tmp, data_dir + "/ports");
}

}  // namespace txmail::app
