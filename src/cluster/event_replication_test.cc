// EventReplication against a real nats-server (JetStream, one server on a loopback port of its
// own, memory storage): an acceptance is answered once the region's stream has its events, and
// does not wait while the region is out of reach; a delivered job leaves the spool once the
// region's stream has its outcome.
#include "cluster/event_replication.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include "events/events_first_spool.h"
#include "events/recording_spool_testing.h"
#include "events/temp_log_testing.h"

namespace txmail::cluster {
namespace {

constexpr auto kPatience = std::chrono::seconds(30);  // a broken build fails, never hangs

// A port the kernel had free a moment ago (nats-server binds it next).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  // NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0
                     && ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  // NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)
  ::close(fd);
  return bound ? ntohs(addr.sin_port) : 0;  // 0: no server to connect to, the test fails
}

// One nats-server with JetStream, stopped (SIGKILL) by its PID.
class NatsServer {
 public:
  NatsServer()
      : dir_(std::filesystem::temp_directory_path()
             / ("txmail-replication-" + std::to_string(::getpid()))),
        port_(free_port()) {
    std::filesystem::create_directories(dir_);
    const std::string port = std::to_string(port_);
    const std::string store = dir_.string();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execlp("nats-server", "nats-server", "-js", "-a", "127.0.0.1", "-p", port.c_str(), "-sd",
               store.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }

  ~NatsServer() {
    stop();
    std::filesystem::remove_all(dir_);
  }

  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;
  NatsServer(NatsServer&&) = delete;
  NatsServer& operator=(NatsServer&&) = delete;

  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  std::filesystem::path dir_;
  int port_;
  pid_t pid_ = -1;
};

// The connection, once the server answers.
std::unique_ptr<NatsConnection> connect(const NatsServer& server,
                                        std::chrono::milliseconds timeout) {
  NatsOptions o;
  o.servers = {server.url()};
  o.name = "replication-test";
  o.timeout = timeout;
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto c = NatsConnection::open(o, false); c) {
      return std::move(*c);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the server is starting
  }
  return nullptr;
}

std::uint64_t events_stored(NatsConnection& nats) {
  jsStreamInfo* si = nullptr;
  if (js_GetStreamInfo(&si, nats.js(), kEventsStream, nullptr, nullptr) != NATS_OK) {
    return 0;
  }
  const std::uint64_t n = si->State.Msgs;
  jsStreamInfo_Destroy(si);
  return n;
}

bool add_events_stream(NatsConnection& nats) {
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = kEventsStream;
  const char* subjects[] = {kEventsSubjects};
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_MemoryStorage;
  jsStreamInfo* si = nullptr;
  const bool ok = js_AddStream(&si, nats.js(), &sc, nullptr, nullptr) == NATS_OK;
  jsStreamInfo_Destroy(si);
  return ok;
}

events::Event started(const std::string& job) {
  events::Event e = events::make_event(events::Kind::kStarted);
  e.job_id = job;
  e.mail_id = job + "#00000000#00000000";
  e.recipient = "ann@dest.test";
  return e;
}

// What the node's workers do in serve.cc, on a thread of its own here.
void answer_on_a_thread(std::function<void()> answer) {
  std::thread(std::move(answer)).detach();
}

// A node's events log replicated to a one-server region (with its stream) of its own.
struct Replicating {
  NatsServer server;
  events::TempLog file{"replication"};
  std::unique_ptr<NatsConnection> nats;
  std::unique_ptr<events::SqliteEventLog> log;
  std::unique_ptr<EventReplication> replication;

  ::testing::AssertionResult start(std::chrono::milliseconds timeout) {
    nats = connect(server, timeout);
    if (nats == nullptr) {
      return ::testing::AssertionFailure() << "nats-server did not start";
    }
    if (!add_events_stream(*nats)) {
      return ::testing::AssertionFailure() << "the events stream was not made";
    }
    auto opened =
        events::SqliteEventLog::open(file.path.string(), events::SqliteEventLog::Mode::kReadWrite);
    if (!opened) {
      return ::testing::AssertionFailure() << opened.error().detail;
    }
    log = std::move(*opened);
    auto started = EventReplication::start(*nats, "node-t", *log, nullptr, &answer_on_a_thread);
    if (!started) {
      return ::testing::AssertionFailure() << started.error().detail;
    }
    replication = std::move(*started);
    return ::testing::AssertionSuccess();
  }

  ~Replicating() {
    replication.reset();
    if (log) {
      log->close();
    }
  }

  Replicating() = default;
  Replicating(const Replicating&) = delete;
  Replicating& operator=(const Replicating&) = delete;
  Replicating(Replicating&&) = delete;
  Replicating& operator=(Replicating&&) = delete;
};

TEST(EventReplication, AnAcceptanceIsAnsweredOnceTheRegionStoredItsEvents) {
  Replicating node;
  ASSERT_TRUE(node.start(std::chrono::seconds(5)));

  for (int i = 1; i <= 3; ++i) {
    std::promise<std::uint64_t> in_stream;  // what the stream held when the answer came
    auto answered = in_stream.get_future();
    node.log->append_all({started("job-" + std::to_string(i))},
                         [&in_stream, &node] { in_stream.set_value(events_stored(*node.nats)); });
    ASSERT_EQ(answered.wait_for(kPatience), std::future_status::ready) << i;
    EXPECT_EQ(answered.get(), static_cast<std::uint64_t>(i));
  }
  EXPECT_EQ(node.replication->stats().answered_unpublished, 0U);
}

TEST(EventReplication, ADeliveredJobLeavesTheSpoolOnceTheRegionStoredItsOutcome) {
  Replicating node;
  ASSERT_TRUE(node.start(std::chrono::seconds(5)));
  // At each spool write: how many events the region's stream held.
  events::RecordingSpool inner(
      [&node] { return static_cast<std::int64_t>(events_stored(*node.nats)); });
  events::EventsFirstSpool spool(inner, *node.log);

  for (int i = 1; i <= 3; ++i) {
    events::Event delivered = started("job-" + std::to_string(i));
    delivered.kind = events::Kind::kDelivered;
    node.log->append(delivered);  // as delivery's outcome sink does, right before the write
    spool.erase("job-" + std::to_string(i), [](const Result<void>&) {});
    const auto writes = inner.writes(static_cast<std::size_t>(i), kPatience);
    ASSERT_EQ(writes.size(), static_cast<std::size_t>(i));
    EXPECT_EQ(writes.back().probed, i) << writes.back().job_id;
  }
  EXPECT_EQ(spool.flush(kPatience), 0U);
}

TEST(EventReplication, WithoutTheRegionAnAcceptanceDoesNotWait) {
  // Twice what the answer may take: an acceptance that waited for the region would sit it out.
  constexpr auto kTimeout = std::chrono::seconds(6);
  Replicating node;
  ASSERT_TRUE(node.start(kTimeout));

  node.server.stop();
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (node.nats->connected() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the library sees it gone
  }
  ASSERT_FALSE(node.nats->connected());
  std::promise<void> done;
  auto answered = done.get_future();
  node.log->append_all({started("job-x")}, [&done] { done.set_value(); });
  ASSERT_EQ(answered.wait_for(kTimeout / 2), std::future_status::ready);
  EXPECT_EQ(node.replication->stats().answered_unpublished, 1U);
  auto kept = node.log->for_job("job-x");  // on this disk, published once the region is back
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->size(), 1U);
  // Stopping takes up to the timeout: its consumer is not there to delete.
}

}  // namespace
}  // namespace txmail::cluster
