package org.m4cxr;

/** Layout of raw pixels given to {@link Model#imageFromPixels} ({@code m4cxr_pixel_format}). */
public enum PixelFormat {
  /** One byte per pixel. */
  GRAY8(1, 1),
  /** One 16-bit value per pixel, mapped to 8 bits as round(v/257). */
  GRAY16(1, 2),
  /** Three bytes per pixel, R G B. */
  RGB8(3, 1),
  /** Three 16-bit values per pixel, R G B. */
  RGB16(3, 2);

  private final int channels;
  private final int bytesPerSample;

  PixelFormat(int channels, int bytesPerSample) {
    this.channels = channels;
    this.bytesPerSample = bytesPerSample;
  }

  /** Values per pixel (1 or 3). */
  public int channels() {
    return channels;
  }

  /** Bytes per value (1 or 2). */
  public int bytesPerSample() {
    return bytesPerSample;
  }
}
