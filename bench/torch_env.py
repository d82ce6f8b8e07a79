# Shared by the PyTorch peers (torch_peer.py, torch_vchitect.py): sets the thread count, and describes what torch
# runs on (version, threads, the BLAS library actually loaded and its config, torch.__config__ summary) plus a
# quick independent sgemm check against the CPU's theoretical f32 FMA peak, so a slow BLAS cannot go unnoticed.
import ctypes, os, re, time
import torch


def set_threads(n):
    n = int(n) if n else len(os.sched_getaffinity(0))
    torch.set_num_threads(n)
    return n


def _blas():
    """(path, config string, threads) of the BLAS library loaded in this process (after one matmul)."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    libs = []
    with open('/proc/self/maps') as f:
        for line in f:
            p = line.split()[-1]
            if re.search(r'lib(open)?blas|blis|mkl_rt|libmkl', p) and p not in libs:
                libs.append(p)
    for p in libs:
        try:
            lib = ctypes.CDLL(p)
            get = lib.openblas_get_config
            get.restype = ctypes.c_char_p
            return p, get().decode(), lib.openblas_get_num_threads()
        except (OSError, AttributeError):
            continue
    path = libs[0] if libs else 'none found'
    real = os.path.realpath(path) if libs else path
    kind = 'netlib REFERENCE BLAS (slow: apt-get install libopenblas0-pthread)' if '/blas/' in real else os.path.basename(real)
    return real, kind, None


def _summary():
    show = torch.__config__.show()
    keep = []
    for pat in [r'Intel\(R\) MKL-DNN v[\d.]+', r'CPU capability usage: \w+', r'BLAS_INFO=\w+', r'USE_OPENMP=\w+', r'USE_MKLDNN=\w+']:
        m = re.search(pat, show)
        if m:
            keep.append(m.group(0))
    return ', '.join(keep)


def _peak_gflops():
    """Theoretical f32 FMA peak of the cores this process may use: cores x MHz x 32 (AVX2: 2 FMA units x 8 lanes x 2)."""
    mhz = 0.0
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('cpu MHz'):
                mhz = max(mhz, float(line.split(':')[1]))
    return len(os.sched_getaffinity(0)) * mhz * 1e-3 * 32, mhz


def _sgemm_check(n=1024):
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(5))
    return 2 * n ** 3 / best / 1e9


def _timed(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def describe():
    """A dict printed by the peers' first JSON line and shown in the tables' headers."""
    path, config, blas_threads = _blas()
    peak, mhz = _peak_gflops()
    gf = _sgemm_check()
    return {
        'version': torch.__version__,
        'threads': torch.get_num_threads(),
        'blas': f'{config} ({os.path.basename(path)}{f", {blas_threads} threads" if blas_threads else ""})',
        'config': _summary(),
        'sgemm_gflops': round(gf, 1),
        'peak_gflops': round(peak, 1),
        'peak_note': f'{len(os.sched_getaffinity(0))} cores x {mhz:.0f} MHz x 32 flop/cycle (AVX2 FMA)',
        'env': {k: os.environ[k] for k in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE') if k in os.environ},
    }
