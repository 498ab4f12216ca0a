// Minimal test harness for the native kernel tests (no external framework).
// TEST(name) { CHECK(cond) << ...; CHECK_NEAR(a, b, tol); }
#pragma once
#include <cmath>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace harness {

struct Case {
  const char* name;
  std::function<void()> fn;
};
std::vector<Case>& registry();
extern int current_failures;

struct Registrar {
  Registrar(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

// Collects a failure message; reported when it goes out of scope.
class Failure {
 public:
  Failure(const char* file, int line, const char* expr) { os_ << file << ":" << line << ": CHECK(" << expr << ") failed "; }
  ~Failure() {
    std::fprintf(stderr, "  %s\n", os_.str().c_str());
    ++current_failures;
  }
  template <typename T>
  Failure& operator<<(const T& v) {
    os_ << v;
    return *this;
  }

 private:
  std::ostringstream os_;
};

}  // namespace harness

#define HARNESS_CAT2(a, b) a##b
#define HARNESS_CAT(a, b) HARNESS_CAT2(a, b)
#define TEST(name)                                                              \
  static void name();                                                           \
  static harness::Registrar HARNESS_CAT(reg_, name)(#name, name);               \
  static void name()
#define CHECK(cond) \
  if (cond) {       \
  } else            \
    harness::Failure(__FILE__, __LINE__, #cond)
#define CHECK_NEAR(a, b, tol)                                                             \
  if (std::fabs(double(a) - double(b)) <= double(tol)) {                                  \
  } else                                                                                  \
    harness::Failure(__FILE__, __LINE__, #a " ~= " #b) << "(" << double(a) << " vs " << double(b) \
                                                       << ", tol " << double(tol) << ") "
