package org.m4cxr;

/**
 * Token counts and timings of a task ({@code m4cxr_stats}).
 *
 * @param promptTokens ids of the last turn's prompt
 * @param prefilledTokens ids actually run over all turns (the rest came from the KV cache)
 * @param generatedTokens generated ids over all turns
 * @param imageEncodeMs time spent encoding images
 * @param prefillMs time spent on prompts
 * @param decodeMs time spent generating
 * @param stoppedByEos the last turn ended on end-of-sequence
 * @param cancelled the task was stopped by a cancel (the result holds what was produced)
 */
public record Stats(long promptTokens, long prefilledTokens, long generatedTokens, double imageEncodeMs,
                    double prefillMs, double decodeMs, boolean stoppedByEos, boolean cancelled) {}
