# PyTorch CPU peer for the kernel benchmarks, run as one long-lived process so each case is timed right after
# Parallax's (same machine load): `torch_peer.py [--threads N]` prints a JSON line describing torch (version,
# threads, BLAS, an sgemm check; see torch_env.py), then reads one JSON case {kind, args} per line on stdin and
# answers {best_ms, median_ms, runs} per line. Written from the same math as the Parallax ops; manual attention
# because Debian's torch 1.13 has no scaled_dot_product_attention.
import json, sys, time
import torch
import torch.nn.functional as F
import torch_env

args = sys.argv[1:]
torch_env.set_threads(args[args.index('--threads') + 1] if '--threads' in args else None)
torch.manual_seed(0)


def make(kind, a):
    if kind == 'linear':
        x = torch.randn(a['M'], a['K']); w = torch.randn(a['N'], a['K']); b = torch.randn(a['N'])
        return lambda: F.linear(x, w, b)
    if kind == 'attention':
        B, H, Sq, Sk, hd = a['B'], a['H'], a['Sq'], a['Sk'], a['hd']
        q = torch.randn(B, H, Sq, hd); k = torch.randn(a.get('Bk', B), H, Sk, hd); v = torch.randn(a.get('Bk', B), H, Sk, hd)
        s = hd ** -0.5
        return lambda: torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * s, dim=-1), v)
    if kind == 'layernorm_mod':
        x = torch.randn(a['R'], a['D']); sc = torch.randn(a['D']); sh = torch.randn(a['D'])
        return lambda: F.layer_norm(x, (a['D'],), eps=1e-6) * (1 + sc) + sh
    if kind == 'rmsnorm':
        x = torch.randn(a['R'], a['D']); w = torch.randn(a['D'])
        return lambda: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w
    if kind == 'groupnorm_silu':
        x = torch.randn(1, a['C'], a['H'], a['W']); w = torch.randn(a['C']); b = torch.randn(a['C'])
        return lambda: F.silu(F.group_norm(x, a['G'], w, b, eps=1e-6))
    if kind == 'modulate':
        x = torch.randn(a['R'], a['D']); sc = torch.randn(a['D']); sh = torch.randn(a['D'])
        return lambda: x * (1 + sc) + sh
    if kind == 'conv3x3':
        x = torch.randn(1, a['Cin'], a['H'], a['W']); w = torch.randn(a['Cout'], a['Cin'], 3, 3); b = torch.randn(a['Cout'])
        return lambda: F.conv2d(x, w, b, padding=1)
    raise ValueError('unknown kind ' + kind)


def median(xs):
    xs = sorted(xs); n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def time_case(f, budget_s=3.0, max_reps=10, min_reps=3):
    """Same protocol as bench/timing.ts timeRuns: one warm-up, then runs until the budget; best and median ms."""
    f()
    times = []
    start = time.perf_counter()
    while len(times) < max_reps and (len(times) < min_reps or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter(); f(); times.append((time.perf_counter() - t0) * 1e3)
    return {'best_ms': min(times), 'median_ms': median(times), 'runs': len(times)}


print(json.dumps(torch_env.describe()), flush=True)
with torch.no_grad():
    for line in sys.stdin:
        if not line.strip():
            continue
        c = json.loads(line)
        print(json.dumps(time_case(make(c['kind'], c['args']))), flush=True)
