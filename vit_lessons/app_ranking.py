"""What the attention explorer says about its maps: how to read them, and the faithfulness test's ranking
of the maps for the loaded checkpoint, read from the committed results (never typed in).

Plain Python (no gradio), so every sentence is tested directly. Used by the attention explorer; the test
is built in notebooks/07_looking_inside.
"""

from __future__ import annotations

import filecmp
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .app_logic import Explorer
from .assets import ROOT, asset_path

__all__ = ["Faithfulness", "faithfulness", "offered_methods", "help_text", "RESULTS", "RESULTS_COMMAND", "MAPS"]

RESULTS = "results/explain_faithfulness/summary.json"  # under assets/
RESULTS_COMMAND = "python -m vit_lessons bench explain"  # writes it
# a few ms per image on the course's 28 px model: any of them can be the page's best cheap map
CHEAP = ("attention", "rollout", "grad-rollout", "chefer", "grad-cam", "gradient-x-input")
# measured on one image of the course's model, one CPU thread: integrated gradients (32 forward-backward
# passes) ~20 ms, occlusion (one pass per patch) ~10 ms, so the page computes them live too
PER_IMAGE = ("integrated-gradients", "occlusion")

@dataclass
class Faithfulness:
    """The faithfulness test's deletion areas (mean fill) for one checkpoint, read from its results file.

    Args:
        source: the results file (summary.json).
        checkpoint: the checkpoint as the results name it.
        images: how many test images were explained.
        ranking: (method, {"mean", "lo", "hi"[, "minus_random"]}) for every method but random, lowest area first.
        random: the random order's area, the baseline (None if it was not run).
        date: when the results were written.

    Used by the attention explorer; the test is built in notebooks/07_looking_inside.
    """

    source: Path
    checkpoint: str
    images: int
    ranking: list[tuple[str, dict]]
    random: dict | None
    date: str = ""

    def best(self, among) -> str | None:
        """The method with the lowest deletion area among ``among`` (None if none of them was run)."""
        return next((m for m, _ in self.ranking if m in among), None)


def _same_checkpoint(named: str, loaded: Path) -> bool:
    """Whether the results' checkpoint ``named`` is the file ``loaded``: same name, same bytes."""
    named = PurePosixPath(str(named).replace("\\", "/"))
    if named.name != loaded.name:
        return False
    candidates = [Path(named)] if named.is_absolute() else [ROOT / named]
    if not named.is_absolute() and named.parts[0] == "assets":
        try:  # the clone's assets/, or the copy installed with the package (as in an exported Space)
            candidates.append(asset_path(str(PurePosixPath(*named.parts[1:]))))
        except (FileNotFoundError, ValueError):
            pass
    return any(c.is_file() and filecmp.cmp(c, loaded, shallow=False) for c in candidates)


def faithfulness(ex: Explorer, results=None) -> Faithfulness | str:
    """The faithfulness ranking of the explorer's checkpoint from ``results`` (default: the course's
    assets/results/explain_faithfulness/summary.json), or a sentence saying why there is none.

    Used by the attention explorer; the test is built in notebooks/07_looking_inside.
    """
    try:
        path = Path(results) if results is not None else asset_path(RESULTS)
        summary = json.loads(path.read_text(encoding="utf-8"))
        rows = [r for r in summary["results"] if _same_checkpoint(r["checkpoint"], ex.checkpoint)]
    except FileNotFoundError:
        return f"there is no results file {f'assets/{RESULTS}' if results is None else results}"
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"the results file could not be read ({type(e).__name__}: {str(e)[:120]})"
    area = {r["method"]: r["deletion_mean"] for r in rows if isinstance(r.get("deletion_mean"), dict)}
    if not set(area) - {"random"}:
        return f"the results in {path.name} do not include this checkpoint (with mean fill)"
    ranking = sorted(((m, a) for m, a in area.items() if m != "random"), key=lambda ma: ma[1]["mean"])
    return Faithfulness(path, str(rows[0]["checkpoint"]), int(rows[0].get("images") or summary.get("images") or 0),
                        ranking, area.get("random"), str(summary.get("date", "")))


def offered_methods(found: Faithfulness | str) -> list[str]:
    """The relevance maps the page offers beside rollout and Grad-CAM, the best on the deletion test first:
    grad-rollout, the cheap map with the lowest deletion area (when the page does not already show it), and
    integrated gradients and occlusion, fast enough for one image.

    Used by the attention explorer; its maps are built in notebooks/07_looking_inside.
    """
    offered = ["grad-rollout"]
    if isinstance(found, Faithfulness):
        best = found.best(CHEAP)
        if best not in (None, "rollout", "grad-cam", *offered):  # rollout and Grad-CAM have panels of their own
            offered.append(best)
        rank = {m: i for i, (m, _) in enumerate(found.ranking)}
        return sorted([*offered, *PER_IMAGE], key=lambda m: rank.get(m, len(rank)))
    return [*offered, *PER_IMAGE]


HOW_TO_READ = """**How to read the maps.** Each colour covers one whole patch: the model sees patches, not pixels.
**Attention**: where the class token looks in one layer and head; the colour scale is shared by that layer's
heads, so heads compare. **Rollout**: attention multiplied through all layers, heads averaged, with the residual
path. **Grad-CAM**: the patches whose features, entering the chosen block, raise the top class's score (it can be 0
everywhere: nothing raises the score there). The **relevance** panel shows the map chosen under it, for the top
class: {relevance} The maps can disagree; the faithfulness test below measures which of them finds first what
this model uses."""

# the relevance panel's maps: (name in the page, colour bar, what it is)
MAPS = {
    "attention": ("Attention, last block", "attention weight, heads averaged",
                  "the class token's attention in the last block, heads averaged."),
    "grad-rollout": ("Grad-rollout", "gradient-weighted rollout",
                     "rollout of the attention weighted by its gradient for the class (positive part)."),
    "chefer": ("Chefer relevance", "relevance", "the same gradient-weighted attention, accumulated through the "
               "blocks without renormalising (Chefer, Gur & Wolf 2021)."),
    "gradient-x-input": ("Gradient x input", "|input x gradient| per patch",
                         "|pixel x gradient of the class's score|, summed over each patch."),
    "integrated-gradients": ("Integrated gradients", "score change from the mean image",
                             "the class's score change from the mean image to this one, shared among the patches "
                             "(32 steps)."),
    "occlusion": ("Occlusion", "score drop, patch painted mean",
                  "how much the class's score drops when the patch alone is painted with the dataset mean."),
}
WHERE = {"rollout": "rollout panel", "grad-cam": "Grad-CAM panel, last block"}  # maps with a panel of their own


def help_text(ex: Explorer, found: Faithfulness | str, offered: list[str]) -> str:
    """How to read the maps, then the faithfulness ranking of this checkpoint's maps (or why there is none)."""
    maps = " ".join(f"**{m}**: {MAPS[m][2]}" for m in offered)
    head = HOW_TO_READ.format(relevance=maps) + "\n\n**Which map finds what the model uses?** "
    if isinstance(found, str):
        return (f"{head}The faithfulness ranking is not available for `{ex.checkpoint.name}`: {found}. "
                f"`{RESULTS_COMMAND}` produces it (notebooks/07_looking_inside explains the test).")
    ci = lambda a, sign="": f"{a['mean']:{sign}.3f} [{a['lo']:{sign}.3f}, {a['hi']:{sign}.3f}]"  # noqa: E731
    rows = [f"| {i} | {m} | {ci(a)} | {ci(a['minus_random'], '+') if 'minus_random' in a else ''} | "
            f"{'relevance panel' if m in offered else WHERE.get(m, '')} |" for i, (m, a) in enumerate(found.ranking, 1)]
    random = (f"**Random order** (the baseline a map must beat): deletion area {ci(found.random)}; where the "
              "interval of a map's difference to it includes 0, the test cannot tell that map from random. "
              if found.random else "The results hold no random order to compare with. ")
    try:
        source = found.source.resolve().relative_to(ROOT)
    except ValueError:
        source = found.source
    return (f"{head}The faithfulness test (notebooks/07_looking_inside) removes the patches a map ranks first, one "
            "by one, paints them with the dataset mean and follows the probability of the predicted class: the "
            "area under that curve (deletion area, 0 to 1) is lower when the map found first what the model uses. "
            "Occlusion and integrated gradients start from the same mean the test paints with, which suits them. "
            f"For `{ex.checkpoint.name}`, on the first {found.images} test images, best first:\n\n"
            "| | map | deletion area [bootstrap interval] | minus random [interval] | on this page |\n"
            "|---|---|---|---|---|\n" + "\n".join(rows) + f"\n\n{random}From `{source}` "
            f"({found.date or 'undated'}), written by `{RESULTS_COMMAND}`.")
