// How fast this machine streams memory: the bound a decode step, which reads
// every weight once, cannot beat. Benchmarks measure it in the same run as
// the figures they compare against it.
#pragma once
#include <cstddef>

#include "first/threadpool.h"

namespace first {

struct ReadBandwidth {
  double gb_per_second;  // median over the passes, 1e9 bytes per second
  double best_gb_per_second;
  size_t bytes;          // buffer size read per pass
  int passes;
};

// Reads a buffer of `bytes` (made larger than the caches by the caller) on all
// of pool's threads, each its own contiguous share, `passes` times after one
// untimed pass.
ReadBandwidth measure_read_bandwidth(ThreadPool& pool, size_t bytes, int passes);

}  // namespace first
