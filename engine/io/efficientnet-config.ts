// The EfficientNet config of a timm state dict, read from its weight shapes (timm stores none): stem width, blocks
// per stage with their widths, kernel sizes and squeeze-excitation widths, head width and the classifier's linear
// layers; strides are EfficientNet's per stage (1, 2, 2, 2, 1, 2, 1: not visible in the weights), so the file must
// have the 7 stages of the architecture (any widths and depths: tiny test checkpoints reduce them). Every key and
// shape is then checked against the derived layout (keys.ts: efficientNetKeys); problems name the key and the fix.

import { CheckpointValidationError, checkKeys } from './checkpoint.js';
import type { EfficientNetBlockConfig, EfficientNetConfig } from './configs.js';
import { efficientNetKeys } from './keys.js';
import type { WeightStore } from './sharded.js';

/** EfficientNet's stage strides (timm's arch_def: ds s1, ir s2, s2, s2, s1, s2, s1); the first block of a stage strides. */
export const EFFICIENTNET_STAGE_STRIDES = [1, 2, 2, 2, 1, 2, 1] as const;
/** torch.nn.BatchNorm2d's default eps, which timm's efficientnet_b3a uses (the tf_ ports use 1e-3). */
export const EFFICIENTNET_BN_EPS = 1e-5;

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/** Sorted distinct integers N for which some key starts with `${prefix}N.`. */
function indices(w: WeightStore, prefix: string): number[] {
  const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}(\\d+)\\.`);
  return [...new Set(w.keys().map((k) => re.exec(k)?.[1]).filter((x): x is string => x !== undefined).map(Number))].sort((a, b) => a - b);
}

/** Derives the config from the shapes of `w` (what = the file, for messages) and validates every key against it. */
export function efficientNetConfigOf(w: WeightStore, what = w.name): EfficientNetConfig {
  const problems: string[] = [];
  const shape = (key: string, rank: number, why: string): number[] | null => {
    if (!w.has(key)) {
      problems.push(`${what}: missing key ${key} (needed for ${why})`);
      return null;
    }
    const s = w.info(key).shape;
    if (s.length !== rank) {
      problems.push(`${what}: key ${key} has shape ${fmt(s)}, expected ${rank} dims (${why})`);
      return null;
    }
    return s;
  };
  if (!w.has('conv_stem.weight') && !w.has('blocks.0.0.conv_dw.weight')) {
    throw new CheckpointValidationError([`${what}: not a timm EfficientNet state dict (no conv_stem.weight or blocks.0.0.*); expected timm's efficientnet_b3a keys (conv_stem, bn1, blocks.S.J.*, conv_head, bn2, classifier.*): convert the .pt with safetensors.torch.save_file(torch.load(pt, map_location='cpu'), 'watermark.safetensors')`]);
  }
  const stem = shape('conv_stem.weight', 4, 'the stem width')?.[0] ?? 0;
  const stageIds = indices(w, 'blocks.');
  if (stageIds.length !== EFFICIENTNET_STAGE_STRIDES.length || stageIds.some((v, i) => v !== i)) {
    problems.push(`${what}: blocks.S for S in [${stageIds.join(', ')}]; an EfficientNet has the ${EFFICIENTNET_STAGE_STRIDES.length} stages blocks.0 .. blocks.${EFFICIENTNET_STAGE_STRIDES.length - 1} (their strides are fixed by the architecture)`);
    throw new CheckpointValidationError(problems);
  }
  const stages: EfficientNetBlockConfig[][] = [];
  let prev = stem;
  for (const s of stageIds) {
    const blockIds = indices(w, `blocks.${s}.`);
    if (!blockIds.length || blockIds.some((v, i) => v !== i)) problems.push(`${what}: stage blocks.${s} has blocks [${blockIds.join(', ')}], expected 0, 1, ... without gaps`);
    const stage: EfficientNetBlockConfig[] = [];
    for (const j of blockIds) {
      const p = `blocks.${s}.${j}`;
      const ir = w.has(`${p}.conv_pwl.weight`);
      if (ir !== (s > 0)) problems.push(`${what}: ${p} is ${ir ? 'an InvertedResidual (has conv_pwl)' : 'a DepthwiseSeparableConv (no conv_pwl)'}; EfficientNet has depthwise-separable blocks in stage 0 only`);
      const dw = shape(`${p}.conv_dw.weight`, 4, `${p}'s kernel size`);
      const se = shape(`${p}.se.conv_reduce.weight`, 4, `${p}'s squeeze-excitation width`);
      const out = shape(`${p}.${ir ? 'conv_pwl' : 'conv_pw'}.weight`, 4, `${p}'s output width`);
      if (!dw || !se || !out) continue;
      const kernel = dw[2]!;
      if (dw[3] !== kernel || kernel % 2 !== 1) problems.push(`${what}: ${p}.conv_dw.weight is ${fmt(dw)}; expected an odd square kernel [C, 1, k, k]`);
      const stride = j === 0 ? EFFICIENTNET_STAGE_STRIDES[s]! : 1;
      stage.push({ type: ir ? 'ir' : 'ds', in: prev, mid: dw[0]!, out: out[0]!, kernel, stride, se: se[0]! });
      prev = out[0]!;
    }
    stages.push(stage);
  }
  const head = shape('conv_head.weight', 4, 'the head width')?.[0] ?? 0;
  const classifier: EfficientNetConfig['classifier'] = [];
  const clsIds = indices(w, 'classifier.');
  const clsKeys = clsIds.length ? clsIds.map((i) => `classifier.${i}`) : ['classifier'];
  let inF = head;
  for (const key of clsKeys) {
    const s = shape(`${key}.weight`, 2, 'the classifier');
    if (!s) continue;
    classifier.push({ key, in: inF, out: s[0]! });
    inF = s[0]!;
  }
  if (problems.length) throw new CheckpointValidationError(problems);
  const cfg: EfficientNetConfig = { stem, stages, head, classifier, bnEps: EFFICIENTNET_BN_EPS };
  const bad = checkKeys(w, efficientNetKeys(cfg), 'timm efficientnet layout derived from the weight shapes');
  if (bad.length) throw new CheckpointValidationError(bad.map((p) => (p.startsWith(w.name) ? `${what}${p.slice(w.name.length)}` : p)));
  return cfg;
}
