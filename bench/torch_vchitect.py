# PyTorch CPU peer for `npm run bench:model`: the Vchitect-2.0 transformer written from the spec
# (/work/shared/spec/vchitect-2.0.md section 2), loading the same safetensors weights as Parallax, timing
# forward passes in float32 (threads set and printed, see torch_env.py). Manual SDPA: Debian's torch 1.13 has no scaled_dot_product_attention.
#   python3 torch_vchitect.py TRANSFORMER_DIR INPUTS.safetensors OUT.safetensors [--repeats N] [--budget SECONDS]
#                             [--threads N] [--no-describe] [--serve]
# INPUTS holds hidden [1,F,C,Hl,Wl], context [1,T,J], pooled [1,P], timestep [1] (or parallax forward's names
# hidden_states, encoder_hidden_states, pooled_projections). Prints a JSON line of timings and the torch setup
# (torch_env.describe(); --no-describe skips it, for whole-command timing). --repeats 0: one forward only.
# --serve: after the warm-up, writes OUT, prints the setup line, then times one forward per 'run' line on stdin.
import json, math, os, struct, sys, time
import numpy as np
import torch
import torch.nn.functional as Fn
import torch_env

LN_EPS = 1e-6
ROPE_THETA = 1e6
NP_DTYPES = {'F32': np.float32, 'F64': np.float64, 'F16': np.float16, 'I64': np.int64, 'I32': np.int32}


def read_safetensors(path):
    """Every tensor of a safetensors file as float32 torch tensors (F32/F16/BF16/F64; integers kept)."""
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        a, b = info['data_offsets']
        buf = raw[base + a:base + b]
        dt = info['dtype']
        if dt == 'BF16':
            arr = (np.frombuffer(buf, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif dt in NP_DTYPES:
            arr = np.frombuffer(buf, dtype=NP_DTYPES[dt])
        else:
            raise ValueError(f'{path}: tensor {name} has unsupported dtype {dt}')
        if arr.dtype.kind == 'f':
            arr = arr.astype(np.float32)
        out[name] = torch.from_numpy(arr.copy()).reshape(info['shape'])
    return out


def write_safetensors(path, tensors):
    """float32 tensors -> safetensors file (header padded to 8 bytes)."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_weights(tdir):
    index = os.path.join(tdir, 'diffusion_pytorch_model.safetensors.index.json')
    if os.path.exists(index):
        files = sorted(set(json.load(open(index))['weight_map'].values()))
        w = {}
        for f in files:
            w.update(read_safetensors(os.path.join(tdir, f)))
        return w
    return read_safetensors(os.path.join(tdir, 'diffusion_pytorch_model.safetensors'))


class Vchitect:
    def __init__(self, tdir):
        self.cfg = json.load(open(os.path.join(tdir, 'config.json')))
        self.w = load_weights(tdir)
        self.H = self.cfg['num_attention_heads']
        self.hd = self.cfg['attention_head_dim']
        self.D = self.H * self.hd
        self.P = self.cfg['patch_size']
        self.M = self.cfg['pos_embed_max_size']
        self.N = self.cfg['num_layers']

    def lin(self, x, name):
        return Fn.linear(x, self.w[name + '.weight'], self.w[name + '.bias'])

    @staticmethod
    def ln(x):
        return Fn.layer_norm(x, (x.shape[-1],), eps=LN_EPS)

    def sdpa(self, q, k, v):
        """q [B, Sq, D], k/v [B, Sk, D] -> [B, Sq, D]; heads split [.., S, H, hd], merged head-major."""
        B, Sq, D = q.shape
        Sk = k.shape[1]
        H, hd = self.H, self.hd
        qh = q.reshape(B, Sq, H, hd).transpose(1, 2)
        kh = k.reshape(k.shape[0], Sk, H, hd).transpose(1, 2)
        vh = v.reshape(v.shape[0], Sk, H, hd).transpose(1, 2)
        a = torch.softmax(torch.matmul(qh, kh.transpose(-1, -2)) * (hd ** -0.5), dim=-1)
        return torch.matmul(a, vh).transpose(1, 2).reshape(B, Sq, D)

    def rope_frames(self, x):
        """Interleaved RoPE along the frame axis of x [F, S, D], same rotation for every head."""
        Fr, S, D = x.shape
        hd = self.hd
        j = torch.arange(hd // 2, dtype=torch.float64)
        freq = ROPE_THETA ** (-2.0 * j / hd)
        ang = torch.arange(Fr, dtype=torch.float64)[:, None] * freq[None, :]  # [F, hd/2]
        cos = torch.cos(ang).to(torch.float32)[:, None, None, :]
        sin = torch.sin(ang).to(torch.float32)[:, None, None, :]
        xr = x.reshape(Fr, S, self.H, hd // 2, 2)
        a, b = xr[..., 0], xr[..., 1]
        return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).reshape(Fr, S, D)

    def attention(self, i, Xh, Ch, Fr, last):
        p = f'transformer_blocks.{i}.attn.'
        L = Xh.shape[1]
        q, k, v = self.lin(Xh, p + 'to_q'), self.lin(Xh, p + 'to_k'), self.lin(Xh, p + 'to_v')
        cq, ck, cv = self.lin(Ch, p + 'add_q_proj'), self.lin(Ch, p + 'add_k_proj'), self.lin(Ch, p + 'add_v_proj')
        cat = lambda a, b: torch.cat([a, b], dim=1)
        S_out = self.sdpa(cat(q, cq), cat(k, ck), cat(v, cv))
        qx = self.lin(Xh, p + 'to_q_cross')
        X_out = self.sdpa(cat(qx, cq), ck[0:1].expand(Fr, -1, -1), cv[0:1].expand(Fr, -1, -1))
        Hsum = 1.1 * S_out + self.lin(X_out, p + 'to_out_context')
        vis = self.lin(Hsum[:, :L], p + 'to_out.0')
        txt = None if last else self.lin(Hsum[:, L:], p + 'to_add_out')
        if Fr > 1:
            Q = self.rope_frames(cat(self.lin(Xh, p + 'to_q_temp'), cq))
            K = self.rope_frames(cat(self.lin(Xh, p + 'to_k_temp'), ck))
            V = cat(self.lin(Xh, p + 'to_v_temp'), cv)
            # per token position over frames: [S, F, D]
            T_out = self.sdpa(Q.transpose(0, 1), K.transpose(0, 1), V.transpose(0, 1)).transpose(0, 1)
            vis = vis + self.lin(T_out[:, :L], p + 'to_out_temporal')
            if not last:
                txt = txt + self.lin(T_out[:, L:], p + 'to_add_out_temporal')
        return vis, txt

    def ff(self, x, name):
        return self.lin(Fn.gelu(self.lin(x, name + '.net.0.proj'), approximate='tanh'), name + '.net.2')

    def block(self, i, X, C, e, Fr):
        p = f'transformer_blocks.{i}.'
        last = i == self.N - 1
        sh1, sc1, g1, sh2, sc2, g2 = self.lin(e, p + 'norm1.linear').chunk(6, dim=-1)
        Xh = self.ln(X) * (1 + sc1) + sh1
        cm = self.lin(e, p + 'norm1_context.linear')
        if last:
            csc, csh = cm.chunk(2, dim=-1)
            Ch = self.ln(C) * (1 + csc) + csh
        else:
            csh1, csc1, cg1, csh2, csc2, cg2 = cm.chunk(6, dim=-1)
            Ch = self.ln(C) * (1 + csc1) + csh1
        Ch = Ch.expand(Fr, -1, -1)
        Ax, Ac = self.attention(i, Xh, Ch, Fr, last)
        X = X + g1 * Ax
        X = X + g2 * self.ff(self.ln(X) * (1 + sc2) + sh2, p + 'ff')
        if not last:
            C = C.expand(Fr, -1, -1) + cg1 * Ac
            C = C + cg2 * self.ff(self.ln(C) * (1 + csc2) + csh2, p + 'ff_context')
        return X, C

    def forward(self, hidden, timestep, context, pooled):
        _, Fr, Cin, Hl, Wl = hidden.shape
        P, D, M = self.P, self.D, self.M
        h, w = Hl // P, Wl // P
        x = Fn.conv2d(hidden[0], self.w['pos_embed.proj.weight'], self.w['pos_embed.proj.bias'], stride=P)
        X = x.flatten(2).transpose(1, 2)  # [F, L, D], l = row*w + col
        top, left = (M - h) // 2, (M - w) // 2
        pos = self.w['pos_embed.pos_embed'].reshape(M, M, D)[top:top + h, left:left + w].reshape(1, h * w, D)
        X = X + pos
        # temb
        e_i = torch.exp(-math.log(10000) * torch.arange(128, dtype=torch.float32) / 128)
        arg = timestep.reshape(1, 1).to(torch.float32) * e_i[None]
        tsin = torch.cat([torch.cos(arg), torch.sin(arg)], dim=-1)
        te = 'time_text_embed.timestep_embedder.'
        pe = 'time_text_embed.text_embedder.'
        temb = self.lin(Fn.silu(self.lin(tsin, te + 'linear_1')), te + 'linear_2')
        temb = temb + self.lin(Fn.silu(self.lin(pooled.reshape(1, -1), pe + 'linear_1')), pe + 'linear_2')
        e = Fn.silu(temb)  # [1, D]
        C = self.lin(context, 'context_embedder')  # [1, T, D]
        for i in range(self.N):
            X, C = self.block(i, X, C, e, Fr)
        scale, shift = self.lin(e, 'norm_out.linear').chunk(2, dim=-1)
        X = self.ln(X) * (1 + scale) + shift
        out = self.lin(X, 'proj_out')  # [F, L, P*P*c]
        c = out.shape[-1] // (P * P)
        out = out.reshape(Fr, h, w, P, P, c)
        out = torch.einsum('nhwpqc->nchpwq', out).reshape(Fr, c, h * P, w * P)
        return out.reshape(1, Fr, c, Hl, Wl)


def main():
    args = sys.argv[1:]
    opt = lambda k, d: type(d)(args[args.index(k) + 1]) if k in args else d
    tdir, inp_path, out_path = args[0], args[1], args[2]
    repeats = opt('--repeats', 5)
    budget = opt('--budget', 60.0)
    torch_env.set_threads(opt('--threads', 0))
    model = Vchitect(tdir)
    inp = read_safetensors(inp_path)
    # Accept both our names and `parallax forward`'s (so one inputs file serves both whole commands).
    get = lambda *names: next(inp[n] for n in names if n in inp)
    hidden, timestep = get('hidden', 'hidden_states'), get('timestep')
    context, pooled = get('context', 'encoder_hidden_states'), get('pooled', 'pooled_projections')
    with torch.no_grad():
        run = lambda: model.forward(hidden, timestep, context, pooled)
        t0 = time.perf_counter()
        out = run()  # warm-up (the only forward with --repeats 0: the whole-command measurement)
        warm = time.perf_counter() - t0
        if '--serve' in args:
            # Interleaved timing: the output and the setup first, then one timed forward per 'run' line on stdin.
            write_safetensors(out_path, {'velocity': out})
            print(json.dumps({**torch_env.describe(), 'warmup_s': warm, 'threads': torch.get_num_threads(), 'version': torch.__version__}), flush=True)
            for line in sys.stdin:
                if line.strip() == 'run':
                    t0 = time.perf_counter()
                    run()
                    print(json.dumps({'s': time.perf_counter() - t0}), flush=True)
            return
        times = []
        start = time.perf_counter()
        while len(times) < repeats and (len(times) < 1 or time.perf_counter() - start + warm < budget):
            t0 = time.perf_counter()
            out = run()
            times.append(time.perf_counter() - t0)
    write_safetensors(out_path, {'velocity': out, 'sample': out})
    s = sorted(times) or [warm]
    med = s[len(s) // 2] if len(s) % 2 else 0.5 * (s[len(s) // 2 - 1] + s[len(s) // 2])
    info = {} if '--no-describe' in args else torch_env.describe()
    print(json.dumps({**info, 'seconds': times, 'median_s': med, 'best_s': s[0], 'warmup_s': warm,
                      'threads': torch.get_num_threads(), 'version': torch.__version__}))


if __name__ == '__main__':
    main()
