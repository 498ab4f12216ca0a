// A fixed pool of worker threads that run one parallel job at a time.
// The calling thread takes part, so threads = 1 means no extra thread.
// Workers spin briefly between jobs before sleeping: a decode step issues a
// few hundred small jobs, and a condition-variable wake-up per job would cost
// more than the work itself.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace first {

// A pause hint for spin loops (lets the sibling hyperthread run, saves power).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins until done() holds, yielding now and then: when the machine is
// oversubscribed, the thread waited for may need this core.
template <typename Done>
void spin_until(Done done) {
  for (int spins = 1; !done(); ++spins) {
    cpu_relax();
    if (spins % 256 == 0) std::this_thread::yield();
  }
}

class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // threads <= 0: hardware concurrency
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(thread_index, n_threads) on every thread and waits for all.
  void run(const std::function<void(int, int)>& fn);

  // Splits [0, n) into contiguous chunks, one per thread: fn(begin, end).
  // `grain` rounds chunk boundaries to a multiple (e.g. rows per tile).
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain = 1);

 private:
  void worker(int index);
  int n_threads_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace first
