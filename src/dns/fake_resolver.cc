#include "dns/fake_resolver.h"

namespace txmail::dns {

void FakeResolver::set(const std::string& name, RecordType type, Result<Answer> answer) {
  std::lock_guard lock(mutex_);
  answers_.insert_or_assign({normalize_name(name), type}, std::move(answer));
}

awaitable<Result<Answer>> FakeResolver::query(std::string name, RecordType type) {
  Result<Answer> out = make_error(ErrorCode::kNotFound, name + ": no such domain");
  {
    std::lock_guard lock(mutex_);
    const auto key = std::pair{normalize_name(name), type};
    ++counts_[key];
    if (const auto it = answers_.find(key); it != answers_.end()) {
      out = it->second;
    }
  }
  co_return out;
}

int FakeResolver::queries(const std::string& name, RecordType type) const {
  std::lock_guard lock(mutex_);
  const auto it = counts_.find({normalize_name(name), type});
  return it == counts_.end() ? 0 : it->second;
}

}  // namespace txmail::dns
