"""Self-checks for the notebook exercises, one module per lesson.

Each ``check_*`` takes the learner's function, runs it against the reference on fixed inputs and
prints "Correct: ..." (returning True), prints "Not attempted yet: ..." while the function still raises
NotImplementedError (returning None), or raises :class:`ExerciseError` saying what is wrong.
``hint("03.2")`` prints a nudge for exercise 03.2, ``hint("03.2", 2)`` the key line.
Worked solutions live in notebooks/solutions/.

Used in the exercises of notebooks/00_setup_and_data to notebooks/11_self_supervised.
"""

from ._common import EXERCISES, Exercise, ExerciseError, hint
from .l00_setup_and_data import check_channel_stats, check_predict_normalised_stats, check_streaming_stats
from .l01_patches import check_inflate, check_num_patches, check_overlapping_patches, check_patchify, check_tubelets
from .l02_embeddings import check_at_new_size, check_rope_2d, check_sincos_1d, check_sincos_2d
from .l03_attention import check_masked_attention, check_scaled_dot_product, check_window_cost, check_windowed_attention
from .l04_encoder_block import check_block_cost, check_drop_path, check_layer_norm, check_layerscale_block
from .l05_vision_transformer import (
                          check_distilled_forward,
                          check_distilled_keys,
                          check_vit_forward,
                          check_vit_forward_any,
                          check_vit_param_count,
)
from .l06_training import (
                          check_accumulated_step,
                          check_lr_schedule,
                          check_lr_sweep,
                          check_smoothing_gap,
                          check_train_step,
)
from .l07_looking_inside import (
                          check_cls_attention_map,
                          check_deletion_curve,
                          check_mean_distance,
                          check_rollout,
                          check_window_attention,
)
from .l08_pretrained_weights import (
                          check_bigger_patches,
                          check_freeze_backbone,
                          check_logistic_probe,
                          check_train_last_blocks,
)
from .l09_small_data import check_distill_gradient, check_shift_stack, check_spt_view
from .l10_making_it_fast import check_attention_memory, check_race, check_step_flops
from .l11_self_supervised import check_encoder_flops, check_grid_masking, check_knn_predict, check_random_masking

__all__ = [
    "EXERCISES", "Exercise", "ExerciseError", "hint",
    "check_channel_stats", "check_predict_normalised_stats", "check_streaming_stats",
    "check_patchify", "check_num_patches", "check_tubelets", "check_inflate", "check_overlapping_patches",
    "check_sincos_1d", "check_sincos_2d", "check_at_new_size", "check_rope_2d",
    "check_scaled_dot_product", "check_masked_attention", "check_windowed_attention", "check_window_cost",
    "check_layer_norm", "check_block_cost", "check_layerscale_block", "check_drop_path",
    "check_vit_forward", "check_vit_param_count", "check_vit_forward_any", "check_distilled_forward",
    "check_distilled_keys",
    "check_train_step", "check_lr_schedule", "check_smoothing_gap", "check_accumulated_step", "check_lr_sweep",
    "check_cls_attention_map", "check_rollout", "check_mean_distance", "check_window_attention", "check_deletion_curve",
    "check_freeze_backbone", "check_train_last_blocks", "check_bigger_patches", "check_logistic_probe",
    "check_distill_gradient", "check_shift_stack", "check_spt_view",
    "check_step_flops", "check_race", "check_attention_memory",
    "check_random_masking", "check_grid_masking", "check_encoder_flops", "check_knn_predict",
]
