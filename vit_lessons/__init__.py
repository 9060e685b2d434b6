"""vit_lessons: the helper package of the "ViT from scratch" course.

Shape legend used everywhere (code comments, lessons, docs):

    B batch   C channels   H W height width   P patch size
    N patches = HW / P^2   N + 1 tokens (the patches and the class token)
    D embed dim   h heads   d = D / h head dim

The paper's notation: N counts patches, never tokens, so token tensors are (B, N + 1, D).

Each object's docstring ends with the notebook that builds it.
"""

from .config import ViTConfig
from .model import VisionTransformer, count_params

__version__ = "0.1.0"
__all__ = ["ViTConfig", "VisionTransformer", "count_params", "__version__"]
