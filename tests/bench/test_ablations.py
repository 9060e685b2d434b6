"""bench ablations: each variant changes the full recipe in the one way its name says."""

from vit_lessons.bench.ablations import ABLATIONS
from vit_lessons.train import RECIPES, default_setup, tintn_setup


def test_each_variant_builds_and_changes_only_what_it_names():
    names = [a.name for a in ABLATIONS]
    assert len(set(names)) == len(names) and names[0] == "full recipe"
    full_cfg, full_recipe = default_setup("fashion-mnist", epochs=2)
    for ab in ABLATIONS:
        cfg, recipe = RECIPES[ab.base].setup(epochs=2, **ab.recipe)
        cfg = cfg.replace(**ab.model)
        if ab.base == "tintn":
            assert (cfg, recipe) == tintn_setup(epochs=2)
            continue
        changed_model = {k for k, v in cfg.to_dict().items() if full_cfg.to_dict()[k] != v}
        changed_recipe = {k for k, v in recipe.to_dict().items() if full_recipe.to_dict()[k] != v}
        assert changed_model == set(ab.model) and changed_recipe == set(ab.recipe), ab.name
