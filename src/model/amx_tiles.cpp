#include "model/amx_tiles.h"

#include <cstdint>

namespace m4cxr {

#if defined(__x86_64__)
namespace {
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
}  // namespace

__attribute__((target("amx-tile"))) void configure_amx_tiles(int width) {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = static_cast<uint16_t>(t == 4 || t == 5 ? 64 : width);
    cfg.rows[t] = 16;
  }
  // Not _tile_loadconfig: GCC 12's declares an 8-byte operand, so the compiler drops the
  // stores of the rows and widths as dead (the tiles then fault as unconfigured).
  __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
}

__attribute__((target("amx-tile"))) void release_amx_tiles() { __asm__ volatile("tilerelease" ::); }
#else
void configure_amx_tiles(int) {}
void release_amx_tiles() {}
#endif

}  // namespace m4cxr
