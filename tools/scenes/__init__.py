"""tools.scenes: a procedural landscape renderer (numpy only), its attribute sampler and captions,
and image "judges" that read attributes back from a picture; used to train and test the bundled
scaledit-tiny model.

    from tools.scenes import sample_attributes, caption, render_scene, judge_image
"""
from .attributes import Attributes, sample_attributes, caption
from .scene import render_scene
from .judges import judge_image
from .dataset import make_example, iter_dataset

__all__ = ["Attributes", "sample_attributes", "caption", "render_scene", "judge_image",
           "make_example", "iter_dataset"]
