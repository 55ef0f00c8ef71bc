// Readiness: may this node take traffic now (GET /readyz, SMTP intake, POST /v2/jobs)? The one
// answer, from every reason a node must refuse new mail (issue site-1, DESIGN.md section 5):
// an operator's drain, a data directory that is not writable or nearly full, a spool that
// refuses writes, and in cluster mode a region whose quorum has not answered within the grace
// period (unless [cluster] on_quorum_loss = "local").
//
// reason() is cheap and callable from any thread: the disk is probed by probe_disk(), which
// serve() runs on a worker every second, never on an I/O thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

namespace txmail::app {

class Readiness {
 public:
  struct Sources {
    std::string data_dir;
    std::uint64_t min_free_space = 0;
    std::function<bool()> spool_accepting;                       // null: always
    std::function<std::optional<std::string>()> cluster_reason;  // null: embedded mode
  };

  explicit Readiness(Sources sources) : s_(std::move(sources)) {}

  std::optional<std::string> reason() const;
  // The reasons that send a client to another node at once (draining, the region lost): SMTP
  // refuses at the greeting. A full disk is the spool's to refuse, message by message (451).
  std::optional<std::string> intake_refusal() const;
  void set_draining(bool draining);

  bool draining() const { return draining_.load(); }

  // statvfs and a small write in the data directory.
  void probe_disk();

 private:
  Sources s_;
  std::atomic<bool> draining_{false};
  mutable std::mutex mutex_;
  std::optional<std::string> disk_;  // why the data directory cannot take data, or nullopt
};

}  // namespace txmail::app
