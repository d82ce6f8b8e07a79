// Attention timing script (not a test): times the attention forward / backward problems of one training step of the shapes transformer
// (F=8 frames, 4 heads x 16, 16 visual + 32 text tokens: spatial joint [8, 48, 64], frame-0 cross against shared
// [1, 32, 64] K/V, temporal views) with GPU timestamps, variants interleaved; also the process CPU time per call
// (lavapipe's worker threads run inside the process: on a shared machine CPU time is steadier than wall time).
// Usage: nice -n 19 node --import tsx bench/attention-train.ts [--rounds 7] [--reps 3] [--fwd a,b] [--bwd a,b]
//        [--only spatial,cross,temporal]   (variant names, or "default" for the automatic choice; --bwd "" skips)
import { Device } from '../engine/gpu/device.js';
import { attention, temporalView, type AttentionInput } from '../engine/ops/attention.js';
import { attentionBackward } from '../engine/ops/attention-backward.js';
import { Tensor } from '../engine/tensor.js';
import { median } from '../bench/timing.js';

const arg = (name: string, def: string) => { const i = process.argv.indexOf(`--${name}`); return i >= 0 ? process.argv[i + 1]! : def; };
const rounds = Number(arg('rounds', '7'));
const reps = Number(arg('reps', '3'));
const fwdVariants = arg('fwd', 'default').split(',').filter(Boolean);
const bwdVariants = arg('bwd', 'default').split(',').filter(Boolean);
const only = arg('only', 'spatial,cross,temporal').split(',');

const dev = await Device.create({ label: 'attn-bench', profile: 'gpu' });
console.log(`adapter ${dev.adapter.description}; timing ${dev.profileTiming}`);
const F = 8, S = 48, Tn = 32, H = 4, hd = 16, D = H * hd;
let seed = 1;
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 * 2 - 1; };
const rand = (shape: number[]) => { const n = shape.reduce((a, b) => a * b, 1); const d = new Float32Array(n); for (let i = 0; i < n; i++) d[i] = rnd(); return Tensor.from(dev, d, shape, 'f32'); };

interface Prob { name: string; q: AttentionInput; k: AttentionInput; v: AttentionInput; o: AttentionInput; dO: AttentionInput; lse: Tensor; flops: number; grads?: () => { dq?: AttentionInput; dk?: AttentionInput; dv?: AttentionInput } }
const probs: Prob[] = [];
{
  const [q, k, v, o, dO] = [0, 1, 2, 3, 4].map(() => rand([F, S, D]));
  probs.push({ name: 'spatial', q: q!, k: k!, v: v!, o: o!, dO: dO!, lse: Tensor.empty(dev, [F, H, S], 'f32'), flops: 4 * F * H * S * S * hd });
}
{
  const [q, o, dO] = [0, 1, 2].map(() => rand([F, S, D]));
  const k = rand([1, Tn, D]), v = rand([1, Tn, D]);
  probs.push({ name: 'cross', q: q!, k, v, o: o!, dO: dO!, lse: Tensor.empty(dev, [F, H, S], 'f32'), flops: 4 * F * H * S * Tn * hd });
}
{
  const [q, k, v, o, dO] = [0, 1, 2, 3, 4].map(() => rand([F, S, D]));
  const dq = Tensor.empty(dev, [F, S, D], 'f32'), dk = Tensor.empty(dev, [F, S, D], 'f32'), dv = Tensor.empty(dev, [F, S, D], 'f32');
  probs.push({
    name: 'temporal', q: temporalView(q!), k: temporalView(k!), v: temporalView(v!), o: temporalView(o!), dO: temporalView(dO!),
    lse: Tensor.empty(dev, [S, H, F], 'f32'), flops: 4 * S * H * F * F * hd,
    grads: () => ({ dq: temporalView(dq), dk: temporalView(dk), dv: temporalView(dv) }),
  });
}

const vname = (x: string) => (x === 'default' ? undefined : x);
for (const p of probs.filter((x) => only.includes(x.name))) {
  const cases: { label: string; flops: number; run: () => void }[] = [];
  for (const fv of fwdVariants) {
    cases.push({ label: `fwd ${fv}`, flops: p.flops, run: () => { attention(p.q, p.k, p.v, { heads: H, headDim: hd, out: p.o, ...(fv.includes("_rb") ? {} : { lse: p.lse }), variant: vname(fv) }); } });
  }
  // a forward that writes the real O and L for the backward
  attention(p.q, p.k, p.v, { heads: H, headDim: hd, out: p.o, lse: p.lse });
  for (const bv of bwdVariants) {
    cases.push({
      label: `bwd ${bv}`, flops: 2.5 * p.flops, run: () => {
        const g = attentionBackward(p.q, p.k, p.v, p.dO, { heads: H, headDim: hd, out: p.o, lse: p.lse, variant: vname(bv), ...(p.grads?.() ?? {}) });
        if (!p.grads) for (const t of new Set([g.dq, g.dk, g.dv])) t.dispose();
      },
    });
  }
  for (const c of cases) { c.run(); await dev.sync(); }
  await dev.takeProfile();
  const times: number[][] = cases.map(() => []);
  const cpu: number[][] = cases.map(() => []);
  const perDispatch: Map<string, number[]>[] = cases.map(() => new Map());
  for (let r = 0; r < rounds; r++) {
    for (const [i, c] of cases.entries()) {
      for (let j = 0; j < reps; j++) {
        const c0 = process.cpuUsage();
        c.run();
        await dev.sync();
        const cu = process.cpuUsage(c0);
        cpu[i]!.push((cu.user + cu.system) / 1000);
        const prof = (await dev.takeProfile()).filter((e) => e.op.startsWith('attention'));
        times[i]!.push(prof.reduce((a, e) => a + e.ms, 0));
        for (const [n, e] of prof.entries()) { const key = `${n}`; const a = perDispatch[i]!.get(key) ?? []; a.push(e.ms); perDispatch[i]!.set(key, a); }
      }
    }
  }
  for (const [i, c] of cases.entries()) {
    const m = median(times[i]!);
    const parts = [...perDispatch[i]!.values()].map((a) => median(a).toFixed(2)).join(' + ');
    console.log(`${p.name.padEnd(8)} ${c.label.padEnd(36)} median ${m.toFixed(3).padStart(7)} ms  min ${Math.min(...times[i]!).toFixed(3).padStart(7)}  ${(c.flops / m / 1e6).toFixed(2).padStart(6)} GF/s  [${parts}]  process CPU ms median ${median(cpu[i]!).toFixed(2)} min ${Math.min(...cpu[i]!).toFixed(2)}`);
  }
}
dev.destroy();
