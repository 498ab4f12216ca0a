// Every engine failure is a first::Error with a message meant for the user.
// Native code never aborts: the binding turns these into JS exceptions.
#pragma once
#include <stdexcept>
#include <string>

namespace first {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// Raised when the paged KV cache has no free block left.
class KvCapacityError : public Error {
 public:
  explicit KvCapacityError(const std::string& msg) : Error(msg) {}
};

}  // namespace first
