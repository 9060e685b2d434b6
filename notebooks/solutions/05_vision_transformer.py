# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Solutions to lesson 05
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/solutions/05_vision_transformer.ipynb)
#
# Worked solutions to the exercises of [lesson 05](../05_vision_transformer.ipynb). Try them yourself first:
# each check below says what is wrong when an answer is not right yet.

# %%
# Colab: install the course package and what the lessons import (no Jupyter or test tools);
# elsewhere `make lab` already did.
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "vit-lessons @ git+https://github.com/vit-from-scratch/vit-from-scratch"], check=True)

# %%
# NBVAL_IGNORE_OUTPUT
from vit_lessons.lesson import setup, pick
device = setup(seed=0)
import torch
from vit_lessons import ViTConfig, VisionTransformer
from vit_lessons.exercises import (check_distilled_forward, check_distilled_keys, check_vit_forward,
                                   check_vit_forward_any, check_vit_param_count)

# %% [markdown]
# ## Exercise 05.1 · The forward pass from the parts (warm-up)
#
# Eq. 1 (patches, class token in front, position embeddings), the blocks, the final LayerNorm, the
# class token into the head.

# %%
def my_vit_forward(model, images):
    """(B, C, H, W) -> (B, num_classes)."""
    x = model.patch_embed(images)  # (B, N, D)
    cls = model.cls_token.expand(x.shape[0], -1, -1)  # (B, 1, D)
    x = torch.cat([cls, x], dim=1) + model.pos_embed  # (B, N + 1, D)
    for blk in model.blocks:
        x = blk(x)  # (B, N + 1, D)
    x = model.norm(x)  # (B, N + 1, D)
    return model.head(x[:, 0])  # (B, num_classes)


ok = check_vit_forward(my_vit_forward)

# %% [markdown]
# ## Exercise 05.2 · The parameter count, predicted from the config
#
# Patch embedding $P^2CD + D$; class token $D$; learned position embeddings, $D$ for each of the
# `config.num_tokens` tokens ($N + 1$ with a class token, $N$ without, $N + 2$ with the distillation token; none
# when they are sin-cos); $L$ blocks of two LayerNorms, qkv, proj and the MLP; the final LayerNorm $2D$; the head
# $D \cdot K + K$ for $K$ classes (none when $K = 0$). `distilled=True` adds the distillation token ($D$) and a
# second head of the same size.

# %%
def my_vit_param_count(config):
    """Parameters of VisionTransformer(config), from the numbers alone."""
    D, H, P, C = config.embed_dim, config.mlp_hidden_dim, config.patch_size, config.in_chans
    n_tokens = (config.img_size // P) ** 2 + int(config.class_token) + int(config.distilled)
    embed = P * P * C * D + D  # patch_embed.proj (a Conv2d, kernel = stride = P)
    embed += D if config.class_token else 0  # cls_token
    embed += D if config.distilled else 0  # dist_token
    embed += n_tokens * D if config.pos_embed == "learned" else 0  # pos_embed
    block = 2 * (2 * D) + (3 * D * D + 3 * D) + (D * D + D) + (D * H + H) + (H * D + D)
    head = D * config.num_classes + config.num_classes if config.num_classes else 0
    head *= 2 if config.distilled else 1  # head_dist, the same size as head
    return embed + config.depth * block + 2 * D + head


ok = check_vit_param_count(my_vit_param_count)
assert my_vit_param_count(ViTConfig.vit_b_16()) == 86_567_656
print(f"ViT-B/16: {my_vit_param_count(ViTConfig.vit_b_16()):,}; with a distillation token (DeiT-B distilled): "
      f"{my_vit_param_count(ViTConfig.vit_b_16(distilled=True)):,}")

# %% [markdown]
# ## Exercise 05.3 · One forward pass for every pooling choice
#
# The number of prefix tokens (1 with a class token, 0 without) decides two things: whether anything is
# prepended, and where the patch tokens start for the mean. Skipping token 0 in a model without a class
# token drops a real patch, a bug that runs without complaint.

# %%
def my_vit_forward_any(model, images):
    """(B, C, H, W) -> (B, num_classes) for any class_token / pool combination."""
    prefix = 1 if model.config.class_token else 0
    x = model.patch_embed(images)  # (B, N, D)
    if prefix:
        x = torch.cat([model.cls_token.expand(x.shape[0], -1, -1), x], dim=1)  # (B, N + 1, D)
    x = x + model.pos_embed  # (B, N + prefix, D)
    for blk in model.blocks:
        x = blk(x)  # (B, N + prefix, D)
    x = model.norm(x)  # (B, N + prefix, D)
    pooled = x[:, 0] if model.config.pool == "cls" else x[:, prefix:].mean(dim=1)  # (B, D)
    return model.head(pooled)  # (B, num_classes)


ok = check_vit_forward_any(my_vit_forward_any)

# %% [markdown]
# ## Exercise 05.4 · A distillation token (DeiT)
#
# Two learned tokens in front of the patches, class token first, so `pos_embed` has $N + 2$ rows. After the
# blocks and the final LayerNorm each token has its own head; the prediction averages their logits.

# %%
def my_distilled_forward(model, images):
    """(B, C, H, W) -> (B, num_classes) for a VisionTransformer built with distilled=True, in eval mode."""
    x = model.patch_embed(images)  # (B, N, D)
    b = x.shape[0]
    prefix = [model.cls_token.expand(b, -1, -1), model.dist_token.expand(b, -1, -1)]  # 2 x (B, 1, D)
    x = torch.cat(prefix + [x], dim=1) + model.pos_embed  # (B, N + 2, D)
    for blk in model.blocks:
        x = blk(x)  # (B, N + 2, D)
    x = model.norm(x)  # (B, N + 2, D)
    return (model.head(x[:, 0]) + model.head_dist(x[:, 1])) / 2  # (B, num_classes)


ok = check_distilled_forward(my_distilled_forward)

# %% [markdown]
# ## Exercise 05.5 · What a distillation token adds to the state dict
#
# The new token is a parameter stored like `cls_token`; the second head exists only when there is a first; a
# learned `pos_embed` needs one more row. Sin-cos position embeddings are a buffer registered with
# `persistent=False`: a state dict never holds them, so they cannot change in it.

# %%
def my_distilled_keys(config):
    """{state-dict name: shape} that distilled=True adds to VisionTransformer(config) or reshapes."""
    D, K = config.embed_dim, config.num_classes
    keys = {"dist_token": (1, 1, D)}
    if config.pos_embed == "learned":
        keys["pos_embed"] = (1, config.num_patches + 2, D)  # the class and distillation tokens have rows too
    if K:
        keys["head_dist.weight"], keys["head_dist.bias"] = (K, D), (K,)  # nn.Linear: (out_features, in_features)
    return keys


ok = check_distilled_keys(my_distilled_keys)

# %% [markdown]
# The prediction against the two state dicts of the course's 4×4-patch model, side by side:

# %%
cfg = ViTConfig.fashion_mnist_p4()
with torch.device("meta"):
    plain, distilled = VisionTransformer(cfg).state_dict(), VisionTransformer(cfg.replace(distilled=True)).state_dict()
for name, shape in my_distilled_keys(cfg).items():
    before = tuple(plain[name].shape) if name in plain else "-"
    print(f"{name:17s} {str(before):13s} -> {tuple(distilled[name].shape)}")
    assert tuple(distilled[name].shape) == shape
