"""Messages in and out: keyframe masks as label maps, propagator results as `result` bodies, log lines."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import numpy as np
import pytest

from engine.logs import JsonFormatter, TextFormatter, session_tag
from engine.propagation.contours import Outline, Polygon
from engine.propagation.frame_result import FrameResult, ObjectState
from engine.server.keyframes import keyframe_labels
from engine.server.labels import present_objects
from engine.server.results import ResultStats, quantize, to_result
from protocol import messages as m
from protocol.errors import ErrorCode, ProtocolError
from protocol.wire import decode, encode, make

PLATE = (4, 6)


def test_mattes_become_the_label_of_the_strongest_matte_above_one_half():
    mattes = np.zeros((2, *PLATE), np.uint16)
    mattes[0, :, :3] = 40000
    mattes[1, :, 2:] = 50000
    mattes[1, 0, 5] = 30000  # below one half: background
    labels = keyframe_labels(m.Keyframe(frame=0, mattes=mattes, object_ids=[5, 9]), PLATE, [5, 9])
    assert labels[0].tolist() == [5, 5, 9, 9, 9, 0]
    assert present_objects(labels) == [5, 9]


@pytest.mark.parametrize(
    "keyframe",
    [
        m.Keyframe(frame=0, labels=np.full(PLATE, 3, np.uint8)),
        m.Keyframe(frame=0, labels=np.zeros((3, 6), np.uint8)),
        m.Keyframe(frame=0, mattes=np.ones((1, *PLATE), np.float32), object_ids=[4]),
        m.Keyframe(frame=0, mattes=np.full((1, *PLATE), 1.5, np.float32), object_ids=[1]),
    ],
    ids=["undeclared label", "wrong size", "undeclared matte id", "matte above one"],
)
def test_keyframes_that_do_not_fit_the_session_are_invalid_field(keyframe):
    with pytest.raises(ProtocolError) as refused:
        keyframe_labels(keyframe, PLATE, [1, 2])
    assert refused.value.code == ErrorCode.INVALID_FIELD


def frame_result(contours=None) -> FrameResult:
    mattes = np.stack([np.full(PLATE, 0.25, np.float32), np.full(PLATE, 1.0, np.float32)])
    objects = (ObjectState(2, 0.5, False, 0), ObjectState(7, 1.0000001, True, 24))
    return FrameResult(7, "backward", (2, 7), mattes, np.full(PLATE, 7, np.uint8), np.zeros(PLATE), objects, contours)


def test_results_list_objects_in_the_sessions_order_and_survive_the_wire():
    square = Polygon(np.array([[0, 0], [3, 0], [3, 2]], np.float32), False)
    hole = Polygon(np.array([[1, 1], [2, 1], [2, 1.5]], np.float32), True)
    result = frame_result({2: Outline([], 1.0), 7: Outline([square, hole], 4.0)})
    outputs = m.Outputs(matte_dtype="uint8", uncertainty=True, contours=True)
    body = to_result(result, outputs, [7, 2], 3, m.Timing(queued_ms=1.0, compute_ms=2.0))
    decoded = decode(encode(make(body))).body
    assert [obj.id for obj in decoded.objects] == [7, 2]
    assert decoded.objects[0].confidence == 1.0  # rounding above one is clipped to the wire's bounds
    assert decoded.mattes[:, 0, 0].tolist() == [255, 64]
    assert decoded.uncertainty.dtype == np.float16
    assert [c.id for c in decoded.contours] == [7]
    assert decoded.contours[0].starts == [0, 3] and decoded.contours[0].holes == [False, True]
    assert decoded.contours[0].tolerance == 4.0  # the tolerance the outline was simplified at, grown or not
    assert (decoded.sequence, decoded.source, decoded.frame) == (3, "backward", 7)


def test_outputs_not_asked_for_are_left_out():
    body = to_result(frame_result(), m.Outputs(labels=False), [2, 7], 0, m.Timing())
    assert body.labels is None and body.uncertainty is None and body.contours is None
    assert body.mattes.dtype == np.uint16 and body.mattes.max() == 65535


def test_result_labels_are_the_propagators_as_written_to_disk():
    undecided = replace(frame_result(), mattes=np.stack([np.full(PLATE, 0.4, np.float32), np.full(PLATE, 0.45, "f4")]))
    body = to_result(undecided, m.Outputs(), [2, 7], 0, m.Timing())
    np.testing.assert_array_equal(body.labels, undecided.labels)  # the argmax with the background, not a rule of 1/2


def test_quantize_rounds_to_nearest_and_clips():
    assert quantize(np.array([-0.1, 0.5, 0.999, 1.2]), "uint8").tolist() == [0, 128, 255, 255]


def test_summary_statistics_cover_the_results_sent():
    stats = ResultStats()
    for confidence, lost in ((0.9, False), (0.3, True)):
        stats.add(
            m.Result(
                frame=0, objects=[m.ObjectResult(1, confidence, lost, 0)], mattes=np.zeros((1, 1, 1), "u1"), sequence=0
            )
        )
    (summary,) = stats.summary()
    assert (summary.mean_confidence, summary.min_confidence, summary.lost_frames) == (pytest.approx(0.6), 0.3, 1)


def log_record(**fields) -> logging.LogRecord:
    record = logging.LogRecord("engine.server", logging.INFO, __file__, 1, "session opened", (), None)
    record.fields = fields
    return record


def test_log_lines_carry_the_session_as_a_field_by_its_hash_only():
    tag = session_tag("ab12")
    assert len(tag) == 10 and tag != "ab12"
    text = TextFormatter().format(log_record(session="ab12", name="sh 010"))
    assert text.endswith(f'INFO engine.server session opened session={tag} name="sh 010"')
    entry = json.loads(JsonFormatter().format(log_record(session="ab12", frames=3)))
    assert entry["session"] == tag and entry["frames"] == 3 and entry["message"] == "session opened"
