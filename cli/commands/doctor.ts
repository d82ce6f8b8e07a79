// `parallax doctor`: prints the WebGPU adapter, the features and limits Parallax relies on, and whether the
// engine's kernels compile and run on it; exits non-zero with the fix when no adapter is usable.

import type { Command } from 'commander';
import { listAdapters } from '../../engine/gpu/adapters.js';
import { Device } from '../../engine/gpu/device.js';
import { fmtBytes, NoAdapterError } from '../../engine/gpu/errors.js';
import { elementwise } from '../../engine/ops/elementwise.js';
import { Tensor } from '../../engine/tensor.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check the WebGPU adapter, its features and limits, and run a kernel on it')
    .option('--json', 'print a JSON report')
    .option('--toggles <list>', 'extra Dawn toggles, comma-separated (e.g. allow_unsafe_apis)')
    .option('--list', 'list the adapters Dawn sees, with their indices, and exit')
    .option('--adapter <index|name>', 'check this adapter (an index from --list, or a name substring)')
    .action(async (opts: { json?: boolean; toggles?: string; list?: boolean; adapter?: string }) => {
      if (opts.list) {
        const list = await listAdapters();
        if (opts.json) console.log(JSON.stringify(list, null, 2));
        else for (const a of list) console.log(`${a.index}: ${a.name} (${a.backend})`);
        if (!list.length) process.exit(2);
        return;
      }
      const pick = opts.adapter === undefined ? {} : /^\d+$/.test(opts.adapter) ? { adapterIndex: Number(opts.adapter) } : { adapterName: opts.adapter };
      let device: Device;
      try {
        device = await Device.create({ label: 'doctor', toggles: opts.toggles?.split(','), ...pick });
      } catch (err) {
        if (err instanceof NoAdapterError) {
          console.error(`parallax doctor: ${err.message}`);
          process.exit(2);
        }
        throw err;
      }
      const a = device.adapter;
      const c = device.caps;
      const check = await selfTest(device);
      const report = { adapter: a, capabilities: c, selfTest: check };
      if (opts.json) {
        console.log(JSON.stringify(report, null, 2));
      } else {
        const yes = (b: boolean) => (b ? 'yes' : 'no');
        console.log(`Adapter      ${a.vendor} / ${a.architecture} / ${a.description || a.device}`);
        console.log(`Backend      ${a.backend}${a.isFallbackAdapter ? ' (software fallback adapter)' : ''}`);
        console.log(`Features     shader-f16: ${yes(c.f16)}   subgroups: ${yes(c.subgroups)}   timestamp-query: ${yes(c.timestampQuery)}`);
        console.log(`Limits       max buffer ${fmtBytes(c.maxBufferSize)}, max storage binding ${fmtBytes(c.maxStorageBufferBindingSize)}, storage buffers/stage ${c.maxStorageBuffersPerShaderStage}`);
        console.log(`             workgroup storage ${fmtBytes(c.maxComputeWorkgroupStorageSize)}, invocations/workgroup ${c.maxComputeInvocationsPerWorkgroup}, size x/y ${c.maxComputeWorkgroupSizeX}/${c.maxComputeWorkgroupSizeY}, workgroups/dim ${c.maxComputeWorkgroupsPerDimension}`);
        console.log(`Self-test    ${check.ok ? 'ok' : 'FAILED'}: ${check.detail}`);
        if (!c.f16) console.log('Note         no shader-f16: Parallax runs in f32 (on NVIDIA via Vulkan, Dawn needs the toggle vulkan_enable_f16_on_nvidia, which Parallax sets).');
      }
      device.destroy();
      if (!check.ok) process.exit(3);
    });
}

async function selfTest(device: Device): Promise<{ ok: boolean; detail: string }> {
  const n = 1000;
  const x = Float32Array.from({ length: n }, (_, i) => (i % 17) - 8);
  const dtypes = device.f16 ? (['f32', 'f16'] as const) : (['f32'] as const);
  for (const dtype of dtypes) {
    const t = Tensor.from(device, x, [n], dtype);
    const y = await elementwise('scale', [t], { alpha: 2, beta: 1 }).read();
    const bad = y.findIndex((v, i) => v !== 2 * x[i]! + 1);
    if (bad >= 0) return { ok: false, detail: `${dtype} kernel wrote ${y[bad]} at ${bad}, expected ${2 * x[bad]! + 1}` };
  }
  return { ok: true, detail: `elementwise kernel ran in ${dtypes.join(' and ')}` };
}
