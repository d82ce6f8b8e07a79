# PyTorch autograd peer of `parallax backward`: the spec's transformer of torch_vchitect.py (same safetensors weights
# and inputs), loss = mean((sample - target)^2), float32 on the CPU; writes every weight's gradient under its checkpoint
# name (zeros where the weight does not reach the loss), "hidden_states" (its gradient) and "loss" [1].
#   python3 torch_vchitect_grad.py TRANSFORMER_DIR INPUTS.safetensors OUT.safetensors
import sys
import torch
from torch_vchitect import Vchitect, read_safetensors, write_safetensors


def main():
    tdir, inp_path, out_path = sys.argv[1:4]
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


if __name__ == '__main__':
    main()
