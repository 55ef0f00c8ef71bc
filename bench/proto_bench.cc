// Google Benchmark for the SMTP parsing hot functions: command lines and message data.
// Built as build/bench/proto_bench (make bench runs it after the ingest benchmark).
#include <benchmark/benchmark.h>

#include <string>

#include "smtp/proto/command.h"
#include "smtp/proto/message_reader.h"

namespace {

void BM_ParseMail(benchmark::State& state) {
  const std::string line = "MAIL FROM:<first.last+tag@sub.example.co.uk> SIZE=12345 BODY=8BITMIME";
  for (auto _ : state) {
    auto cmd = txmail::smtp::parse_command(line);
    benchmark::DoNotOptimize(cmd);
  }
}

BENCHMARK(BM_ParseMail);

void BM_ParseRcpt(benchmark::State& state) {
  const std::string line = "RCPT TO:<recipient@example.org>";
  for (auto _ : state) {
    auto cmd = txmail::smtp::parse_command(line);
    benchmark::DoNotOptimize(cmd);
  }
}

BENCHMARK(BM_ParseRcpt);

// DATA of N bytes in 76-character lines with a few stuffed dots.
void BM_DotReader(benchmark::State& state) {
  std::string wire;
  while (wire.size() < static_cast<std::size_t>(state.range(0))) {
    wire += (wire.size() % 1000 < 80 ? ".." : "") + std::string(74, 'x') + "\r\n";
  }
  wire += ".\r\n";
  std::string out;
  for (auto _ : state) {
    out.clear();
    txmail::smtp::DotReader reader(out, 1 << 30);
    benchmark::DoNotOptimize(reader.feed(wire));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations())
                          * static_cast<std::int64_t>(wire.size()));
}

BENCHMARK(BM_DotReader)->Arg(1024)->Arg(10240)->Arg(1 << 20);

}  // namespace

BENCHMARK_MAIN();
