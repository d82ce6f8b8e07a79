# PyTorch CPU peer for the kernel benchmarks: reads a JSON list of cases on stdin, times each with torch on the
# CPU (all cores, float32), prints a JSON object {name: median_ms} on stdout. Written from the same math as the
# Parallax ops; manual attention because Debian's torch 1.13 has no scaled_dot_product_attention.
import json, sys, time, os
import torch
import torch.nn.functional as F

torch.set_num_threads(os.cpu_count() or 1)
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

out = {}
with torch.no_grad():
    for c in json.load(sys.stdin):
        f = make(c['kind'], c['args'])
        f()
        times = []
        start = time.perf_counter()
        while len(times) < 10 and (len(times) < 3 or time.perf_counter() - start < 3.0):
            t0 = time.perf_counter(); f(); times.append((time.perf_counter() - t0) * 1e3)
        out[c['name']] = median(times)
print(json.dumps(out))
