// AMX tile state for the CPU kernels that use tiles: every one of the 8 tiles configured as
// 16 rows of 64 bytes (palette 1), the only shape these kernels use. Internal header.
// Thread-safety: the tile configuration is per thread; a kernel configures it on the thread
// that runs it and releases it before returning that thread to the pool. Call only where
// cpu_features().amx is true (the process then has the OS's permission to use tiles).
#pragma once

namespace m4cxr {

void configure_amx_tiles();
void release_amx_tiles();

}  // namespace m4cxr
