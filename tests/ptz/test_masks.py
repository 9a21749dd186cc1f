"""Masks follow the position: what each output of a camera's pipeline paints when the PTZ
camera is in a preset, and when it is driven outside its presets (partners blanked)."""

from __future__ import annotations

import time

import numpy as np

from streaming.masking import Blank
from streaming.pipeline import CENTRE, CameraFeed, CameraPipeline, Output, PipelineSettings
from streaming.selectors import MasksInForce
from streaming.sources import SyntheticSource

LEFT_QUARTER = ((0.0, 0.0), (0.25, 0.0), (0.25, 1.0), (0.0, 1.0))


def frames_out(masks: MasksInForce) -> dict[str, np.ndarray]:
    """One synthetic frame through a pipeline with a centre and a partner output: the picture
    each output would encode."""
    pipeline = CameraPipeline(CameraFeed(camera_id=1, code="ptz-1", name="PTZ", stream_uri="synthetic:"),
                              loop=None, config=PipelineSettings.from_django())
    seen: dict[str, np.ndarray] = {}
    pipeline._encode = lambda out, frame, fps: seen.setdefault(out.key, frame.to_ndarray(format="rgb24"))
    pipeline.set_masks(masks)
    frame = SyntheticSource(name="x", width=320, height=180, fps=25).frame_at(time.time(), 0)
    pipeline._process_frame(frame, [Output(key=CENTRE), Output(key="agency:pn-test", label="PN")], fps=25)
    return seen


def test_in_a_preset_partners_get_its_masks_and_the_rest_of_the_picture():
    seen = frames_out(MasksInForce(partners=(LEFT_QUARTER,), centre=(LEFT_QUARTER,)))
    partner = seen["agency:pn-test"]
    assert partner[:, :75].max() < 25  # the preset's mask: black
    assert (partner[:, 100:].max(axis=2) < 25).mean() < 0.02  # the scene around it: there


def test_off_its_presets_partners_get_a_blank_picture_that_says_why_and_the_centre_sees():
    seen = frames_out(MasksInForce(partners=(), centre=(), partners_blank=True))
    partner, centre = seen["agency:pn-test"], seen[CENTRE]
    bright = (partner.max(axis=2) > 200).mean()
    assert 0.001 < bright < 0.08  # black, but for a line of text
    rows = np.nonzero((partner.max(axis=2) > 200).any(axis=1))[0]
    assert 60 < rows.mean() < 120  # in the middle
    assert (centre.max(axis=2) < 25).mean() < 0.02  # the operator still sees, to drive it


def test_the_blank_says_camera_moving_in_french():
    blank = Blank(320, 180, "Caméra en mouvement")
    assert blank.text == "Caméra en mouvement" and blank.glyphs.any()
