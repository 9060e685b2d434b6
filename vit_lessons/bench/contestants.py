"""What ``bench speed`` races: one config built by us, timm and torchvision with the same weights;
our attention written four ways; and the peak memory of a step.

Built in notebooks/10_making_it_fast.
"""

from __future__ import annotations

import contextlib
import weakref

import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ..attention import Attention, scaled_dot_product_attention
from ..config import ViTConfig
from ..model import VisionTransformer

__all__ = ["WAYS", "attention_ways", "attention_step", "build_models", "batch_for", "adamw_kind", "peak_memory",
           "PeakMemory"]

WAYS = ("loop over heads", "batched heads", "fused qkv", "SDPA")


def batch_for(cfg: ViTConfig, batch: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random batch of images (B, C, H, W) and labels (B,) for ``cfg``."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, cfg.in_chans, cfg.img_size, cfg.img_size, generator=g)  # (B, C, H, W)
    y = torch.randint(0, max(cfg.num_classes, 1), (batch,), generator=g)
    return x.to(device), y.to(device)


def adamw_kind(device) -> dict:
    """AdamW's fastest form on ``device``: one fused kernel on a GPU, the multi-tensor update on a CPU."""
    return {"fused": True} if torch.device(device).type == "cuda" else {"foreach": True}


# ---- our attention, the four ways of lesson 03, all reading one Attention module's weights -------------
def _heads(t: torch.Tensor, h: int) -> torch.Tensor:
    B, N, D = t.shape
    return t.view(B, N, h, D // h).transpose(1, 2)  # (B, n, D) -> (B, h, n, d), n = N + 1 tokens


def attention_ways(cfg: ViTConfig, device) -> dict[str, nn.Module | callable]:
    """The four ways, as callables (B, N + 1, D) -> (B, N + 1, D) sharing one set of weights; checked equal."""
    torch.manual_seed(0)
    a = Attention(cfg.embed_dim, cfg.num_heads, cfg.qkv_bias, fused_attn=False).to(device)
    D, h, d = cfg.embed_dim, cfg.num_heads, cfg.head_dim
    W, b = a.qkv.weight, a.qkv.bias  # rows [W_q; W_k; W_v], head i owns rows i*d:(i+1)*d of each

    def part(j, i=None):  # the qkv rows of projection j (0 q, 1 k, 2 v), of head i or of every head
        rows = slice(j * D + i * d, j * D + (i + 1) * d) if i is not None else slice(j * D, (j + 1) * D)
        return W[rows], (b[rows] if b is not None else None)

    def loop(x):
        outs = [scaled_dot_product_attention(*(F.linear(x, *part(j, i)) for j in range(3)))[0]  # (B, N + 1, d)
                for i in range(h)]
        return a.proj(torch.cat(outs, dim=-1))  # h x (B, N + 1, d) -> (B, N + 1, D)

    def batched(x):
        q, k, v = (_heads(F.linear(x, *part(j)), h) for j in range(3))  # 3 x (B, h, N + 1, d)
        o = scaled_dot_product_attention(q, k, v)[0]  # (B, h, N + 1, d)
        return a.proj(o.transpose(1, 2).reshape(x.shape))  # (B, N + 1, D)

    sdpa = Attention(D, h, cfg.qkv_bias, fused_attn=True).to(device)
    sdpa.load_state_dict(a.state_dict())
    ways = dict(zip(WAYS, (loop, batched, a, sdpa)))
    x = torch.randn(2, cfg.num_tokens, D, device=device)  # (B, N + 1, D)
    with torch.no_grad():
        ref = a(x)
        for name, f in ways.items():
            assert_close(f(x), ref, atol=1e-5, rtol=1e-4, msg=lambda m, n=name: f"attention '{n}' differs: {m}")
    return ways


def attention_step(f, x: torch.Tensor, train: bool, bf16: bool):
    """One timed call of an attention way: forward, plus backward when ``train``."""
    amp = torch.autocast(x.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    g = torch.randn_like(x)

    def step():
        if train:
            with amp:
                out = f(x)
            out.backward(g.to(out.dtype))
            x.grad = None
        else:
            with torch.inference_mode(), amp:
                f(x)
    return step


# ---- the same model three ways: ours, timm's, torchvision's ---------------------------------------------
def _timm(cfg: ViTConfig, ours: VisionTransformer) -> nn.Module:
    from timm.models.vision_transformer import VisionTransformer as TimmViT  # optional dependency

    m = TimmViT(img_size=cfg.img_size, patch_size=cfg.patch_size, in_chans=cfg.in_chans, num_classes=cfg.num_classes,
                embed_dim=cfg.embed_dim, depth=cfg.depth, num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio,
                qkv_bias=cfg.qkv_bias, class_token=cfg.class_token, global_pool="token")
    sd = ours.state_dict()
    if "pos_embed" not in sd:  # fixed sin-cos positions are a buffer in ours: copy them, frozen, into timm's
        sd["pos_embed"] = ours.pos_embed.detach().clone()
        m.pos_embed.requires_grad_(False)
    m.load_state_dict(sd)
    return m


def _torchvision(cfg: ViTConfig, ours: VisionTransformer) -> nn.Module:
    from torchvision.models.vision_transformer import VisionTransformer as TvViT

    from ..pretrained import convert_torchvision_state_dict

    mlp = cfg.mlp_hidden_dim
    m = TvViT(cfg.img_size, cfg.patch_size, cfg.depth, cfg.num_heads, cfg.embed_dim, mlp, num_classes=cfg.num_classes)
    if cfg.in_chans != 3:  # torchvision's ViT is built for RGB only
        m.conv_proj = nn.Conv2d(cfg.in_chans, cfg.embed_dim, cfg.patch_size, cfg.patch_size)
    names = convert_torchvision_state_dict({k: k for k in m.state_dict()})  # our name -> torchvision's
    sd = ours.state_dict()
    if "pos_embed" not in sd:
        sd["pos_embed"] = ours.pos_embed.detach().clone()
        m.encoder.pos_embedding.requires_grad_(False)
    m.load_state_dict({names[k]: v for k, v in sd.items()})
    return m


def build_models(cfg: ViTConfig, impls, device) -> dict[str, nn.Module]:
    """``impls`` (of ours-explicit, ours-sdpa, timm, torchvision) with one set of weights; logits checked equal."""
    if not cfg.class_token or cfg.pool != "cls" or not cfg.qkv_bias and "torchvision" in impls:
        raise ValueError("the speed benchmark compares class-token ViTs with qkv biases (what timm and "
                         f"torchvision both build); {cfg.name} is not one")
    torch.manual_seed(0)
    ours = VisionTransformer(cfg.replace(fused_attn=False))
    with torch.no_grad():  # random biases and LayerNorm weights too, so equal logits mean equal weights
        for p in ours.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    makers = {"ours-explicit": lambda: ours,
              "ours-sdpa": lambda: _copy(VisionTransformer(cfg.replace(fused_attn=True)), ours),
              "timm": lambda: _timm(cfg, ours), "torchvision": lambda: _torchvision(cfg, ours)}
    models = {name: makers[name]().to(device) for name in impls}
    x, _ = batch_for(cfg, 2, device)
    with torch.no_grad():
        ref = ours.to(device).eval()(x)
        for name, m in models.items():
            out = m.eval()(x)
            tol = 1e-4 * max(1.0, ref.abs().max().item())
            assert_close(out, ref, atol=tol, rtol=1e-4, msg=lambda s, n=name: f"{n} gives other logits: {s}")
    return models


def _copy(dst: VisionTransformer, src: VisionTransformer) -> VisionTransformer:
    dst.load_state_dict(src.state_dict())
    return dst


# ---- peak memory of a step ---------------------------------------------------------------------------
class PeakMemory(TorchDispatchMode):
    """Live bytes of the tensors created under it, and their peak: a CPU stand-in for CUDA's memory stats.

    Each new storage counts from its creation until Python frees it; outputs that share storage with an
    input (views, in-place updates) are not new memory.
    """

    def __init__(self):
        super().__init__()
        self.live, self.now, self.peak = {}, 0, 0

    def _free(self, key):
        self.now -= self.live.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        ins = {t.untyped_storage().data_ptr() for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)}
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                st = t.untyped_storage()
                key = st.data_ptr()
                if key and key not in ins and key not in self.live:
                    self.live[key] = st.nbytes()
                    self.now += st.nbytes()
                    self.peak = max(self.peak, self.now)
                    weakref.finalize(st, self._free, key)
        return out


def _bytes(ts) -> int:
    return sum(t.numel() * t.element_size() for t in ts if isinstance(t, torch.Tensor))


def peak_memory(step, model: nn.Module, opt, batch, device) -> float:
    """Peak MB during one call of ``step``: what was there before (weights, optimizer state, the batch) plus
    the most that was allocated at once during it (activations, gradients). CUDA's counter on a GPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / 2**20
    state = [v for s in (opt.state.values() if opt else []) for v in s.values()]
    static = _bytes(list(model.parameters()) + list(model.buffers()) + state + list(batch))
    with PeakMemory() as pm:
        step()
    return (static + pm.peak) / 2**20
