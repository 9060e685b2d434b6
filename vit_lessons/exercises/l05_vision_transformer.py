"""Self-checks for lesson 05's exercises: the forward pass from the parts, the parameter count predicted from the
config, the forward pass for any class-token and pooling choice, and DeiT's distillation token: its forward pass
and the state-dict entries it adds.

Used in notebooks/05_vision_transformer.
"""

from __future__ import annotations

import torch

from ..config import ViTConfig
from ..model import VisionTransformer
from ._common import ExerciseError, exercise, expect_close, expect_int, expect_shape, randomize_

__all__ = ["check_vit_forward", "check_vit_param_count", "check_vit_forward_any", "check_distilled_forward",
           "check_distilled_keys"]


def _perturbed_tiny_vit(**changes) -> VisionTransformer:
    """A tiny ViT whose weights are far from their initialisation, so every part changes the logits."""
    torch.manual_seed(51)
    return randomize_(VisionTransformer(ViTConfig.tiny(**changes)).eval(), 52, scale=0.3, add=True)


@exercise("05.1", "The forward pass from the parts (warm-up)", answer="my_vit_forward", hints=(
    "Follow Eq. 1-4: patch_embed, the class token in front of every image's patches, + pos_embed, every block "
    "in turn, the final norm, then the head reads the class token at index 0.",
    "x = model.patch_embed(images); "
    "x = torch.cat([model.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + model.pos_embed; "
    "for blk in model.blocks: x = blk(x); then return model.head(model.norm(x)[:, 0])"))
def check_vit_forward(vit_forward) -> bool | None:
    """Exercise 05.1 · The forward pass from the parts (warm-up): ``vit_forward(model, images)`` -> logits.

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


def _describe(cfg: ViTConfig) -> str:
    """``vit_param_count(fashion_mnist_cpu, class_token=False)``: the call, with the options that matter."""
    opts = [", num_classes=0" if cfg.num_classes == 0 else "", ", class_token=False" if not cfg.class_token else "",
            ", pos_embed='sincos2d'" if cfg.pos_embed == "sincos2d" else "",
            ", distilled=True" if cfg.distilled else ""]
    return f"vit_param_count({cfg.name}{''.join(opts)})"


@exercise("05.2", "The parameter count, predicted from the config", answer="my_vit_param_count", hints=(
    "Add up the pieces: the patch embedding (a P*P*C -> D projection with bias), the class token (D, only if "
    "class_token), learned position embeddings (D per token; none with pos_embed='sincos2d', which is a fixed "
    "buffer), depth blocks (exercise 04.2), the final LayerNorm (2D), and the head (D -> num_classes with "
    "bias; none when num_classes=0). distilled=True adds a second token (D, and a row of learned pos_embed) and "
    "a second head, head_dist, like the first.",
    "One block has 2 * 2D (two LayerNorms) + 3D*D + 3D (qkv) + D*D + D (proj) + D*H + H + H*D + D (the MLP) with "
    "H = config.mlp_hidden_dim; pos_embed has config.num_tokens rows, one per token: the N patches, the class token "
    "if any, and the distillation token if distilled.",
    "return P*P*C*D + D + (D if config.class_token else 0) + (tokens * D if config.pos_embed == 'learned' else 0) "
    "+ config.depth * block + 2 * D + (D * K + K if K else 0) * (2 if config.distilled else 1) "
    "+ (D if config.distilled else 0), with D, P, C, K = config.embed_dim, config.patch_size, config.in_chans, "
    "config.num_classes, tokens = config.num_tokens and block from hint 2"))
def check_vit_param_count(vit_param_count) -> bool | None:
    """Exercise 05.2 · The parameter count, predicted from the config: ``vit_param_count(config)`` -> an int.

    The parameters of ``VisionTransformer(config)``, predicted from the config's numbers; the check builds the
    model on the meta device and counts. Used in notebooks/05_vision_transformer.
    """
    cases = [ViTConfig.vit_b_16(), ViTConfig.fashion_mnist_cpu(), ViTConfig.vit_l_32(), ViTConfig.tiny(num_classes=0),
             ViTConfig.tiny(class_token=False, pool="mean"), ViTConfig.tiny(pos_embed="sincos2d"),
             ViTConfig.tiny(distilled=True), ViTConfig.fashion_mnist_cpu(distilled=True)]
    for cfg in cases:
        where = _describe(cfg)
        got = expect_int(vit_param_count(cfg), where)
        with torch.device("meta"):
            want = sum(p.numel() for p in VisionTransformer(cfg).parameters())
        if got == want:
            continue
        D, n, c, p = cfg.embed_dim, cfg.num_tokens, cfg.num_classes, cfg.patch_size
        d = want - got
        extra = "; with distilled=True there are two" if cfg.distilled else ""
        hints = {
            D: "short by D: the class token (1 x D) or the class token's row of pos_embed (it has N + 1 rows, "
               "one per patch plus the class token) is missing" + (", or the distillation token, or its row"
                                                                   if cfg.distilled else ""),
            -D: "D too many: is there a class token in this config? (class_token=False: no cls_token, and "
                "pos_embed has one row per patch)",
            n * D: "forgot the learned position embeddings (one row of D per token)",
            -n * D: "counted position embeddings that are not parameters: with pos_embed='sincos2d' they are a "
                    "fixed buffer",
            2 * D: "forgot the final LayerNorm (norm, 2D) after the last block" + (
                ", or the distillation token and its row of pos_embed" if cfg.distilled else ""),
            D * c + c: "forgot a classification head (D x num_classes plus biases)" + extra + " (head_dist reads the "
                       "distillation token)" * cfg.distilled,
            D * p * p * cfg.in_chans + D: "forgot the patch embedding (a P*P*C -> D projection with bias)",
            D * p * p * cfg.in_chans: "forgot the patch embedding's weights (P*P*C x D)",
        }
        if cfg.distilled:
            hints[D + D * c + c + D * (cfg.pos_embed == "learned")] = (
                "forgot all that distilled=True adds: dist_token (D), its row of learned pos_embed, and head_dist "
                "(D x num_classes plus biases)")
        if d in hints:
            raise ExerciseError(f"{where} = {got:,}, short by {d:,}: {hints[d]}" if d > 0 else
                                f"{where} = {got:,}, {-d:,} too many: {hints[d]}")
        if cfg.num_classes == 0 and d < 0:
            raise ExerciseError(f"{where} = {got:,} but the model has {want:,}: with num_classes=0 there is no head")
        raise ExerciseError(f"{where} = {got:,} but the model has {want:,} parameters "
                            f"({'short by' if d > 0 else 'too many by'} {abs(d):,})")
    return "every preset and option counted right"


@exercise("05.3", "One forward pass for every pooling choice", answer="my_vit_forward_any", hints=(
    "Read model.config.class_token and model.config.pool. Without a class token there is nothing to prepend and "
    "every token is a patch, so the mean runs over all of them; with one, the class token is index 0 and the "
    "patches start at index 1.",
    "prefix = 1 if model.config.class_token else 0; prepend model.cls_token only when prefix == 1; after the "
    "blocks and model.norm: pooled = x[:, 0] if model.config.pool == 'cls' else x[:, prefix:].mean(dim=1)"))
def check_vit_forward_any(vit_forward) -> bool | None:
    """Exercise 05.3 · One forward pass for every pooling choice: ``vit_forward(model, images)`` -> logits.

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


@exercise("05.4", "A distillation token (DeiT)", answer="my_distilled_forward", hints=(
    "Two learned tokens go in front of the patches, the class token first and then model.dist_token, so "
    "pos_embed has N + 2 rows. After the blocks and the final norm, model.head reads token 0 and model.head_dist "
    "reads token 1; the prediction averages the two heads' logits.",
    "x = model.patch_embed(images); b = x.shape[0]; "
    "x = torch.cat([model.cls_token.expand(b, -1, -1), model.dist_token.expand(b, -1, -1), x], dim=1) "
    "+ model.pos_embed; for blk in model.blocks: x = blk(x); x = model.norm(x); "
    "return (model.head(x[:, 0]) + model.head_dist(x[:, 1])) / 2"))
def check_distilled_forward(distilled_forward) -> bool | None:
    """Exercise 05.4 · A distillation token (DeiT): ``distilled_forward(model, images)`` -> logits.

    ``model`` is a ``VisionTransformer`` built with ``distilled=True`` (Touvron et al. 2021, Sec. 4), in eval mode;
    the logits are the average of the class token's head and the distillation token's head, as the package and
    timm predict. Used in notebooks/05_vision_transformer.
    """
    model = _perturbed_tiny_vit(distilled=True)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(55))  # (B, C, H, W)
    try:
        with torch.no_grad():
            got = distilled_forward(model, x.clone())
    except RuntimeError as err:
        if "size" not in str(err):
            raise
        raise ExerciseError(f"the forward pass failed ({err}). A distilled model's pos_embed has N + 2 rows: "
                            "put the class token and model.dist_token in front of the patches, then add it") from None
    with torch.no_grad():
        want = model(x)  # (B, K)
        t = model.forward_features(x)  # (B, N + 2, D): class token, distillation token, patches
        head, dist = model.head, model.head_dist
        patches, b = model.patch_embed(x), x.shape[0]
        cls, dtok = model.cls_token.expand(b, -1, -1), model.dist_token.expand(b, -1, -1)

        def features(tokens):  # blocks and the final norm
            for blk in model.blocks:
                tokens = blk(tokens)
            return model.norm(tokens)

        swapped = features(torch.cat([dtok, cls, patches], 1) + model.pos_embed)  # (B, N + 2, D)
        no_pos = features(torch.cat([cls, dtok, patches], 1))
        probs = (head(t[:, 0]).softmax(-1) + dist(t[:, 1]).softmax(-1)) / 2  # (B, K)
        hints = [(head(t[:, 0]), "only the class token's head; a distilled model averages two heads: "
                                 "(head(token 0) + head_dist(token 1)) / 2"),
                 (dist(t[:, 1]), "only the distillation head; the prediction averages it with the class token's head"),
                 ((head(t[:, 0]) + dist(t[:, 0])) / 2, "both heads read the class token; head_dist reads the "
                                                       "distillation token, index 1"),
                 ((head(t[:, 1]) + dist(t[:, 0])) / 2, "the heads read each other's token: head reads token 0 "
                                                       "(class), head_dist token 1 (distillation)"),
                 (head(t[:, 0]) + dist(t[:, 1]), "summed the two heads; average them: divide by 2"),
                 (probs, "averaged the two heads' probabilities (DeiT's late fusion of the softmax outputs, Sec. 4); "
                         "the package, like timm, averages the logits"),
                 (probs.log(), "averaged the two heads' probabilities and took the log; the package, like timm, "
                               "averages the logits"),
                 *[(pair, "put the distillation token first; the order is [class, distillation, patches]")
                   for pair in ((head(swapped[:, 0]) + dist(swapped[:, 1])) / 2,
                                (head(swapped[:, 1]) + dist(swapped[:, 0])) / 2)],
                 ((head(no_pos[:, 0]) + dist(no_pos[:, 1])) / 2, "forgot the position embeddings: add "
                                                                 "model.pos_embed after prepending both tokens")]
    expect_shape(got, tuple(want.shape), "distilled logits", {
        (b, model.config.embed_dim): "these are features; apply the heads",
        (b, t.shape[1], want.shape[1]): "the heads were applied to every token; they read tokens 0 and 1"})
    expect_close(got, want, "distilled logits", atol=1e-4, hints=hints)
    return "class and distillation token in front, each read by its own head, the logits averaged"


def _shape(v) -> tuple | None:
    """A shape given as a tuple, list or torch.Size, as a tuple of ints; None when it is not a shape."""
    if isinstance(v, (tuple, list, torch.Size)) and all(isinstance(i, int) and not isinstance(i, bool) for i in v):
        return tuple(v)
    return None


@exercise("05.5", "What a distillation token adds to the state dict", answer="my_distilled_keys", hints=(
    "Compare VisionTransformer(config) with VisionTransformer(config.replace(distilled=True)) in your head: a new "
    "token (stored like cls_token), a second head like head, and one more token for pos_embed. But only "
    "parameters and persistent buffers are in a state dict, and a model without a head has no second head.",
    "D, K, n = config.embed_dim, config.num_classes, config.num_patches + 2; "
    "keys = {'dist_token': (1, 1, D)}; if config.pos_embed == 'learned': keys['pos_embed'] = (1, n, D); "
    "if K: keys['head_dist.weight'] = (K, D); keys['head_dist.bias'] = (K,); return keys"))
def check_distilled_keys(distilled_keys) -> bool | None:
    """Exercise 05.5 · What a distillation token adds to the state dict: ``distilled_keys(config)`` -> {name: shape}.

    The state-dict entries that ``distilled=True`` adds to ``VisionTransformer(config)`` or gives a new shape,
    predicted from the config; the check builds both models on the meta device and compares their state dicts.
    Used in notebooks/05_vision_transformer.
    """
    cases = [ViTConfig.fashion_mnist_p4(), ViTConfig.fashion_mnist_cpu(), ViTConfig.tiny(num_classes=0)]
    for cfg in cases:
        with torch.device("meta"):
            plain = VisionTransformer(cfg).state_dict()
            dist = VisionTransformer(cfg.replace(distilled=True)).state_dict()
        want = {k: tuple(v.shape) for k, v in dist.items() if k not in plain or plain[k].shape != v.shape}
        where = f"distilled_keys({cfg.name}{', num_classes=0' if cfg.num_classes == 0 else ''})"
        got = distilled_keys(cfg)
        if not isinstance(got, dict):
            raise ExerciseError(f"{where} should return a dict {{state-dict name: shape}}, got {type(got).__name__}")
        shapes = {k: _shape(v) for k, v in got.items()}
        if None in shapes.values():
            bad = next(k for k, v in shapes.items() if v is None)
            raise ExerciseError(f"{where}[{bad!r}] = {got[bad]!r} is not a shape; give a tuple of ints such as (1, 1, "
                                f"{cfg.embed_dim})")
        missing, extra = sorted(set(want) - set(shapes)), sorted(set(shapes) - set(want))
        if "pos_embed" in missing:
            raise ExerciseError(f"{where}: pos_embed is missing; a learned pos_embed grows by one row for the "
                                f"distillation token, to {want['pos_embed']}")
        if "pos_embed" in extra:
            raise ExerciseError(f"{where}: lists pos_embed, but sin-cos position embeddings are a fixed buffer "
                                "registered with persistent=False: they are not in the state dict at all")
        if any(k.startswith("head_dist") for k in extra) and cfg.num_classes == 0:
            raise ExerciseError(f"{where}: lists head_dist, but with num_classes=0 there is no head, and no head_dist")
        if "head_dist.bias" in missing and "head_dist.weight" not in missing:
            raise ExerciseError(f"{where}: head_dist.bias is missing; head_dist is an nn.Linear, weight and bias")
        same = [k for k in extra if k in plain and tuple(plain[k].shape) == shapes[k]]
        if same:
            raise ExerciseError(f"{where}: {', '.join(same)} {'is' if len(same) == 1 else 'are'} in both models with "
                                "the same shape; list only what is new or changes shape")
        if missing or extra:
            raise ExerciseError(f"{where}: missing {missing or 'nothing'}, not in the state dict {extra or 'nothing'}"
                                "; the names follow timm: dist_token, head_dist.weight, head_dist.bias")
        for k, v in want.items():
            if shapes[k] == v:
                continue
            why = {"dist_token": "it is stored like cls_token, (1, 1, D)",
                   "head_dist.weight": "nn.Linear stores its weight as (out_features, in_features) = (num_classes, D)",
                   "pos_embed": "one row per token: N patches, the class token and the distillation token"}.get(k, "")
            raise ExerciseError(f"{where}[{k!r}] = {shapes[k]} but the model has {v}" + (f": {why}" if why else ""))
    return ("dist_token always; head_dist only with a head; pos_embed only when it is learned (a sin-cos buffer is "
            "not saved)")
