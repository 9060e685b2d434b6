"""The attention explorer: a web page that shows what a trained ViT looks at, for any image.

Pick a test image (or upload one) and see the top-5 classes, the class token's attention in
any layer and head, attention rollout, a relevance map of your choice (grad-rollout, the
faithfulness test's best cheap map, integrated gradients, occlusion) and Grad-CAM, side by side,
with the faithfulness test's ranking of the maps for the loaded checkpoint. The prediction and
the maps are named API endpoints, ``/predict`` and ``/explain``, for ``gradio_client``. The work
itself is in :mod:`vit_lessons.app_logic` (the model and its maps), :mod:`vit_lessons.app_input` (uploads),
:mod:`vit_lessons.app_panels` (the pictures and their titles) and :mod:`vit_lessons.app_ranking` (the
faithfulness ranking); this module lays out the page, wires it and serves it.

    python -m vit_lessons app [--checkpoint PATH] [--host 127.0.0.1] [--port 7860] [--share]
    python -m vit_lessons app --export-space DIR [--checkpoint PATH]    # a Hugging Face Space (space.py)

Shows the maps built in notebooks/07_looking_inside, for any image.
"""

import argparse  # no `from __future__ import annotations`: gradio reads the handlers' type hints at run time
import logging
import sys
from functools import wraps
from pathlib import Path

from .app_input import MAX_BYTES, InputError, read_upload
from .app_logic import Explorer, enlarge, gallery_examples, load_explorer, predict, relevance, rollout_map
from .app_panels import attention_panel, describe, grad_cam_panel, relevance_panel, rollout_panel
from .app_ranking import Faithfulness, faithfulness, help_text, offered_methods

__all__ = ["build_app", "serve", "add_arguments", "run", "DEFAULT_CHECKPOINT"]

DEFAULT_CHECKPOINT = "checkpoints/fashion_mnist_vit.pt"  # under assets/, trained in notebooks/06_training
log = logging.getLogger(__name__)


# ---- what the page shows ----------------------------------------------------------------------------
def _show(ex: Explorer, img, headline: str, notes: list[str], layer, head, method, block):
    """Every output for one image: state, model input, top-5, message, four overlays."""
    top5 = predict(ex, img)
    best = next(iter(top5))
    message = "\n".join([f"{headline} The model says **{best}** ({top5[best]:.1%})."] + [f"- {n}" for n in notes])
    return (img.numpy(), enlarge(img), top5, message, attention_panel(ex, img, layer, head),
            rollout_panel(ex, img), relevance_panel(ex, img, method), grad_cam_panel(ex, img, block))


def _failure(message: str):
    return None, None, None, message, None, None, None, None


def _guarded(fn):
    """Run a page handler; any failure becomes a message in the page, never a traceback."""
    @wraps(fn)  # gradio reads the signature to pass event data (gr.SelectData)
    def wrapper(*args):
        try:
            return fn(*args)
        except InputError as e:
            return _failure(f"**Cannot use this image.** {e}")
        except Exception as e:  # noqa: BLE001 - the page must stay usable; the log keeps the traceback
            log.exception("attention explorer handler failed")
            return _failure(f"**Something went wrong** ({type(e).__name__}: {str(e)[:200]}). "
                            "Try another image; the server's log has the details.")
    return wrapper


def _quiet(draw):
    """A slider's redraw: nothing to draw without an image, and a failure leaves the panel empty, logged."""
    def redraw(ex, state, *values):
        if state is None:
            return None
        try:
            import torch  # gradio hands the state back as a numpy array

            return draw(ex, torch.as_tensor(state), *values)
        except Exception:  # noqa: BLE001 - a slider must never break the page
            log.exception("attention explorer redraw failed")
            return None
    return redraw


# ---- the page ----------------------------------------------------------------------------------------
def build_app(checkpoint, results=None) -> "gradio.Blocks":  # noqa: F821 - gradio is optional, imported below
    """The explorer page for a course checkpoint (a ValueError if the checkpoint cannot be used).

    Args:
        checkpoint: path of a .pt file written by the course's trainer.
        results: the faithfulness test's summary.json (default: the course's assets/results/explain_faithfulness/).

    Serves the maps built in notebooks/07_looking_inside.
    """
    import gradio as gr  # optional dependency (the `app` extra): the rest of the package works without it

    ex = load_explorer(checkpoint)
    examples = gallery_examples(ex)
    cfg = ex.model.config
    found = faithfulness(ex, results)
    offered = offered_methods(found)

    def read(path):  # an upload as this model's input: (uint8 (C, S, S), notes)
        return read_upload(path, img_size=cfg.img_size, in_chans=cfg.in_chans, dataset=ex.dataset)

    def on_example(layer, head, method, block, evt: gr.SelectData):
        img, label, index = examples[evt.index]
        return _show(ex, img, f"**Test image #{index}** of {ex.dataset}, labelled **{ex.classes[label]}**.",
                     [], layer, head, method, block)

    def on_upload(path, layer, head, method, block):
        img, notes = read(path)
        name = Path(path).name.replace("`", "'")
        return _show(ex, img, f"**Uploaded `{name}`**.", notes or
                     ["Used as it is: already the model's input size and format."], layer, head, method, block)

    def api_predict(path) -> dict[str, float]:
        """Top-5 classes of one image with their probabilities."""
        try:
            return predict(ex, read(path)[0])
        except InputError as e:
            raise gr.Error(str(e), print_exception=False) from None

    def api_explain(path) -> dict:
        """The top class of one image and its relevance maps, (gh, gw) lists by method, with each method's
        deletion area from the faithfulness test (null where it is not available)."""
        try:
            img = read(path)[0]
        except InputError as e:
            raise gr.Error(str(e), print_exception=False) from None
        (best, p), = predict(ex, img, k=1).items()
        area = dict(found.ranking) if isinstance(found, Faithfulness) else {}
        maps = {"rollout": rollout_map(ex, img)[0]} | {m: relevance(ex, img, m) for m in offered}
        return {"class": best, "probability": p, "maps": {m: v.tolist() for m, v in maps.items()},
                "deletion_area": {m: area[m]["mean"] if m in area else None for m in maps},
                "random_deletion_area": found.random["mean"] if isinstance(found, Faithfulness) and found.random
                else None}

    def picture(**kw):  # PNG: webp (gradio's default) would blur 28x28 pixels and shift the colour bars' colours
        return gr.Image(interactive=False, format="png", buttons=[], **kw)

    def choice(n: int, value: int, label: str, elem_id: str):  # a slider needs two ends: one block/head is fixed
        if n > 1:
            return gr.Slider(1, n, value=value, step=1, label=label, elem_id=elem_id)
        return gr.Number(1, label=f"{label} (the model has only one)", precision=0, interactive=False, elem_id=elem_id)

    with gr.Blocks(title="ViT attention explorer", analytics_enabled=False) as demo:
        gr.Markdown(f"# ViT attention explorer\n{describe(ex)}")
        state = gr.State(None)  # the current image as the model sees it: uint8 (C, H, W)
        if examples:
            gallery = gr.Gallery([(enlarge(img, 112), ex.classes[y]) for img, y, _ in examples], format="png",
                                 label=f"{ex.dataset} test images: click one", columns=10, rows=2, height=250,
                                 allow_preview=False, object_fit="contain", elem_id="gallery")
        else:
            gr.Markdown(f"The {ex.dataset} test set is not on this machine, so there are no examples: upload an "
                        "image (`python -m vit_lessons data` fetches the dataset).")
        with gr.Row(equal_height=True):
            upload = gr.File(label="...or upload an image", file_types=["image"], type="filepath", height=130,
                             elem_id="upload", scale=1)
            message = gr.Markdown("Choose a test image or upload a picture.", elem_id="message",
                                  container=True, padding=True, min_height=130, scale=2)
        with gr.Row(equal_height=False):
            with gr.Column(min_width=180):
                seen = picture(label=f"What the model sees ({cfg.img_size}x{cfg.img_size})", height=170, elem_id="seen")
                top5 = gr.Label(num_top_classes=5, label="Top-5 classes", elem_id="top5")
            with gr.Column(min_width=220):
                attn = picture(show_label=False, elem_id="attention")
                layer = choice(cfg.depth, cfg.depth, "Layer", "layer")
                head = choice(cfg.num_heads, 1, "Head", "head")
            roll = picture(show_label=False, elem_id="rollout", min_width=220)
            with gr.Column(min_width=220):
                rel = picture(show_label=False, elem_id="relevance")
                ranked = " (best on the faithfulness test first)" if isinstance(found, Faithfulness) else ""
                method = gr.Radio(offered, value=offered[0], label=f"Relevance map{ranked}", elem_id="method")
            with gr.Column(min_width=220):
                cam = picture(show_label=False, elem_id="gradcam")
                block = choice(cfg.depth, cfg.depth, "Grad-CAM block", "block")
        gr.Markdown(help_text(ex, found, offered), elem_id="help")

        outputs = [state, seen, top5, message, attn, roll, rel, cam]
        if examples:
            gallery.select(_guarded(on_example), [layer, head, method, block], outputs, api_visibility="private")
        upload.upload(_guarded(on_upload), [upload, layer, head, method, block], outputs, api_visibility="private")
        gr.on([layer.change, head.change], lambda *v: _quiet(attention_panel)(ex, *v), [state, layer, head], attn,
              api_visibility="private")
        method.change(lambda *v: _quiet(relevance_panel)(ex, *v), [state, method], rel, api_visibility="private")
        block.change(lambda *v: _quiet(grad_cam_panel)(ex, *v), [state, block], cam, api_visibility="private")
        # the public endpoints: one image in, top-5 or the maps out (hidden buttons: the page never clicks them)
        gr.Button(visible=False).click(api_predict, upload, top5, api_name="predict")
        gr.Button(visible=False).click(api_explain, upload, gr.JSON(visible=False), api_name="explain")
    return demo


def serve(demo, host: str = "127.0.0.1", port: int = 7860, share: bool = False, block: bool = True) -> str:
    """Start the server with offline-safe settings and return its local address; ``block=True`` waits for Ctrl+C,
    ``block=False`` returns at once (tests, notebooks: stop it with ``demo.close()``).

    Serves the maps built in notebooks/07_looking_inside.
    """
    # uploads over 4x our limit stop in the browser (gradio's notice); smaller ones reach read_upload's message
    _, local, public = demo.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=True,
                                   quiet=True, ssr_mode=False, show_error=False, max_file_size=4 * MAX_BYTES)
    if block:
        print(f"The attention explorer runs at {local}" + (f" and {public}" if public else "") + "; Ctrl+C stops it.")
        demo.block_thread()
    return local


# ---- command line --------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``app`` sub-command's options.

    Serves the maps built in notebooks/07_looking_inside.
    """
    parser.add_argument("--checkpoint", default=None,
                        help=f"a .pt file written by `python -m vit_lessons train` (default: the committed "
                             f"assets/{DEFAULT_CHECKPOINT}, trained in notebooks/06_training)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to "
                             "your network)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true",
                        help="also publish a temporary public gradio.live link (off by default)")
    parser.add_argument("--export-space", metavar="DIR", type=Path, default=None,
                        help="instead of serving, write DIR: a Hugging Face Space (README.md with its front matter, "
                             "app.py, requirements.txt, the checkpoint) to push as it is")


def run(args: argparse.Namespace) -> int:
    """Run the explorer from parsed arguments; 0 on a clean stop, 2 with a message on bad arguments.

    Serves the maps built in notebooks/07_looking_inside.
    """
    try:
        import gradio  # noqa: F401 - optional dependency, checked before anything slow
    except ModuleNotFoundError:
        print("error: the attention explorer needs gradio: pip install 'vit-lessons[app]'", file=sys.stderr)
        return 2
    if not 0 < args.port < 65536:
        print(f"error: --port {args.port} is not a port number: use 1-65535 (default 7860)", file=sys.stderr)
        return 2
    try:
        if args.checkpoint is None:
            from .assets import asset_path  # the package's one way to find assets, also outside a clone

            args.checkpoint = asset_path(DEFAULT_CHECKPOINT)
        if getattr(args, "export_space", None) is not None:
            from .space import export_space

            out = export_space(args.export_space, args.checkpoint)
            print(f"Hugging Face Space written to {out}: push the folder to a new gradio Space as it is "
                  f"(run it here with `python {out / 'app.py'}`)")
            return 0
        demo = build_app(args.checkpoint)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        serve(demo, args.host, args.port, args.share)
    except OSError as e:  # port taken, address not on this machine
        print(f"error: cannot serve on {args.host}:{args.port} ({e}); choose another --port or --host",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m vit_lessons.app", description=__doc__.splitlines()[0])
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
