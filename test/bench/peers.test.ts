// The PyTorch peer's setup (bench/peers.ts): its process environment (threads for OpenMP and OpenBLAS, the OpenBLAS
// CPU overrides unset together and reported), the one-line description, and, where python3-torch is installed, the
// long-lived peer process answering a small case (protocol only: no timing is asserted).
import { describe, expect, it } from 'vitest';
import { describeTorch, findTorchPython, startTorchPeer, torchPeerEnv, type TorchInfo } from '../../bench/peers.js';

describe('torchPeerEnv', () => {
  it('sets OpenMP and OpenBLAS threads and leaves other variables alone', () => {
    const { env, note } = torchPeerEnv(3);
    expect(env.OMP_NUM_THREADS).toBe('3');
    expect(env.OPENBLAS_NUM_THREADS).toBe('3');
    expect(env.PATH).toBe(process.env.PATH);
    if (!process.env.OPENBLAS_CORETYPE && !process.env.OPENBLAS_L2_SIZE) expect(note).toBe('');
  });
  it('unsets OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE together, in the peer only, and says so', () => {
    const saved = { c: process.env.OPENBLAS_CORETYPE, l: process.env.OPENBLAS_L2_SIZE };
    process.env.OPENBLAS_CORETYPE = 'Haswell';
    delete process.env.OPENBLAS_L2_SIZE;
    try {
      const { env, note } = torchPeerEnv(2);
      expect(env.OPENBLAS_CORETYPE).toBeUndefined();
      expect(env.OPENBLAS_L2_SIZE).toBeUndefined();
      expect(note).toBe("unset in the peer's process only: OPENBLAS_CORETYPE=Haswell");
      expect(process.env.OPENBLAS_CORETYPE).toBe('Haswell');
    } finally {
      if (saved.c === undefined) delete process.env.OPENBLAS_CORETYPE;
      else process.env.OPENBLAS_CORETYPE = saved.c;
      if (saved.l !== undefined) process.env.OPENBLAS_L2_SIZE = saved.l;
    }
  });
});

describe('describeTorch', () => {
  it('gives version, threads, BLAS, the sgemm check as % of the peak, and the environment note', () => {
    const info: TorchInfo = {
      version: '1.13.0', threads: 2, blas: 'OpenBLAS 0.3.21 (libopenblasp-r0.3.21.so, 2 threads)', config: 'CPU capability usage: AVX2',
      sgemm_gflops: 40, peak_gflops: 160, peak_note: '2 cores x 2500 MHz x 32 flop/cycle (AVX2 FMA)', env: {},
    };
    expect(describeTorch(info, 'unset X')).toBe(
      'PyTorch 1.13.0, 2 threads (torch.get_num_threads), BLAS: OpenBLAS 0.3.21 (libopenblasp-r0.3.21.so, 2 threads); CPU capability usage: AVX2; ' +
        'sgemm check 1024^3: 40 GFLOP/s = 25% of 160 GFLOP/s (2 cores x 2500 MHz x 32 flop/cycle (AVX2 FMA)); unset X',
    );
  });
});

describe.skipIf(!findTorchPython())('startTorchPeer (python3-torch installed)', () => {
  it('starts once, reports its threads and BLAS, and answers cases one by one', async () => {
    const peer = await startTorchPeer({ threads: 1 });
    if ('error' in peer) throw new Error(peer.error);
    try {
      expect(peer.info.threads).toBe(1);
      expect(peer.info.blas).toMatch(/\S/);
      expect(peer.describe()).toMatch(/^PyTorch \S+, 1 threads \(torch.get_num_threads\), BLAS: /);
      const a = await peer.time({ kind: 'linear', args: { M: 7, K: 33, N: 5 } });
      const b = await peer.time({ kind: 'rmsnorm', args: { R: 3, D: 17 } });
      expect(a).toBeGreaterThan(0);
      expect(b).toBeGreaterThan(0);
    } finally {
      peer.close();
    }
  });
});
