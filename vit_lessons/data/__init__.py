"""Data: the datasets the course trains on (found offline where possible) and the one batched
augmentation path the trainer uses.

    datasets.py  the registry (DATASETS), loaders, the offline search for Fashion-MNIST, CIFAR test files
    split.py     the validation split every run holds out of its training images
    augment.py   batched crop / flip / erase / normalise on uint8 tensors, TensorBatches

Built in notebooks/00_setup_and_data (datasets) and notebooks/06_training (augmentation).
"""

from .augment import (
    TensorBatches,
    batch_hflip,
    batch_random_crop,
    batch_random_erase,
    epoch_generator,
    normalize_batch,
)
from .datasets import (
    DATASETS,
    DEBIAN_FASHION_MNIST,
    ENV_VAR,
    DatasetInfo,
    DatasetNotFoundError,
    ImageData,
    channel_stats,
    class_counts,
    find_fashion_mnist,
    load_cifar,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    write_cifar_files,
)
from .split import VAL_SEED, default_val_size, stratified_split, with_validation

__all__ = ["DatasetInfo", "DATASETS", "ImageData", "DatasetNotFoundError", "load_dataset", "load_fashion_mnist",
           "load_cifar", "load_digits", "find_fashion_mnist", "DEBIAN_FASHION_MNIST", "ENV_VAR", "write_cifar_files",
           "class_counts", "channel_stats", "epoch_generator", "batch_random_crop", "batch_hflip",
           "batch_random_erase", "normalize_batch", "TensorBatches", "VAL_SEED", "default_val_size", "stratified_split",
           "with_validation"]
