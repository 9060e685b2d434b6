"""Self-checks for lesson 05's exercises: counting a ViT's parameters, mean pooling, the forward pass, and the
forward pass for any choice of class token and pooling.

Used in notebooks/05_vision_transformer.
"""

from __future__ import annotations

import torch

from ..config import ViTConfig
from ..model import VisionTransformer
from ._common import ExerciseError, exercise, expect_close, expect_int, expect_shape, randomize_

__all__ = ["check_vit_param_count", "check_mean_pool", "check_vit_forward", "check_vit_forward_any"]


def _describe(cfg: ViTConfig) -> str:
    """``vit_param_count(fashion_mnist_cpu, class_token=False)``: the call, with the options that matter."""
    opts = [", num_classes=0" if cfg.num_classes == 0 else "", ", class_token=False" if not cfg.class_token else "",
            ", pos_embed='sincos2d'" if cfg.pos_embed == "sincos2d" else ""]
    return f"vit_param_count({cfg.name}{''.join(opts)})"


@exercise("05.1", "Count the parameters from the config", answer="my_vit_param_count", hints=(
    "Add up the pieces: the patch embedding (a P*P*C -> D projection with bias), the class token (D, only if "
    "class_token), learned position embeddings (D per token; none with pos_embed='sincos2d', which is a fixed "
    "buffer), depth blocks (exercise 04.4), the final LayerNorm (2D), and the head (D -> num_classes with "
    "bias; none when num_classes=0).",
    "One block has 2 * 2D (two LayerNorms) + 3D*D + 3D (qkv) + D*D + D (proj) + D*H + H + H*D + D (the MLP) with "
    "H = config.mlp_hidden_dim; pos_embed has (img_size // P) ** 2 + int(class_token) rows, one per token.",
    "return P*P*C*D + D + (D if config.class_token else 0) + (tokens * D if config.pos_embed == 'learned' else 0) "
    "+ config.depth * block + 2 * D + (D * K + K if K else 0), with D, P, C, K = config.embed_dim, "
    "config.patch_size, config.in_chans, config.num_classes and block, tokens from hint 2"))
def check_vit_param_count(vit_param_count) -> bool | None:
    """Exercise 05.1 · Count the parameters from the config: ``vit_param_count(config)`` -> an int.

    The parameters of ``VisionTransformer(config)``. Used in notebooks/05_vision_transformer.
    """
    cases = [ViTConfig.vit_b_16(), ViTConfig.fashion_mnist_cpu(), ViTConfig.vit_l_32(), ViTConfig.tiny(num_classes=0),
             ViTConfig.tiny(class_token=False, pool="mean"), ViTConfig.tiny(pos_embed="sincos2d")]
    for cfg in cases:
        where = _describe(cfg)
        got = expect_int(vit_param_count(cfg), where)
        with torch.device("meta"):
            want = sum(p.numel() for p in VisionTransformer(cfg).parameters())
        if got == want:
            continue
        D, n, c, p = cfg.embed_dim, cfg.num_tokens, cfg.num_classes, cfg.patch_size
        d = want - got
        hints = {
            D: "short by D: the class token (1 x D) or the class token's row of pos_embed (it has N + 1 rows, "
               "one per patch plus the class token) is missing",
            -D: "D too many: is there a class token in this config? (class_token=False: no cls_token, and "
                "pos_embed has one row per patch)",
            n * D: "forgot the learned position embeddings (one row of D per token)",
            -n * D: "counted position embeddings that are not parameters: with pos_embed='sincos2d' they are a "
                    "fixed buffer",
            2 * D: "forgot the final LayerNorm (norm, 2D) after the last block",
            D * c + c: "forgot the classification head (D x num_classes plus biases)",
            D * p * p * cfg.in_chans + D: "forgot the patch embedding (a P*P*C -> D projection with bias)",
            D * p * p * cfg.in_chans: "forgot the patch embedding's weights (P*P*C x D)",
        }
        if d in hints:
            raise ExerciseError(f"{where} = {got:,}, short by {d:,}: {hints[d]}" if d > 0 else
                                f"{where} = {got:,}, {-d:,} too many: {hints[d]}")
        if cfg.num_classes == 0 and d < 0:
            raise ExerciseError(f"{where} = {got:,} but the model has {want:,}: with num_classes=0 there is no head")
        raise ExerciseError(f"{where} = {got:,} but the model has {want:,} parameters "
                            f"({'short by' if d > 0 else 'too many by'} {abs(d):,})")
    return "every preset and option counted right"


@exercise("05.2", "Mean pooling", answer="my_mean_pool", hints=(
    "Leave out index 0, the class token, and average the remaining N patch tokens over the token dim (dim=1), "
    "not over the features or the batch.",
    "return tokens[:, 1:].mean(dim=1)"))
def check_mean_pool(mean_pool) -> bool | None:
    """Exercise 05.2 · Mean pooling: ``mean_pool(tokens)``, (B, N + 1, D) -> (B, D), the mean of the N patch tokens.

    The class token at index 0 is left out. Used in notebooks/05_vision_transformer.
    """
    g = torch.Generator().manual_seed(50)
    b, n, d = 3, 5, 4  # n patches
    x = torch.randn(b, n + 1, d, generator=g)  # (B, N + 1, D)
    x[:, 0] += 5.0  # a class token that stands out
    got = mean_pool(x.clone())
    want = x[:, 1:].mean(1)  # (B, D)
    expect_shape(got, (b, d), "pooled features", {
        (b, n + 1): "averaged over the features (dim -1); average over the tokens, dim=1",
        (b, n): "averaged over the features (dim -1); average over the patch tokens, dim=1",
        (n + 1, d): "averaged over the batch (dim 0); average over the tokens, dim=1",
        (n, d): "averaged over the batch (dim 0); average over the patch tokens, dim=1",
        (b, 1, d): "keep no token dim: mean(dim=1) without keepdim"})
    expect_close(got, want, "pooled features", atol=1e-6, hints=[
        (x.mean(1), "included the class token: average the patch tokens only, tokens[:, 1:].mean(dim=1)"),
        (x[:, 0], "this is the class token (cls pooling); mean pooling averages the patch tokens, tokens[:, 1:]"),
        (x[:, :-1].mean(1), "dropped the last token instead of the first; the class token is at index 0"),
        (x[:, 1:].sum(1), "summed instead of averaging"),
        (x[:, 1:].sum(1) / (n + 1), "divided by N + 1, counting the class token; there are N patch tokens")])
    return "the mean of the patch tokens, class token left out"


def _perturbed_tiny_vit(**changes) -> VisionTransformer:
    """A tiny ViT whose weights are far from their initialisation, so every part changes the logits."""
    torch.manual_seed(51)
    return randomize_(VisionTransformer(ViTConfig.tiny(**changes)).eval(), 52, scale=0.3, add=True)


@exercise("05.3", "The forward pass from the parts", answer="my_vit_forward", hints=(
    "Follow Eq. 1-4: patch_embed, the class token in front of every image's patches, + pos_embed, every block "
    "in turn, the final norm, then the head reads the class token at index 0.",
    "x = model.patch_embed(images); "
    "x = torch.cat([model.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + model.pos_embed; "
    "for blk in model.blocks: x = blk(x); then return model.head(model.norm(x)[:, 0])"))
def check_vit_forward(vit_forward) -> bool | None:
    """Exercise 05.3 · The forward pass from the parts: ``vit_forward(model, images)`` -> logits.

    Uses the model's parts, with class-token pooling. Used in notebooks/05_vision_transformer.
    """
    model = _perturbed_tiny_vit()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(53))  # (B, C, H, W)
    with torch.no_grad():
        got = vit_forward(model, x.clone())
        want = model(x)  # (B, num_classes)
        patches = model.patch_embed(x)  # (B, N, D)
        cls = model.cls_token.expand(2, -1, -1)  # (B, 1, D)

        def run(tokens, norm=True, pool="cls"):
            for blk in model.blocks:
                tokens = blk(tokens)
            if norm:
                tokens = model.norm(tokens)
            return model.head(tokens[:, 0] if pool == "cls" else tokens[:, 1:].mean(1) if pool == "mean"
                              else tokens[:, -1])

        first = torch.cat([cls, patches], 1)  # (B, N + 1, D)
        hints = [(run(first), "forgot the position embeddings: add model.pos_embed after prepending the class token"),
                 (run(first + model.pos_embed, norm=False), "forgot the final LayerNorm (model.norm) after the blocks"),
                 (run(first + model.pos_embed, pool="mean"), "pooled by the mean of the patch tokens; this model "
                                                             "reads the class token, tokens[:, 0]"),
                 (run(torch.cat([patches, cls], 1) + model.pos_embed, pool="last"),
                  "put the class token at the end; it goes first (index 0)"),
                 (run(torch.cat([patches, cls], 1) + model.pos_embed), "put the class token at the end; it goes "
                                                                      "first, and the head reads index 0")]
    expect_shape(got, tuple(want.shape), "logits", {
        (2, first.shape[1], want.shape[1]): "the head was applied to every token; pool first (the class token, "
                                            "tokens[:, 0])",
        (2, model.config.embed_dim): "these are the pooled features; apply model.head"})
    expect_close(got, want, "logits", atol=1e-4, hints=hints)
    return "the ViT forward pass from its parts"


@exercise("05.4", "One forward pass for every pooling choice", answer="my_vit_forward_any", hints=(
    "Read model.config.class_token and model.config.pool. Without a class token there is nothing to prepend and "
    "every token is a patch, so the mean runs over all of them; with one, the class token is index 0 and the "
    "patches start at index 1.",
    "prefix = 1 if model.config.class_token else 0; prepend model.cls_token only when prefix == 1; after the "
    "blocks and model.norm: pooled = x[:, 0] if model.config.pool == 'cls' else x[:, prefix:].mean(dim=1)"))
def check_vit_forward_any(vit_forward) -> bool | None:
    """Exercise 05.4 · One forward pass for every pooling choice: ``vit_forward(model, images)`` -> logits.

    Checked on three models: class token read by the head; class token kept but mean pooling; no class token
    and mean pooling (all tokens are patches). Used in notebooks/05_vision_transformer.
    """
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(54))  # (B, C, H, W)
    cases = [dict(), dict(pool="mean"), dict(class_token=False, pool="mean")]
    for changes in cases:
        model = _perturbed_tiny_vit(**changes)
        cfg = model.config
        what = f"logits for class_token={cfg.class_token}, pool={cfg.pool!r}"
        with torch.no_grad():
            got = vit_forward(model, x.clone())
            want = model(x)  # (B, num_classes)
            tokens = model.forward_features(x)  # (B, N + 1, D), or (B, N, D) without a class token
            hints = [(model.head(tokens.mean(1)), "averaged every token, the class token included; mean pooling "
                                                  "averages the patch tokens only, tokens[:, 1:]"),
                     (model.head(tokens[:, 0]), "read token 0; with pool='mean' the head reads the mean of the "
                                                "patch tokens")]
            if cfg.class_token:
                hints.append((model.head(tokens[:, 1:].mean(1)), "pooled by the mean of the patch tokens; with "
                                                                  "pool='cls' the head reads the class token, "
                                                                  "tokens[:, 0]"))
            else:
                hints[0] = (model.head(tokens[:, 1:].mean(1)), "skipped token 0, but this model has no class token: "
                                                              "token 0 is a patch, average them all")
        if got is None:
            raise ExerciseError(f"{what}: the function returned None; return the logits")
        expect_shape(got, tuple(want.shape), what)
        expect_close(got, want, what, atol=1e-4, hints=hints)
    return "class token or not, cls or mean pooling, the patches start after the prefix"
