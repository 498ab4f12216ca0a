#include "first/quant.h"
#include "first/vec.h"

namespace first {

// One switch for every kernel family: the quant dispatch decides.
bool use_avx2() { return kernel_isa()[0] == 'a'; }

}  // namespace first
