#!/usr/bin/env node
// Makes a fresh machine ready for Parallax: checks that Dawn finds a WebGPU adapter and, on Debian/Ubuntu as
// root, installs what is missing (Mesa lavapipe 25.x from bookworm-backports, and on request chromium, ffmpeg,
// python3-torch), saying what it installs and why. Elsewhere it stops with the exact command to run. When another
// apt/dpkg process holds apt's lock it waits for it (DPkg::Lock::Timeout, scripts/apt.mjs) and says so.
//
//   node scripts/setup.mjs [--quiet] [--browser] [--ffmpeg] [--torch] [--check]
//
// Plain JavaScript on purpose: it runs before anything else, with nothing but Node and the npm packages.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { aptGet } from './apt.mjs';

const args = new Set(process.argv.slice(2));
const quiet = args.has('--quiet');
const checkOnly = args.has('--check');
const log = (msg) => console.log(`[setup] ${msg}`);
const info = (msg) => { if (!quiet) log(msg); };

const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
const osId = /^ID=(.*)$/m.exec(osRelease)?.[1]?.replace(/"/g, '') ?? process.platform;
const codename = /^VERSION_CODENAME=(.*)$/m.exec(osRelease)?.[1]?.replace(/"/g, '') ?? '';
const isDebianLike = ['debian', 'ubuntu'].includes(osId) || /ID_LIKE=.*debian/.test(osRelease);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

let aptUpdated = false;
async function apt(argv, why) {
  log(`installing ${argv.filter((a) => !a.startsWith('-')).slice(1).join(' ')}: ${why}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    await run(['update', '-q'], env);
    aptUpdated = true;
  }
  await run(argv, env);
}

/** apt-get with apt's lock timeout (scripts/apt.mjs): waits, and says so, while another apt process holds the lock. */
async function run(argv, env) {
  const status = await aptGet(argv, { env, quiet });
  if (status !== 0) {
    console.error(`[setup] 'apt-get ${argv.join(' ')}' failed (exit ${status}).`);
    process.exit(1);
  }
}

function stop(what, command) {
  console.error(`[setup] ${what}\n[setup] Run this, then try again:\n\n    ${command}\n`);
  process.exit(1);
}

/** Asks Dawn for an adapter in a child process (a broken driver must not take this process down). */
function probeAdapter() {
  const code = `
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    const gpu = create(['enable-dawn-features=vulkan_enable_f16_on_nvidia']);
    const a = await gpu.requestAdapter();
    if (!a) { console.log('NONE'); process.exit(0); }
    console.log(JSON.stringify({ vendor: a.info.vendor, description: a.info.description, f16: a.features.has('shader-f16') }));
    process.exit(0);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
  const line = (r.stdout || '').trim().split('\n').pop() || '';
  if (r.status === 0 && line.startsWith('{')) return JSON.parse(line);
  if (r.status === 0 && line === 'NONE') return { error: 'requestAdapter() returned no adapter (the Vulkan loader found no driver)' };
  return { error: (r.stderr || r.stdout || `exit ${r.status}`).split('\n').filter((l) => !l.startsWith('Warning:')).join('\n').trim() };
}

function mesaVersion() {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', 'mesa-vulkan-drivers'], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

const LAVAPIPE_CMD_DEBIAN =
  'echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/bookworm-backports.list && apt-get update && apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1';

async function ensureAdapter() {
  let probe = probeAdapter();
  if (!probe.error) {
    info(`WebGPU adapter: ${probe.vendor} ${probe.description} (shader-f16: ${probe.f16 ? 'yes' : 'no'})`);
    return;
  }
  const have = mesaVersion();
  const major = Number(/^(?:\d+:)?(\d+)/.exec(have)?.[1] ?? 0);
  if (have && major >= 25) {
    const icd = process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES;
    stop(`Dawn found no usable WebGPU adapter although Mesa ${have} is installed${icd ? ` (VK_ICD_FILENAMES/VK_DRIVER_FILES is set to '${icd}': is that file there?)` : ''}. Dawn said: ${probe.error.split('\n')[0]}`,
      icd ? 'unset VK_ICD_FILENAMES VK_DRIVER_FILES' : 'apt-get install --reinstall libvulkan1 mesa-vulkan-drivers');
  }
  const why = have
    ? `Dawn found no usable WebGPU adapter; the installed Mesa Vulkan drivers (${have}) are too old for Dawn (it needs Mesa 25.x)`
    : 'Dawn found no usable WebGPU adapter and no Vulkan driver is installed; Mesa lavapipe is a CPU Vulkan driver that lets Parallax run without a GPU';
  if (checkOnly) stop(`${why}.`, isDebianLike ? LAVAPIPE_CMD_DEBIAN : 'install a Vulkan driver for your GPU (or Mesa lavapipe 25.x)');
  if (!isDebianLike || !isRoot) {
    stop(`${why}.`, isDebianLike ? `sudo sh -c '${LAVAPIPE_CMD_DEBIAN}'` : 'install a Vulkan driver for your GPU, or Mesa lavapipe 25.x (CPU Vulkan), with your system\'s package manager');
  }
  if (osId === 'debian' && codename === 'bookworm') {
    const list = '/etc/apt/sources.list.d/bookworm-backports.list';
    const already = spawnSync('sh', ['-c', 'grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/']).status === 0;
    if (!already) {
      log(`adding Debian bookworm-backports (${list}): bookworm's own Mesa 22.x is too old for Dawn`);
      writeFileSync(list, 'deb http://deb.debian.org/debian bookworm-backports main\n');
      aptUpdated = false;
    }
    await apt(['install', '-y', '-q', '-t', 'bookworm-backports', 'mesa-vulkan-drivers', 'libvulkan1'], why);
  } else {
    await apt(['install', '-y', '-q', 'mesa-vulkan-drivers', 'libvulkan1'], why);
  }
  probe = probeAdapter();
  if (probe.error) stop(`Still no WebGPU adapter after installing Mesa (${mesaVersion()}): ${probe.error}`, 'VK_LOADER_DEBUG=error,warn vulkaninfo --summary   # (apt-get install vulkan-tools) to see why the Vulkan loader finds no driver');
  log(`WebGPU adapter: ${probe.vendor} ${probe.description} (shader-f16: ${probe.f16 ? 'yes' : 'no'})`);
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

async function ensurePackage(cmd, pkg, why) {
  if (have(cmd)) return;
  if (checkOnly || !isDebianLike || !isRoot) stop(`${cmd} is missing: ${why}.`, isDebianLike ? `sudo apt-get install -y ${pkg}` : `install ${pkg} with your package manager`);
  await apt(['install', '-y', '-q', '--no-install-recommends', pkg], why);
}

/**
 * Debian's libtorch links the generic libblas.so.3, and `--no-install-recommends` leaves it on the netlib reference
 * BLAS (libblas3, ~2 GFLOP/s on two cores: PyTorch linears 25x slower than they are). OpenBLAS registers a
 * higher-priority alternative for libblas.so.3, so torch picks it up with no other change.
 */
function referenceBlasOnly() {
  if (!isDebianLike) return false;
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}\n', 'libopenblas0-pthread', 'libopenblas0-openmp', 'libblis4-pthread', 'libblis4-openmp', 'libmkl-rt'], { encoding: 'utf8' });
  return !/install ok installed/.test(r.stdout || '');
}

async function ensureTorch() {
  const ok = ['python3', '/usr/bin/python3'].some((py) => spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
  const slowBlas = referenceBlasOnly();
  if (ok && !slowBlas) return;
  if (checkOnly || !isDebianLike || !isRoot) {
    if (!ok) log('PyTorch is not installed: the benchmark will skip its PyTorch CPU column (apt-get install python3-torch libopenblas0-pthread to add it).');
    else log('PyTorch uses the reference BLAS (libblas3): its benchmark column will be ~25x too slow (apt-get install libopenblas0-pthread fixes it).');
    return;
  }
  const pkgs = [...(ok ? [] : ['python3-torch']), ...(slowBlas ? ['libopenblas0-pthread'] : [])];
  await apt(['install', '-y', '-q', '--no-install-recommends', ...pkgs], 'the benchmarks compare against PyTorch on the same CPU (with OpenBLAS, not the reference BLAS)');
}

await ensureAdapter();
if (args.has('--browser')) await ensurePackage('chromium', 'chromium', 'the browser tests run the engine in headless Chromium (WebGPU through SwiftShader)');
if (args.has('--ffmpeg')) await ensurePackage('ffmpeg', 'ffmpeg', 'videos are written as H.264 MP4 through the system ffmpeg');
if (args.has('--torch')) await ensureTorch();
info('ready');
