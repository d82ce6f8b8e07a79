# PyTorch autograd peer of `parallax backward` and of `npm run bench:train`: the spec's transformer of
# torch_vchitect.py (same safetensors weights), float32 on the CPU.
#   python3 torch_vchitect_grad.py TRANSFORMER_DIR INPUTS.safetensors OUT.safetensors
#     loss = mean((sample - target)^2); writes every weight's gradient under its checkpoint name (zeros where the weight
#     does not reach the loss), "hidden_states" (its gradient) and "loss" [1].
#   python3 torch_vchitect_grad.py --train TRANSFORMER_DIR BATCH.safetensors [--lr X] [--weight-decay X] [--clip X]
#                                  [--threads N]
#     serves training steps as engine/train/train-step.ts takes them, for bench/train.ts: BATCH holds K items
#     (x0.i [1,F,C,Hl,Wl], context.i [1,T,J], pooled.i [1,P]) and D draws per item (sigma.d.i [1], eps.d.i like x0).
#     Step s uses draw (s - 1) mod D: x_t = (1 - sigma) x0 + sigma eps, target = eps - x0, v = model(x_t, 1000 sigma),
#     loss_i = mean((v - target)^2), (loss_i / K).backward() per item; missing gradients are zeros; global-norm clip;
#     torch.optim.AdamW (betas 0.9/0.999, eps 1e-8, weight decay only on matrices other than pos_embed.pos_embed);
#     the EMA with diffusers' decay. Prints the torch setup as a JSON line, then one JSON line
#     {"s", "loss", "grad_norm"} per 'run' line on stdin (s: seconds of the whole step).
import json, sys, time
import torch
import torch_env
from torch_vchitect import Vchitect, read_safetensors, write_safetensors


def gradients(tdir, inp_path, out_path):
    model = Vchitect(tdir)
    for t in model.w.values():
        t.requires_grad_(True)
    inp = read_safetensors(inp_path)
    hidden = inp['hidden_states'].clone().requires_grad_(True)
    out = model.forward(hidden, inp['timestep'], inp['encoder_hidden_states'], inp['pooled_projections'])
    loss = ((out - inp['target']) ** 2).mean()
    loss.backward()
    grads = {k: (t.grad if t.grad is not None else torch.zeros_like(t)) for k, t in model.w.items()}
    grads['hidden_states'] = hidden.grad
    grads['loss'] = loss.detach().reshape(1)
    write_safetensors(out_path, grads)


def decays(name, t):
    """engine/train/update.ts decays(): weight decay on matrices and conv kernels, not on the positional table."""
    return t.dim() >= 2 and name != 'pos_embed.pos_embed'


def ema_decay(step):
    """diffusers EMAModel.get_decay as engine/train/schedule.ts emaDecay (defaults): step 1 copies the weights."""
    s = max(0, step - 1)
    return 0.0 if s <= 0 else min((1 + s) / (10 + s), 0.9999)


class Trainer:
    def __init__(self, tdir, batch_path, lr, weight_decay, clip):
        self.model = Vchitect(tdir)
        self.names = list(self.model.w.keys())
        self.params = [self.model.w[k].requires_grad_(True) for k in self.names]
        b = read_safetensors(batch_path)
        self.K = sum(1 for k in b if k.startswith('x0.'))
        self.D = sum(1 for k in b if k.startswith('sigma.') and k.endswith('.0'))
        self.items = [(b[f'x0.{i}'], b[f'context.{i}'], b[f'pooled.{i}']) for i in range(self.K)]
        self.draws = [[(float(b[f'sigma.{d}.{i}'][0]), b[f'eps.{d}.{i}']) for i in range(self.K)] for d in range(self.D)]
        groups = [
            {'params': [p for k, p in zip(self.names, self.params) if decays(k, p)], 'weight_decay': weight_decay},
            {'params': [p for k, p in zip(self.names, self.params) if not decays(k, p)], 'weight_decay': 0.0},
        ]
        self.opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)
        self.ema = [p.detach().clone() for p in self.params]
        self.clip = clip
        self.step = 0

    def train_step(self):
        self.step += 1
        self.opt.zero_grad(set_to_none=True)
        total = 0.0
        for (x0, ctx, pooled), (sigma, eps) in zip(self.items, self.draws[(self.step - 1) % self.D]):
            xt = (1 - sigma) * x0 + sigma * eps
            target = eps - x0
            v = self.model.forward(xt, torch.tensor([1000 * sigma], dtype=torch.float32), ctx, pooled)
            loss = ((v - target) ** 2).mean()
            (loss / self.K).backward()
            total += loss.item() / self.K
        for p in self.params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.clip) if self.clip > 0 else \
            torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in self.params]))
        self.opt.step()
        d = ema_decay(self.step)
        with torch.no_grad():
            for e, p in zip(self.ema, self.params):
                e.mul_(d).add_(p, alpha=1 - d)
        return total, float(norm)


def serve_train(args):
    opt = lambda k, d: type(d)(args[args.index(k) + 1]) if k in args else d
    torch_env.set_threads(opt('--threads', 0))
    tr = Trainer(args[1], args[2], opt('--lr', 1e-4), opt('--weight-decay', 1e-4), opt('--clip', 1.0))
    print(json.dumps({**torch_env.describe(), 'threads': torch.get_num_threads(), 'version': torch.__version__}), flush=True)
    for line in sys.stdin:
        if line.strip() == 'run':
            t0 = time.perf_counter()
            loss, norm = tr.train_step()
            print(json.dumps({'s': time.perf_counter() - t0, 'loss': loss, 'grad_norm': norm}), flush=True)


if __name__ == '__main__':
    if sys.argv[1] == '--train':
        serve_train(sys.argv[1:])
    else:
        gradients(*sys.argv[1:4])
