// RoPE rotates each pair by theta = pos * freq; its transpose rotates by
// -theta, which is Rope::apply at position -pos (same cos, negated sin).
#include "first/train.h"

namespace first {

void rope_backward(const Rope& rope, float* dx, int n_heads, int pos) { rope.apply(dx, n_heads, -pos); }

}  // namespace first
