// Where does a trained transformer fail: at laying out the video (high noise) or at its detail (low noise)? For
// real training clips, noises each clip's latents to sigma s (x_s = (1 - s) x0 + s eps, eps seeded), asks the model
// for the velocity once, and decodes its one-step estimate x0 = x_s - s v. Prints, per clip and sigma, the velocity
// MSE against the truth (eps - x0) and the shape and direction the attribute reader (engine/data/attributes.ts) sees
// in the estimate; writes a PNG with one row per (clip, sigma), the clean decode first, every frame across.
//   node --import tsx scripts/denoise-probe.ts --model runs/shapes/dit2 --data runs/shapes/data/meta.jsonl \
//     --clips 0,1 [--sigmas 0.2,0.4,0.6,0.8,0.95] [--seed 7] [--out denoise-probe.png]
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { readClip } from '../engine/data/attributes.js';
import { GpuBackend } from '../engine/pipeline/gpu-backend.js';
import { TextToVideoPipeline } from '../engine/pipeline/text-to-video.js';
import { SeededRandom } from '../engine/io/tiny-random.js';
import { decodeTrainClip } from '../engine/train/frame-cache.js';
import { encodeFramesToLatents } from '../engine/train/train-cache.js';
import { readTrainClips } from '../engine/train/train-meta.js';
import { encodeRgbPng } from '../engine/video/png.js';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' }, data: { type: 'string' }, clips: { type: 'string', default: '0' },
    sigmas: { type: 'string', default: '0.2,0.4,0.6,0.8,0.95' }, seed: { type: 'string', default: '7' }, out: { type: 'string', default: 'denoise-probe.png' },
  },
});
if (!a.model || !a.data) throw new Error('usage: --model DIR --data META [--clips i,j] [--sigmas s,...] [--seed n] [--out PNG]');
const sigmas = a.sigmas!.split(',').map(Number);
if (sigmas.some((s) => !(s > 0 && s <= 1))) throw new Error(`--sigmas must be in (0, 1], got ${a.sigmas}`);
const all = await readTrainClips(a.data);
const clips = a.clips!.split(',').map((i) => {
  const c = all[Number(i)];
  if (!c) throw new Error(`--clips: no clip ${i} in ${a.data} (it has ${all.length})`);
  return c;
});

const pipe = await TextToVideoPipeline.fromPretrained(a.model, { backend: 'gpu' });
if (!(pipe.backend instanceof GpuBackend)) throw new Error('the probe needs the GPU backend');
const be = pipe.backend;
const vae = await be.vaeModel();
const rows: { frames: Uint8Array[]; width: number; height: number }[] = [];
for (const c of clips) {
  const { data: x0, shape: fchw } = await encodeFramesToLatents(vae, await decodeTrainClip(c), c.height, c.width);
  const shape = [1, ...fchw];
  const clean = await be.decode({ data: x0, shape });
  rows.push(clean);
  const text = await be.encodeText(c.text);
  const eps = Float32Array.from(new SeededRandom(Number(a.seed)).normals(x0.length));
  const read = readClip(clean.frames, clean.width, clean.height);
  const line = [`clean ${read.shape}/${read.direction}`];
  for (const s of sigmas) {
    const xs = x0.map((x, i) => (1 - s) * x + s * eps[i]!);
    const v = await be.velocity({ data: xs, shape }, s * 1000, text);
    let mse = 0;
    for (let i = 0; i < v.length; i++) mse += (v[i]! - (eps[i]! - x0[i]!)) ** 2;
    const est = await be.decode({ data: xs.map((x, i) => x - s * v[i]!), shape });
    rows.push(est);
    const r = readClip(est.frames, est.width, est.height);
    line.push(`s ${s}: mse ${(mse / v.length).toFixed(3)} ${r.shape}/${r.direction}`);
  }
  console.log(`${c.rel} "${c.text}": ${line.join(' | ')}`);
}
await pipe.dispose();

// the picture: rows of frames, 3x nearest upscale, 2 px white gaps
const S = 3, { width: W, height: H } = rows[0]!, F = rows[0]!.frames.length;
const OW = F * (W * S + 2), OH = rows.length * (H * S + 2);
const img = new Uint8Array(OW * OH * 3).fill(255);
rows.forEach((r, ri) => r.frames.forEach((f, fi) => {
  for (let y = 0; y < H * S; y++) {
    for (let x = 0; x < W * S; x++) {
      const s = (Math.floor(y / S) * W + Math.floor(x / S)) * 3;
      const d = ((ri * (H * S + 2) + y) * OW + fi * (W * S + 2) + x) * 3;
      img[d] = f[s]!;
      img[d + 1] = f[s + 1]!;
      img[d + 2] = f[s + 2]!;
    }
  }
}));
await writeFile(a.out!, encodeRgbPng(img, OW, OH));
console.log(`wrote ${a.out} (rows: per clip the clean decode, then sigma ${sigmas.join(', ')})`);
process.exit(0);
