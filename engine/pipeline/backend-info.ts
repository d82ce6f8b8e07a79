// BackendModelInfo from an opened checkpoint's configs: what every backend reports to the pipeline.
import type { Checkpoint } from '../io/checkpoint.js';
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
