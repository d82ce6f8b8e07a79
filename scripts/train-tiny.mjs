#!/usr/bin/env node
// `npm run train:tiny`: trains Parallax's default model on this machine's WebGPU adapter, stage by stage, each stage
// resumable (a stopped run continues where its last checkpoint left it; a finished stage is skipped):
//   data  parallax data synth      synthetic captioned clips (engine/data/synth.ts), 64x64, 8 frames
//   init  parallax make-tiny       the `shapes` preset: 32 text tokens, D = 64, 6 layers, random weights
//   vae   parallax train-vae       the tiny AutoencoderKL on random 32x32 crops of the clips' frames (cheap steps)
//   vae2  parallax train-vae       then on whole 64x64 frames (shapes whole, not cut by the crops), from vae's weights
//   dit   parallax train           the transformer on the trained VAE's cached latents (frozen text encoders), constant lr
//   dit2  parallax train           then from dit's EMA weights with the lr decaying to 0 (cosine): the annealing phase
//   eval  parallax eval-prompts    held-out prompts, attributes read back from the frames
//   ship  models/shapes/           the trained checkpoint (EMA weights) without its training state
// Usage: node scripts/train-tiny.mjs [--dir runs/shapes] [--only STAGE[,STAGE]] [--until STAGE] [--vae-steps N]
//        [--vae2-steps N] [--dit-steps N] [--dit2-steps N] [--clips N] (--dit2-steps 0: no dit2; eval and ship take dit). Ctrl-C stops the running stage after its current step, saved; rerun to continue.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const STAGES = ['data', 'init', 'vae', 'vae2', 'dit', 'dit2', 'eval', 'ship'];
const { values: a } = parseArgs({
  options: {
    dir: { type: 'string', default: 'runs/shapes' },
    only: { type: 'string' },
    until: { type: 'string', default: 'ship' },
    clips: { type: 'string', default: '480' },
    'vae-steps': { type: 'string', default: '600' },
    'vae2-steps': { type: 'string', default: '1500' },
    'dit-steps': { type: 'string', default: '20000' },
    'dit2-steps': { type: 'string', default: '13000' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (a.help) {
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
  console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}
const only = a.only ? a.only.split(',') : null;
for (const s of [...(only ?? []), a.until]) if (!STAGES.includes(s)) throw new Error(`unknown stage ${s}: expected one of ${STAGES.join(', ')}`);
const dir = resolve(root, a.dir);
const data = join(dir, 'data');
const meta = join(data, 'meta.jsonl');
const P = {
  init: join(dir, 'init'),
  vae: join(dir, 'vae'),
  vae2: join(dir, 'vae2'),
  dit: join(dir, 'dit'),
  dit2: join(dir, 'dit2'),
};
// the transformer that eval and ship take: the annealed one unless that stage is switched off
const final = Number(a['dit2-steps']) > 0 ? P.dit2 : P.dit;
const want = (s) => (only ? only.includes(s) : STAGES.indexOf(s) <= STAGES.indexOf(a.until));

function parallax(args) {
  console.error(`\n$ parallax ${args.join(' ')}`);
  const r = spawnSync(join(root, 'bin', 'parallax'), args, { stdio: 'inherit', cwd: root });
  if (r.status === 130 || r.signal === 'SIGINT' || r.signal === 'SIGTERM') {
    console.error('stopped: rerun `npm run train:tiny` to continue from the saved step');
    process.exit(130);
  }
  if (r.status !== 0) throw new Error(`parallax ${args[0]} failed (exit ${r.status ?? r.signal})`);
}

/** The saved step of a training output folder, or -1 when it holds none. */
function savedStep(out) {
  const f = join(out, 'train-state', 'state.json');
  return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')).step : -1;
}

function train(cmd, out, steps, args) {
  const at = savedStep(out);
  if (at >= steps) return console.error(`${cmd}: ${out} is trained (step ${at} of ${steps})`);
  parallax([cmd, ...args, '--out', out, '--steps', String(steps), ...(at >= 0 ? ['--resume'] : [])]);
}

mkdirSync(dir, { recursive: true });
if (want('data') && !existsSync(meta)) parallax(['data', 'synth', '--out', data, '--count', a.clips, '--seed', '0', '--width', '64', '--height', '64', '--frames', '8']);
if (want('init') && !existsSync(join(P.init, 'model_index.json'))) parallax(['make-tiny', P.init, '--preset', 'shapes', '--seed', '0']);
if (want('vae')) {
  train('train-vae', P.vae, Number(a['vae-steps']), ['--model', P.init, '--data', meta, '--batch', '8', '--crop', '32', '--lr', '1e-3', '--warmup', '50',
    '--lr-schedule', 'cosine', '--save-every', '50', '--sample-every', '100', '--log-every', '10']);
}
if (want('vae2')) {
  train('train-vae', P.vae2, Number(a['vae2-steps']), ['--model', P.vae, '--data', meta, '--batch', '4', '--lr', '5e-4', '--warmup', '20',
    '--lr-schedule', 'cosine', '--save-every', '50', '--sample-every', '100', '--log-every', '10']);
}
if (want('dit')) {
  train('train', P.dit, Number(a['dit-steps']), ['--model', P.vae2, '--data', meta, '--batch', '2', '--lr', '5e-4', '--warmup', '200',
    '--save-every', '200', '--sample-every', '500', '--log-every', '20', '--sample-steps', '20', '--sample-guidance', '4']);
}
if (want('dit2') && Number(a['dit2-steps']) > 0) {
  train('train', P.dit2, Number(a['dit2-steps']), ['--model', P.dit, '--data', meta, '--batch', '2', '--lr', '3e-4', '--warmup', '100',
    '--lr-schedule', 'cosine', '--seed', '1', '--save-every', '200', '--sample-every', '1000', '--log-every', '20', '--sample-steps', '20', '--sample-guidance', '4']);
}
if (want('eval')) parallax(['eval-prompts', '--model', final, '--steps', '20', '--seeds', '2', '--out', join(dir, 'eval.json'), '--sheet', join(dir, 'eval.png')]);
if (want('ship')) {
  const to = join(root, 'models', 'shapes');
  rmSync(to, { recursive: true, force: true });
  cpSync(final, to, { recursive: true, filter: (src) => !/[/\\](train-state(\.old)?|cache|samples|train-log\.jsonl)([/\\]|$)/.test(src.slice(final.length)) });
  // the model card (engine/io/default-model.ts): recommended settings as the samples and eval used them
  const evalFile = join(dir, 'eval.json');
  const training = { recipe: 'npm run train:tiny', steps: savedStep(P.dit) + (final === P.dit2 ? savedStep(P.dit2) : 0), eval: existsSync(evalFile) ? JSON.parse(readFileSync(evalFile, 'utf8')).accuracy ?? null : null };
  const card = `import('./engine/io/default-model.ts').then((m) => m.writeShapesModelCard(${JSON.stringify(to)}, { steps: 20, guidance: 4, training: ${JSON.stringify(training)} }))`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', card], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) throw new Error('writing the model card failed');
  console.error(`shipped ${to} (card: ${join(to, 'parallax-card.json')})`);
}
