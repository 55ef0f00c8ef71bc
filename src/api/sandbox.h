// The sandbox API (issue console-1, item 3): what delivery captured for sandbox accounts
// instead of sending it (store/capture_store.h, queue/sandbox.h).
//   GET /v2/sandbox/messages?limit=&cursor=&account=
//       one page of captured messages, newest first, and the cursor of the next
//   GET /v2/sandbox/messages/{mailId}
//       one captured message: its envelope, header fields, body parts (text decoded) and the
//       raw bytes exactly as they would have been sent
// An account sees its own captures only (another's answers 404, like one that does not
// exist); the operator (admin token) sees every account's, or one account's with account=.
// Every bad parameter is a 400 naming it. docs/api.md tells the rules.
#pragma once

#include <string>

#include "api/http.h"
#include "store/capture_store.h"

namespace txmail::api {

class SandboxApi {
 public:
  explicit SandboxApi(store::CaptureStore& store) : store_(store) {}

  // account: the caller's; "" for the operator.
  Response list(const std::string& query, const std::string& account);
  Response message(const std::string& mail_id, const std::string& account);

 private:
  store::CaptureStore& store_;
};

}  // namespace txmail::api
