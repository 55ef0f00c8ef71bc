// FakeResolver: a Resolver for unit tests. Answers come from a table set by the test; a name
// not in the table is NXDOMAIN. Counts the queries it gets.
#pragma once

#include <map>
#include <mutex>

#include "dns/resolver.h"

namespace txmail::dns {

class FakeResolver final : public Resolver {
 public:
  void set(const std::string& name, RecordType type, Result<Answer> answer);
  awaitable<Result<Answer>> query(std::string name, RecordType type) override;
  int queries(const std::string& name, RecordType type) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, RecordType>, Result<Answer>> answers_;
  std::map<std::pair<std::string, RecordType>, int> counts_;
};

}  // namespace txmail::dns
