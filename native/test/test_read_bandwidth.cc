// The read-bandwidth probe benchmarks set decode against: it reads, reports
// what it read, and refuses sizes it cannot honestly measure.
#include "first/error.h"
#include "first/read_bandwidth.h"
#include "harness.h"

using namespace first;

TEST(read_bandwidth_measures_and_refuses_bad_sizes) {
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    const ReadBandwidth bw = measure_read_bandwidth(pool, size_t(8) << 20, 3);
    CHECK(bw.bytes == (size_t(8) << 20)) << bw.bytes;
    CHECK(bw.passes == 3);
    // Any real machine streams between 100 MB/s and 10 TB/s.
    CHECK(bw.gb_per_second > 0.1 && bw.gb_per_second < 10000) << bw.gb_per_second;
    CHECK(bw.best_gb_per_second >= bw.gb_per_second);
  }
  ThreadPool pool(1);
  int threw = 0;
  try { measure_read_bandwidth(pool, 1000, 3); } catch (const Error&) { ++threw; }
  try { measure_read_bandwidth(pool, size_t(8) << 20, 0); } catch (const Error&) { ++threw; }
  CHECK(threw == 2);
}
