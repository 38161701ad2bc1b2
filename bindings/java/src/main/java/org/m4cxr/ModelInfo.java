package org.m4cxr;

/**
 * Architecture and runtime facts of a loaded model ({@code m4cxr_model_info}).
 *
 * @param visualTokensPerImage tokens one image occupies in the prompt
 * @param imageSize encoder input side in pixels (518 for the real model)
 * @param visionLayers vision encoder layers
 * @param visionHidden vision encoder width
 * @param textLayers language model layers
 * @param textHidden language model width
 * @param vocabSize tokenizer vocabulary size
 * @param dtype compute dtype
 * @param device device the weights live on ("cpu", "cuda:0", ...)
 * @param weightBytes bytes of weights
 * @param loraPairsMerged LoRA pairs merged at load time
 */
public record ModelInfo(int visualTokensPerImage, int imageSize, int visionLayers, int visionHidden, int textLayers,
                        int textHidden, int vocabSize, DType dtype, String device, long weightBytes,
                        int loraPairsMerged) {}
