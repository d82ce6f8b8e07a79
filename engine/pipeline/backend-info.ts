// BackendModelInfo from an opened checkpoint's configs: what every backend reports to the pipeline.
import type { Checkpoint, PartialCheckpoint } from '../io/checkpoint.js';
import type { BackendModelInfo } from './backend.js';
import { vaeScaleFactor } from './reference-configs.js';

/** Backend info derived from a checkpoint's configs (shared by every backend). */
export function backendInfoFromCheckpoint(ckpt: Checkpoint, name: string): BackendModelInfo {
  const t = ckpt.transformer.config;
  return {
    name, latentChannels: t.in_channels, patchSize: t.patch_size, vaeScale: vaeScaleFactor(ckpt.vae.config),
    posEmbedMaxSize: t.pos_embed_max_size, jointDim: t.joint_attention_dim, pooledDim: t.pooled_projection_dim,
    shift: ckpt.scheduler.shift, numTrainTimesteps: ckpt.scheduler.num_train_timesteps,
  };
}

/**
 * Backend info from whichever parts are open (the single-stage commands open one part): each size comes from the
 * part that sets it, the text widths from the encoders when there is no transformer (the widths validation
 * requires of it: joint = max(CLIP-L + CLIP-G hidden, T5 d_model), pooled = CLIP-L + CLIP-G projection), latent
 * channels from the VAE when there is no transformer. A size that no opened part determines is NaN.
 */
export function partialBackendInfo(ckpt: PartialCheckpoint, name: string): BackendModelInfo {
  const t = ckpt.transformer?.config;
  const l = ckpt.textEncoder?.config;
  const g = ckpt.textEncoder2?.config;
  const t5 = ckpt.textEncoder3?.config;
  return {
    name,
    latentChannels: t?.in_channels ?? ckpt.vae?.config.latent_channels ?? NaN,
    patchSize: t?.patch_size ?? NaN,
    vaeScale: ckpt.vae ? vaeScaleFactor(ckpt.vae.config) : NaN,
    posEmbedMaxSize: t?.pos_embed_max_size ?? NaN,
    jointDim: t?.joint_attention_dim ?? (l && g ? Math.max(l.hidden_size + g.hidden_size, t5?.d_model ?? 0) : NaN),
    pooledDim: t?.pooled_projection_dim ?? (l && g ? l.projection_dim + g.projection_dim : NaN),
    shift: ckpt.scheduler?.shift ?? NaN,
    numTrainTimesteps: ckpt.scheduler?.num_train_timesteps ?? NaN,
  };
}
