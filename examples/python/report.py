#!/usr/bin/env python3
"""Streams a chain-of-thought report for one chest X-ray through the m4cxr Python binding.

Usage: report.py MODEL_DIR IMAGE [--max-new-tokens N] [--fp32] [--threads N] [--ground-first-sentence]
"""
import argparse
import sys

import m4cxr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="checkpoint folder (config.json, *.safetensors, tokenizer.model)")
    ap.add_argument("image", help="PNG (8/16-bit), JPEG or BMP")
    ap.add_argument("--max-new-tokens", type=int, default=500)
    ap.add_argument("--fp32", action="store_true", help="float32 weights (default bfloat16)")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = all cores)")
    ap.add_argument("--ground-first-sentence", action="store_true",
                    help="then locate the report's first sentence, continuing the report's conversation")
    args = ap.parse_args()

    try:
        with m4cxr.Model(args.model, dtype="float32" if args.fp32 else "bfloat16", threads=args.threads) as model, \
                model.session() as session:
            stream = session.report(model.image(args.image), stream=True, max_new_tokens=args.max_new_tokens)
            turn = -1
            for piece in stream:  # Ctrl-C leaves the loop and cancels the generation
                if piece.turn != turn:
                    print("Findings: " if piece.turn == 0 else "\nReport: ", end="")
                    turn = piece.turn
                print(piece, end="", flush=True)
            result = stream.result()
            if args.ground_first_sentence and result.text.strip():
                # A task with images starts a new conversation unless told to continue it.
                sentence = result.text.strip().split(". ")[0]
                where = session.ground_phrase(model.image(args.image), sentence, continue_conversation=True,
                                              max_new_tokens=args.max_new_tokens)
                print(f"\n\n{sentence!r}: {where.text}", *(b.pixels for b in where.boxes))
    except m4cxr.Error as e:
        print(f"\nerror ({e.status_name}): {e}", file=sys.stderr)
        return 1

    print(f"\n\n{len(result.findings)} finding(s):", *result.findings)
    s = result.stats
    print(f"{s.generated_tokens} generated tokens, image {s.image_encode_ms:.0f} ms, prefill {s.prefill_ms:.0f} ms, "
          f"decode {s.decode_ms:.0f} ms", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
