// The web console (issue console-1, item 2): pages built into the binary, served under
// /console/, that talk to the REST API only (everything they show is scriptable), and the
// login that gives the browser a session (api/console_sessions.h):
//   GET  /console/, /console/<asset>   the pages (no credentials; they hold no data)
//   POST /console/login                {"token": "<API key or admin token>"} (application/json)
//                                      -> the session cookie and {"account", "admin", "csrf"}
//   GET  /console/session              the logged-in session's {"account", "admin", "csrf"}
//   POST /console/logout               ends the session (X-CSRF-Token required)
// docs/console.md tells what each page shows.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <variant>

#include "api/console_sessions.h"
#include "api/http.h"

namespace txmail::api {

// The pages (generated from src/api/console/ by CMake): the asset's body and content type, or
// nullopt for a name that is not one.
struct ConsoleAsset {
  std::string_view body;
  std::string_view content_type;
};

std::optional<ConsoleAsset> console_asset(std::string_view name);

// A browser answers a Basic challenge with its own password dialog (and a fetch() waits for it):
// a 401 meant for the console's script names the Bearer scheme only.
void challenge_bearer_only(Response& res);

class Console {
 public:
  // How a request's credentials are checked: the account, "" for the operator, or a problem.
  using Authenticate = std::function<std::variant<std::string, Response>(const Request&)>;

  Console(ConsoleSessions& sessions, Authenticate authenticate)
      : sessions_(sessions), authenticate_(std::move(authenticate)) {}

  static bool owns(std::string_view path) {
    return path == "/console" || path.starts_with("/console/");
  }

  // A request whose path owns() accepts.
  Response handle(const Request& r);

  // The longest login body taken.
  static constexpr std::size_t kMaxLoginBody = 1024;

 private:
  Response page(const Request& r);
  Response login(const Request& r);
  Response session(const Request& r);
  Response logout(const Request& r);

  ConsoleSessions& sessions_;
  Authenticate authenticate_;
};

}  // namespace txmail::api
