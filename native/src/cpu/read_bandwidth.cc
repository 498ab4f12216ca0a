// Streams a large buffer with plain 64-bit adds: the loop compiles to vector
// loads on any x86-64 and does far less arithmetic per byte than memory can
// deliver, so the time is the memory's.
#include "first/read_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#include "first/error.h"

namespace first {

namespace {
uint64_t sum_words(const uint64_t* p, size_t n) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += p[i];
    s1 += p[i + 1];
    s2 += p[i + 2];
    s3 += p[i + 3];
  }
  for (; i < n; ++i) s0 += p[i];
  return s0 + s1 + s2 + s3;
}
}  // namespace

ReadBandwidth measure_read_bandwidth(ThreadPool& pool, size_t bytes, int passes) {
  if (bytes < (1u << 20) || bytes > (size_t(16) << 30)) throw Error("measure_read_bandwidth: bytes must be 1 MiB .. 16 GiB");
  if (passes < 1 || passes > 1000) throw Error("measure_read_bandwidth: passes must be 1..1000");
  const size_t words = bytes / sizeof(uint64_t);
  std::vector<uint64_t> buf(words);
  // Each thread writes its own share first, so its pages are placed near it.
  pool.run([&](int t, int nt) {
    const size_t w0 = words * t / nt, w1 = words * (t + 1) / nt;
    for (size_t i = w0; i < w1; ++i) buf[i] = i;
  });
  std::vector<uint64_t> sink(static_cast<size_t>(pool.size()) * 8);  // 64 bytes per thread: no false sharing
  std::vector<double> rates;
  for (int pass = 0; pass <= passes; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.run([&](int t, int nt) {
      const size_t w0 = words * t / nt, w1 = words * (t + 1) / nt;
      sink[static_cast<size_t>(t) * 8] += sum_words(buf.data() + w0, w1 - w0);
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (pass > 0) rates.push_back(static_cast<double>(words * sizeof(uint64_t)) / s / 1e9);
  }
  // The sums must be used, or the reads could be dropped.
  uint64_t total = 0;
  for (uint64_t v : sink) total += v;
  if (total == 1) rates.push_back(0);
  std::sort(rates.begin(), rates.end());
  return ReadBandwidth{rates[rates.size() / 2], rates.back(), words * sizeof(uint64_t), passes};
}

}  // namespace first
