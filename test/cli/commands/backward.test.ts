// `parallax backward` on a 2-layer make-tiny transformer: the loss equals mean((vchitectForward64 - target)^2), a
// sample of gradient entries (parameters and hidden_states) matches central finite differences of that float64 loss,
// every checkpoint tensor gets a gradient, a missing target is a named error; and, when python3 has torch, every
// gradient matches PyTorch autograd of bench/torch_vchitect_grad.py (the spec's model written independently).
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { openSafetensors, writeSafetensors } from '../../../engine/io/safetensors.js';
import type { Tensor64 } from '../../../engine/reference/tensor64.js';
import { vchitectForward64, type VchitectConfig64 } from '../../../engine/reference/vchitect.js';
import { compareGradients, GRAD_TOLERANCE } from '../../../engine/train/grad-compare.js';
import { findTorchPython } from '../../../bench/peers.js';
import { parallax } from '../../helpers/cli.js';
import { normal } from '../../helpers/random.js';

let dir: string;
let model: string;
const weights = new Map<string, Tensor64>();
let cfg: VchitectConfig64;
const F = 2, Hl = 4, Wl = 6, Tn = 4, timestep = 321.5;
let inputs: Record<string, Float64Array>;
let grads: Map<string, Float32Array>;

const torchPython = findTorchPython();

async function readAll(path: string): Promise<Map<string, Float32Array>> {
  const r = await openSafetensors(path);
  const m = new Map<string, Float32Array>();
  for (const k of r.keys()) m.set(k, Float32Array.from(await r.readFloat32(k)));
  await r.close();
  return m;
}

function loss64(hidden: Float64Array): number {
  const out = vchitectForward64(weights, cfg, {
    hiddenStates: { shape: [1, F, cfg.inChannels, Hl, Wl], data: hidden }, timestep,
    encoderHiddenStates: { shape: [1, Tn, cfg.jointAttentionDim], data: inputs.encoder_hidden_states! },
    pooledProjections: { shape: [1, cfg.pooledProjectionDim], data: inputs.pooled_projections! },
  });
  let s = 0;
  for (let i = 0; i < out.data.length; i++) s += (out.data[i]! - inputs.target![i]!) ** 2;
  return s / out.data.length;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-backward-'));
  const t = await makeTinyCheckpoint(join(dir, 'ckpt'), { seed: 21, transformer: { num_layers: 2, num_attention_heads: 2, attention_head_dim: 4 } });
  model = t.dir;
  const c = t.transformer;
  cfg = {
    numLayers: c.num_layers, heads: c.num_attention_heads, headDim: c.attention_head_dim, patchSize: c.patch_size, inChannels: c.in_channels,
    outChannels: c.out_channels, posEmbedMaxSize: c.pos_embed_max_size, jointAttentionDim: c.joint_attention_dim, pooledProjectionDim: c.pooled_projection_dim,
  };
  const ck = await openCheckpoint(model);
  for (const k of ck.transformer.weights.keys()) {
    weights.set(k, { shape: [...ck.transformer.weights.info(k).shape], data: Float64Array.from(await ck.transformer.weights.readFloat32(k)) });
  }
  await ck.close();
  const n = F * cfg.inChannels * Hl * Wl;
  // Stored as F32: the float64 side uses the rounded values.
  const f32 = (a: Float64Array) => Float64Array.from(Float32Array.from(a));
  inputs = {
    hidden_states: f32(normal(n, 1)), target: f32(normal(n, 2)), timestep: Float64Array.of(timestep),
    encoder_hidden_states: f32(normal(Tn * cfg.jointAttentionDim, 3)), pooled_projections: f32(normal(cfg.pooledProjectionDim, 4)),
  };
  const shapes: Record<string, number[]> = {
    hidden_states: [1, F, cfg.inChannels, Hl, Wl], target: [1, F, cfg.inChannels, Hl, Wl], timestep: [1],
    encoder_hidden_states: [1, Tn, cfg.jointAttentionDim], pooled_projections: [1, cfg.pooledProjectionDim],
  };
  await writeSafetensors(join(dir, 'in.safetensors'), Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, { dtype: 'F32' as const, shape: shapes[k]!, data: Float32Array.from(v) }])));
  await writeSafetensors(join(dir, 'no-target.safetensors'), Object.fromEntries(Object.entries(inputs).filter(([k]) => k !== 'target').map(([k, v]) => [k, { dtype: 'F32' as const, shape: shapes[k]!, data: Float32Array.from(v) }])));
  const r = await parallax(['backward', '--model', model, '--inputs', join(dir, 'in.safetensors'), '--out', join(dir, 'grads.safetensors')]);
  expect(r.code, r.stderr).toBe(0);
  grads = await readAll(join(dir, 'grads.safetensors'));
}, 600_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parallax backward', () => {
  it('writes the loss and a gradient for every checkpoint tensor and hidden_states', () => {
    const want = loss64(inputs.hidden_states!);
    expect(Math.abs(grads.get('loss')![0]! - want)).toBeLessThan(1e-4 * want);
    for (const [k, w] of weights) expect(grads.get(k)?.length, k).toBe(w.data.length);
    expect(grads.get('hidden_states')!.length).toBe(inputs.hidden_states!.length);
  });

  it('matches central finite differences of the float64 loss for sampled entries', () => {
    const h = 1e-3;
    const cases: [string, Float64Array][] = [['hidden_states', inputs.hidden_states!],
      ...['pos_embed.proj.weight', 'context_embedder.weight', 'transformer_blocks.0.attn.to_q_temp.weight', 'transformer_blocks.0.ff_context.net.2.bias',
        'transformer_blocks.1.norm1_context.linear.weight', 'time_text_embed.timestep_embedder.linear_1.weight', 'proj_out.weight']
        .map((k): [string, Float64Array] => [k, weights.get(k)!.data])];
    for (const [name, data] of cases) {
      const g = grads.get(name)!;
      let norm = 0;
      for (const v of g) norm = Math.max(norm, Math.abs(v));
      for (const i of [3, Math.floor(data.length / 2) + 1, data.length - 2]) {
        const v = data[i]!;
        data[i] = v + h; const lp = loss64(inputs.hidden_states!);
        data[i] = v - h; const lm = loss64(inputs.hidden_states!);
        data[i] = v;
        const fd = (lp - lm) / (2 * h);
        expect(Math.abs(g[i]! - fd), `${name}[${i}]: ${g[i]} vs finite difference ${fd}`).toBeLessThan(3e-3 * norm + 1e-6 + 1e-2 * Math.abs(fd));
      }
    }
  }, 300_000);

  it('names a missing target', async () => {
    const r = await parallax(['backward', '--model', model, '--inputs', join(dir, 'no-target.safetensors'), '--out', join(dir, 'x.safetensors')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/missing tensor "target"/);
  });

  it.skipIf(!torchPython)('matches PyTorch autograd (bench/torch_vchitect_grad.py) for every gradient', async () => {
    const out = join(dir, 'torch.safetensors');
    execFileSync(torchPython!.python, ['bench/torch_vchitect_grad.py', join(model, 'transformer'), join(dir, 'in.safetensors'), out], { stdio: 'pipe' });
    const want = await readAll(out);
    for (const [k, g] of grads) {
      const w = want.get(k);
      expect(w?.length, k).toBe(g.length);
      let norm = 0, err = 0;
      for (let i = 0; i < g.length; i++) { norm = Math.max(norm, Math.abs(w![i]!)); err = Math.max(err, Math.abs(g[i]! - w![i]!)); }
      expect(err, `${k}: max |parallax - torch| ${err}, max |torch| ${norm}`).toBeLessThanOrEqual(5e-4 * norm + 1e-7);
    }
    // The measure: relative L2 over all gradients <= 1e-4, each tensor <= 1e-3 of max(its norm, 1% of the
    // mean tensor norm); `--compare` prints it and fails outside it.
    const a = compareGradients(new Map([...grads].filter(([k]) => k !== 'loss' && k !== 'hidden_states')), new Map([...want].filter(([k]) => k !== 'loss' && k !== 'hidden_states')));
    expect(a.missing).toEqual([]);
    expect(a.overall).toBeLessThanOrEqual(GRAD_TOLERANCE.overall);
    expect(a.perTensor[0]!.rel, a.perTensor[0]!.name).toBeLessThanOrEqual(GRAD_TOLERANCE.perTensor);
    const r = await parallax(['backward', '--model', model, '--inputs', join(dir, 'in.safetensors'), '--out', join(dir, 'again.safetensors'), '--compare', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/relative L2 over all \d\.\d\de-\d+ \(limit 0\.0001\)/);
  }, 300_000);
});
