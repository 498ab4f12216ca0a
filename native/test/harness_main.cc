#include <cstring>
#include "harness.h"

namespace harness {
std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}
int current_failures = 0;
}  // namespace harness

// Usage: first_native_tests [substring-filter]
int main(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : nullptr;
  int passed = 0, failed = 0;
  for (auto& c : harness::registry()) {
    if (filter && !std::strstr(c.name, filter)) continue;
    harness::current_failures = 0;
    try {
      c.fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "  unexpected exception: %s\n", e.what());
      ++harness::current_failures;
    }
    if (harness::current_failures == 0) {
      ++passed;
      std::printf("ok   %s\n", c.name);
    } else {
      ++failed;
      std::printf("FAIL %s\n", c.name);
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
