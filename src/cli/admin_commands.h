// Administration over the HTTP API: `txmail account ...`, `txmail key ...`, `txmail send`.
// Each prints JSON with --json (the API's answer), else a short human summary; a refused
// request prints the problem on stderr and exits 1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/api_client.h"

namespace txmail::cli {

struct AccountArgs {
  std::string name;
  std::string password;  // empty: the API generates one
  std::vector<std::string> allow_ips;
  std::vector<std::string> api_allow_ips;
  std::string pool;
  std::int64_t hourly_limit = -1;
  bool allow_unverified_domains = false;
  bool sandbox = false;
  bool unsubscribe = false;
  std::string key_name;
  std::string key_id;
  bool json = false;
};

int account_create(const ApiTarget& t, const AccountArgs& a);
int account_list(const ApiTarget& t, const AccountArgs& a);
int account_show(const ApiTarget& t, const AccountArgs& a);
int account_set_disabled(const ApiTarget& t, const AccountArgs& a, bool disabled);
int account_delete(const ApiTarget& t, const AccountArgs& a);
int key_create(const ApiTarget& t, const AccountArgs& a);
int key_list(const ApiTarget& t, const AccountArgs& a);
int key_revoke(const ApiTarget& t, const AccountArgs& a);
// `txmail drain [--resume]`: stop (or resume) intake on the node the API URL names.
int drain(const ApiTarget& t, bool resume, bool as_json);

struct SuppressionArgs {
  std::string email;
  std::string type;  // PREVIOUSLY_BOUNCED (default) or TEMPORARY_SUPPRESSED
  std::string reason;
  std::string after;
  std::size_t limit = 100;
  bool json = false;
};

// With the admin token, target.account names the account (X-Txmail-Account).
int suppression_list(const ApiTarget& t, const SuppressionArgs& s);
int suppression_add(const ApiTarget& t, const SuppressionArgs& s);
int suppression_remove(const ApiTarget& t, const SuppressionArgs& s);

struct QueueArgs {
  std::string site;
  std::string domain;
  std::string until;  // pause only; empty: until resumed
  bool json = false;
};

// `txmail queue list|pause|resume|retry`: the node's delivery queues (GET /v2/admin/queues and
// POST /v2/admin/queues/{verb}).
int queue_list(const ApiTarget& t, const QueueArgs& q);
int queue_action(const ApiTarget& t, const std::string& verb, const QueueArgs& q);

struct SendArgs {
  std::string from;
  std::vector<std::string> to;
  std::vector<std::string> cc;
  std::vector<std::string> bcc;
  std::string subject;
  std::string text;
  std::string html;
  std::vector<std::string> attach;  // files
  bool json = false;
};

int send(const ApiTarget& t, const SendArgs& s);

}  // namespace txmail::cli
