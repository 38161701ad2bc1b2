package org.m4cxr;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A generated token with its log-probability ({@code m4cxr_token_info}), recorded when a
 * task runs with {@link GenerationOptions#logprobs(int)}. The log-probability is the
 * natural log of the token's probability under the model's distribution at that step:
 * log_softmax, in fp32, of the raw logits (before temperature, top-k and top-p).
 * {@link #text()} is the token's SentencePiece piece ("\u2581" marks a space, byte tokens
 * read "&lt;0x0A&gt;"), not decoded text. Immutable.
 */
public final class Token {
  private final int id;
  private final String text;
  private final double logprob;
  private final List<Token> top;

  /**
   * @param id vocabulary id
   * @param text the token's SentencePiece piece
   * @param logprob natural log of its probability (&lt;= 0)
   * @param top the most likely tokens of that step, most likely first (empty for an alternative)
   */
  public Token(int id, String text, double logprob, List<Token> top) {
    this.id = id;
    this.text = text;
    this.logprob = logprob;
    this.top = Collections.unmodifiableList(new ArrayList<>(top));
  }

  /** Vocabulary id. */
  public int id() {
    return id;
  }

  /** The token's SentencePiece piece. */
  public String text() {
    return text;
  }

  /** Natural log of the token's probability at its step (&lt;= 0). */
  public double logprob() {
    return logprob;
  }

  /** The k most likely tokens of that step, most likely first (empty for an alternative itself). */
  public List<Token> top() {
    return top;
  }

  @Override
  public String toString() {
    return "Token[" + id + " " + text + " " + logprob + (top.isEmpty() ? "" : " top=" + top.size()) + "]";
  }
}
