// The model-backend interface the text-to-video pipeline drives: text encoders, the transformer velocity and the
// VAE decoder. Implementations: gpu-backend.ts (WebGPU), reference-backend.ts (float64 CPU), and one rank of a
// parallel world (engine/parallel/parallel-backend.ts).
import type { GenerateSettings, InitLatentsInfo } from './generate-settings.js';

/** Text conditioning of one prompt (spec section 3). */
export interface TextConditioning {
  /** prompt_embeds [T, J] row-major (T tokens, J = joint_attention_dim). */
  promptEmbeds: Float32Array;
  /** Token count T (CLIP + T5 tokens: 77 + 256 in real checkpoints, the tokenizer configs' lengths). */
  tokens: number;
  /** Channel count J. */
  jointDim: number;
  /** pooled_projections [P] (P = pooled_projection_dim). */
  pooled: Float32Array;
}

/** A float32 tensor with its shape (latents are [1, F, C, h, w]). */
export interface Tensor32 {
  shape: number[];
  data: Float32Array;
}

/** Decoded video: frames of width*height*3 bytes each, RGB interleaved, row-major (HWC). */
export interface DecodedVideo {
  width: number;
  height: number;
  frames: Uint8Array[];
}

/** What the pipeline needs to know about a backend's model sizes (all read from the checkpoint configs). */
export interface BackendModelInfo {
  /** Backend name for logs and the sidecar, e.g. "reference-f64". */
  name: string;
  latentChannels: number;
  patchSize: number;
  /** Pixels per latent pixel (2^(VAE up blocks - 1); 8 for the real VAE). */
  vaeScale: number;
  /** pos_embed_max_size M: latent h/patch and w/patch must be <= M. */
  posEmbedMaxSize: number;
  jointDim: number;
  pooledDim: number;
  /** Scheduler: shift and training steps (scheduler/scheduler_config.json). */
  shift: number;
  numTrainTimesteps: number;
}

export interface ModelBackend {
  readonly info: BackendModelInfo;
  /** Encode one prompt (an empty string for the unconditional branch goes through the encoders too). */
  encodeText(prompt: string): Promise<TextConditioning>;
  /** Flow velocity for latents [1, F, C, h, w] at timestep sigma*1000; returns the same shape. */
  velocity(latents: Tensor32, timestep: number, text: TextConditioning): Promise<Float32Array>;
  /**
   * Optional: both CFG branches at once (a GPU backend batches them). When absent the pipeline calls
   * velocity() twice. Returns [conditional, unconditional].
   */
  velocityPair?(latents: Tensor32, timestep: number, cond: TextConditioning, uncond: TextConditioning): Promise<[Float32Array, Float32Array]>;
  /**
   * Optional: the guided velocity v_u + weight (v_c - v_u) in one call (a GPU backend combines on the device and
   * reads back once; a CFG-parallel backend runs the branches on different GPUs). Preferred over velocityPair.
   */
  guidedVelocity?(latents: Tensor32, timestep: number, cond: TextConditioning, uncond: TextConditioning, weight: number): Promise<Float32Array>;
  /**
   * Optional: called once per generation with the resolved settings and the initial latents' description before
   * any model call (a multi-rank backend checks that every rank got the same settings, seed and initial latents
   * included, and fails with the difference otherwise).
   */
  beginGeneration?(settings: GenerateSettings, init: InitLatentsInfo): Promise<void>;
  /** Latents [1, F, C, h, w] -> RGB frames (z = latents/scaling + shift inside, spec section 5). */
  decode(latents: Tensor32): Promise<DecodedVideo>;
  /** Peak device memory in bytes so far, when the backend can measure it. */
  peakMemoryBytes?(): number | undefined;
  /** Weights streamed to the device so far: bytes read from the checkpoint, tensors and milliseconds. */
  weightsLoaded?(): { bytes: number; tensors: number; ms: number };
  dispose(): Promise<void>;
}
