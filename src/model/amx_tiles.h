// AMX tile state for the CPU kernels that use tiles: 16 rows to each of the 8 tiles (palette
// 1); tiles 4 and 5 are 64 bytes wide, the others `width` bytes (64, or narrower for products
// with fewer than 16 columns: the decode kernels' x rows). Internal header.
// Thread-safety: the tile configuration is per thread; a kernel configures it on the thread
// that runs it and releases it before returning that thread to the pool. Call only where
// cpu_features().amx is true (the process then has the OS's permission to use tiles).
#pragma once

namespace m4cxr {

// width: 4 to 64, a multiple of 4.
void configure_amx_tiles(int width = 64);
void release_amx_tiles();

}  // namespace m4cxr
