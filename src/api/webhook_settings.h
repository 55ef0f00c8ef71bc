// /v2/webhooks: an account's push notification settings and its dead letters (issue core-5).
//
//   GET|PUT|DELETE /v2/webhooks/endpoint   the account's default endpoint
//                                          {"url", "headers", "authentication": {"method":
//                                          "BASIC", "user", "password"}}; never shows the password
//   GET  /v2/webhooks/secret               the account's signing secret (X-Txmail-Signature)
//   GET  /v2/webhooks/dead-letters         batches that ran out of tries (the operator: all)
//   POST /v2/webhooks/dead-letters/replay  sends them again
//
// The default endpoint is stored sealed with the master key ("webhook/<account>"): it may hold
// credentials.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "api/http.h"
#include "common/result.h"
#include "events/webhooks.h"
#include "store/config_store.h"

namespace txmail::api {

struct WebhooksDeps {
  store::ConfigStore& config;
  std::function<std::string(const std::string& plain, const std::string& context)> seal;
  std::function<Result<std::string>(const std::string& sealed, const std::string& context)> open;
  std::function<std::string(const std::string& account)> secret_of;
  events::WebhookDispatcher* dispatcher = nullptr;
};

class WebhooksApi {
 public:
  explicit WebhooksApi(WebhooksDeps deps) : d_(std::move(deps)) {}

  Response handle(const Request& r, const std::string& pattern);

  // The dispatcher is made after this (it asks for account endpoints): set it before serving.
  void set_dispatcher(events::WebhookDispatcher* d) { d_.dispatcher = d; }

  // The account's default endpoint (for the dispatcher); nullopt when none is set.
  std::optional<events::Endpoint> account_endpoint(const std::string& account);

 private:
  WebhooksDeps d_;
};

}  // namespace txmail::api
