"""Tests of vit_lessons/exercises, one module per lesson (a package, so its conftest has its own name)."""
