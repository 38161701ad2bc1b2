package org.m4cxr;

import org.m4cxr.jni.m4cxr_generation_options;

/**
 * Settings of one task call ({@code m4cxr_generation_options}): decoding (greedy or
 * sampling, new-token limit) and whether a task that brings its own images continues the
 * session's conversation. Passed per call, as the last argument of every task method of
 * {@link Session}. Immutable: the {@code with}-style methods return a modified copy. A
 * setting never given keeps the library's default (greedy, 500 new tokens per turn, a new
 * conversation per task).
 */
public final class GenerationOptions {
  private static final GenerationOptions DEFAULTS = new GenerationOptions(null, false, null, null, null, null, false, null, false);

  private final Integer maxNewTokens;
  private final boolean doSample;
  private final Float temperature;
  private final Integer topK;
  private final Float topP;
  private final Long seed;
  private final boolean continueConversation;
  private final Integer logprobs;  // null = off
  private final boolean constrained;

  private GenerationOptions(Integer maxNewTokens, boolean doSample, Float temperature, Integer topK, Float topP,
                            Long seed, boolean continueConversation, Integer logprobs, boolean constrained) {
    this.maxNewTokens = maxNewTokens;
    this.doSample = doSample;
    this.temperature = temperature;
    this.topK = topK;
    this.topP = topP;
    this.seed = seed;
    this.continueConversation = continueConversation;
    this.logprobs = logprobs;
    this.constrained = constrained;
  }

  /** The library's defaults: greedy decoding (as the paper), 500 new tokens per turn, a new conversation per task. */
  public static GenerationOptions defaults() {
    return DEFAULTS;
  }

  /** Greedy decoding with at most {@code maxNewTokens} new tokens per turn. */
  public static GenerationOptions greedy(int maxNewTokens) {
    return DEFAULTS.maxNewTokens(maxNewTokens);
  }

  /** A copy with at most {@code n} new tokens per turn (validated by the library when a task starts). */
  public GenerationOptions maxNewTokens(int n) {
    return new GenerationOptions(n, doSample, temperature, topK, topP, seed, continueConversation, logprobs, constrained);
  }

  /**
   * A copy that samples instead of decoding greedily.
   *
   * @param temperature softmax temperature (&gt; 0)
   * @param topK keep the k most likely tokens (0 = off)
   * @param topP nucleus probability (1 = off)
   * @param seed random seed (same seed and settings give the same text)
   */
  public GenerationOptions sampling(float temperature, int topK, float topP, long seed) {
    return new GenerationOptions(maxNewTokens, true, temperature, topK, topP, seed, continueConversation, logprobs, constrained);
  }

  /**
   * A copy that, for a task bringing its own images, continues the session's conversation
   * ({@code true}) instead of starting a new one ({@code false}, the default). Every task
   * except {@code chat} starts a new conversation by default, so that nothing of an earlier
   * task (another patient's images, questions or answers) is in its prompt; continue only to
   * ask about the same study again (e.g. phrase grounding after a report). {@code chat}
   * always continues.
   */
  public GenerationOptions continueConversation(boolean continueConversation) {
    return new GenerationOptions(maxNewTokens, doSample, temperature, topK, topP, seed, continueConversation, logprobs, constrained);
  }

  /**
   * A copy that records, for every generated token, its log-probability and its {@code k}
   * most likely alternatives ({@code k} 0..100, validated when a task starts):
   * {@link Result#tokens()}. Off by default; the generated text is the same either way.
   * The log-probability is log_softmax, in fp32, of the model's raw logits at that step
   * (before temperature, top-k and top-p).
   */
  public GenerationOptions logprobs(int k) {
    return new GenerationOptions(maxNewTokens, doSample, temperature, topK, topP, seed, continueConversation, k, constrained);
  }

  /**
   * A copy with constrained decoding on ({@code true}) or off (the default): answers with a
   * fixed shape (the findings of a report, classification, every grounding and detection
   * answer, naming a finding, organ or region) can then only come out in upstream's format,
   * so they always parse. Free-text answers are unaffected.
   */
  public GenerationOptions constrained(boolean constrained) {
    return new GenerationOptions(maxNewTokens, doSample, temperature, topK, topP, seed, continueConversation, logprobs,
                                 constrained);
  }

  /** Whether a task continues the session's conversation (see {@link #continueConversation(boolean)}). */
  public boolean continuesConversation() {
    return continueConversation;
  }

  /** A native copy; the caller deletes it. */
  m4cxr_generation_options toNative() {
    m4cxr_generation_options g = new m4cxr_generation_options();  // m4cxr_generation_options_default
    if (maxNewTokens != null) g.setMax_new_tokens(maxNewTokens);
    g.setDo_sample(doSample ? 1 : 0);
    if (temperature != null) g.setTemperature(temperature);
    if (topK != null) g.setTop_k(topK);
    if (topP != null) g.setTop_p(topP);
    if (seed != null) g.setSeed(seed);
    g.setContinue_conversation(continueConversation ? 1 : 0);
    g.setConstrained(constrained ? 1 : 0);
    if (logprobs != null) {
      g.setLogprobs(1);
      g.setTop_logprobs(logprobs);
    }
    return g;
  }

  @Override
  public String toString() {
    return "GenerationOptions[maxNewTokens=" + (maxNewTokens == null ? "default" : maxNewTokens)
        + (doSample ? ", sampling temperature=" + temperature + " topK=" + topK + " topP=" + topP + " seed=" + seed
                    : ", greedy")
        + (continueConversation ? ", continue conversation" : "")
        + (logprobs != null ? ", logprobs " + logprobs : "") + (constrained ? ", constrained" : "") + "]";
  }
}
