"""vit_lessons.overlay: maps drawn over images, with colour bars that state their scale."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vit_lessons.overlay import cls_heatmap, overlay, shared_limits  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _img(c=1, s=32):
    return torch.rand(c, s, s, generator=torch.Generator().manual_seed(0))


def _heat_images(ax):
    return [im for im in ax.images if im.get_alpha() is not None]  # the map, not the picture under it


def _colorbar_labels(fig):
    return [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel() and "\n" in ax.get_ylabel()]


def test_overlay_own_and_fixed_scale():
    heat = torch.arange(16.0).reshape(4, 4) / 100  # a 4x4 patch-grid map
    fig = overlay(_img(), heat, label="rollout weight")
    ax = fig.axes[0]
    (im,) = _heat_images(ax)
    assert im.get_clim() == pytest.approx((0.0, 0.15))
    assert im.get_extent() == ax.images[0].get_extent() == [0, 32, 32, 0]  # the map covers the whole image
    assert _colorbar_labels(fig) == ["rollout weight\n(scale of this map)"]
    fig = overlay(_img(3), heat, vmin=0, vmax=1)
    (im,) = _heat_images(fig.axes[0])
    assert im.get_clim() == (0, 1) and _colorbar_labels(fig) == ["weight\n(fixed scale)"]


def test_overlay_pixel_map_and_existing_axes():
    fig, ax = plt.subplots()
    assert overlay(_img(), torch.rand(32, 32), ax=ax, colorbar=False, title="Grad-CAM") is fig
    assert ax.get_title() == "Grad-CAM" and len(fig.axes) == 1


@pytest.mark.parametrize("image, heat, match", [
    (_img(), torch.rand(3, 3), "a 3x3 map does not tile a 32x32 image"),
    (_img(), torch.rand(2, 4, 4), "2-D"),
    (torch.rand(32, 32), torch.rand(4, 4), r"\(C, H, W\) tensor with 1 or 3 channels"),
    (torch.rand(2, 32, 32), torch.rand(4, 4), "1 or 3 channels"),
])
def test_overlay_errors(image, heat, match):
    with pytest.raises(ValueError, match=match):
        overlay(image, heat)


def test_cls_heatmap_shared_scale_has_one_colour_bar():
    maps = torch.stack([torch.full((4, 4), 0.1), torch.full((4, 4), 0.5), torch.rand(4, 4)])
    fig = cls_heatmap(_img(), maps, titles=["a", "b", "c"], label="attention")
    panels = [ax for ax in fig.axes if _heat_images(ax)]
    assert len(panels) == 3
    assert {_heat_images(ax)[0].get_clim() for ax in panels} == {shared_limits(maps)}
    assert _colorbar_labels(fig) == ["attention\n(one scale for all panels)"]
    assert [ax.get_title() for ax in panels] == ["a", "b", "c"]


def test_cls_heatmap_own_scales_and_grid():
    maps = torch.rand(2, 3, 4, 4) * torch.tensor([1.0, 10.0, 100.0]).view(1, 3, 1, 1)  # blocks x heads
    fig = cls_heatmap(_img(3), maps, shared=False, row_labels=["block 0", "block 1"])
    panels = [ax for ax in fig.axes if _heat_images(ax)]
    assert len(panels) == 6 and len(fig.axes) == 12  # a colour bar beside every panel
    for ax, m in zip(panels, maps.reshape(6, 4, 4)):
        assert _heat_images(ax)[0].get_clim() == pytest.approx(shared_limits(m))
    assert [panels[0].get_ylabel(), panels[3].get_ylabel()] == ["block 0", "block 1"]


def test_cls_heatmap_one_image_per_map():
    imgs = torch.rand(2, 1, 16, 16)
    fig = cls_heatmap(imgs, [torch.rand(4, 4), torch.rand(16, 16)], vmin=0, vmax=1)
    assert {_heat_images(ax)[0].get_clim() for ax in fig.axes if _heat_images(ax)} == {(0, 1)}


@pytest.mark.parametrize("kwargs, match", [
    (dict(images=torch.rand(3, 1, 32, 32)), "3 images for 2 maps"),
    (dict(titles=["only one"]), "1 titles for 2 maps"),
    (dict(maps=torch.rand(2, 2, 4, 4), row_labels=["x"]), "1 row labels for 2 rows"),
    (dict(maps=torch.rand(4, 4)), r"maps must be \(K, gh, gw\)"),
])
def test_cls_heatmap_errors(kwargs, match):
    args = dict(images=_img(), maps=torch.rand(2, 4, 4)) | kwargs
    with pytest.raises(ValueError, match=match):
        cls_heatmap(**args)


def test_shared_limits():
    assert shared_limits([torch.tensor([0.2, 0.5]), torch.tensor([[-1.0, 0.3]])]) == (-1.0, 0.5)
    with pytest.raises(ValueError, match="at least one non-empty map"):
        shared_limits([])


def test_grey_images_are_drawn_dark_on_white():
    """The course's convention (vit_lessons.viz): a grey image under a map uses gray_r, ink dark on white paper."""
    fig = overlay(_img(), torch.rand(4, 4))
    picture = [im for im in fig.axes[0].images if im.get_alpha() is None]
    assert [im.get_cmap().name for im in picture] == ["gray_r"]
    fig = cls_heatmap(_img(), torch.rand(2, 4, 4))
    assert {ax.images[0].get_cmap().name for ax in fig.axes if _heat_images(ax)} == {"gray_r"}
    fig = overlay(_img(), torch.rand(4, 4), image_cmap="gray")  # still a choice
    assert fig.axes[0].images[0].get_cmap().name == "gray"
