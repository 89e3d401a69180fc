"""Operators: each reads the context, calls plain functions (`connection`, `local_engine`, `propagate`) and reports.

Test Connection and Propagate are modal when pressed in the UI: a 0.1 s timer first waits for a local engine the
preferences ask for, then polls the run, so Blender stays responsive while the engine loads its model and works.
Called from a script (`execute`) they wait instead. At most one run is active at a time; the Cancel button and
Esc both stop it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace

import bpy

from . import colour, panel_settings, preferences, propagate, review, run_inputs, targets
from .core import engine_status, local_engine
from .core.session import Engine, RunFailed, RunProgress

TIMER_STEP = 0.1  # seconds between polls: often enough for a smooth progress bar, cheap when idle


@dataclass
class ActiveRun:
    """The run in progress as the panel shows it and Cancel stops it: first the local engine starting, then the job."""

    job: propagate.StartedRun | None = None
    stopping: bool = False  # Cancel was pressed before the job started

    @property
    def progress(self) -> RunProgress:
        return self.job.progress if self.job is not None else RunProgress(0, 0, "running", "Starting the local engine")

    def cancel(self) -> None:
        """Ask the engine to stop between frames, or give up waiting for the local engine (which goes on starting)."""
        if self.job is not None:
            self.job.run.cancel()
        else:
            self.stopping = True


_active: ActiveRun | None = None


def active_run() -> ActiveRun | None:
    """The run in progress, if any; the panel shows its progress."""
    return _active


class _ReachesEngine:
    """For operators that talk to the engine: start a local one first when the preferences say so.

    `_reach` starts it or finds it running; then `_engine_ready` each tick, or `_wait_for_engine` once from a
    script, until it serves; `_engine` is where to talk to afterwards.
    """

    _local: local_engine.LocalEngine | None = None
    _timer = None

    def _reach(self, context: bpy.types.Context, roots: frozenset[str] = frozenset()) -> bool:
        """False (reported) when the preferences ask for a local engine that cannot be started."""
        prefs = preferences.get(context)
        self._local = None
        if not prefs.start_local_engine:
            return True
        python, checkpoint = bpy.path.abspath(prefs.python_path), bpy.path.abspath(prefs.checkpoint_path)
        try:
            self._local = local_engine.ensure(
                local_engine.LocalEngineSpec(python, checkpoint, prefs.engine_address, roots, colour.blender_config())
            )
        except local_engine.LocalEngineError as error:
            return self._engine_failed(error.message)
        if self._local is not None and not self._local.endpoint:
            engine_status.record("starting", f"Starting the local engine (log: {self._local.log_path})")
        return True

    def _engine_ready(self) -> bool | None:
        """True once there is nothing to wait for, False while the local engine loads, None if it failed (reported)."""
        if self._local is None:
            return True
        try:
            ready = self._local.poll()
        except local_engine.LocalEngineError as error:
            self._engine_failed(error.message)
            return None
        if ready and engine_status.current().state == "starting":
            engine_status.record("connected", f"Local engine serving at {self._local.endpoint}")
        return ready

    def _wait_for_engine(self) -> bool:
        """`_engine_ready` for scripts: block until the local engine serves (at most its start timeout)."""
        if self._local is not None:
            try:
                self._local.wait()
            except local_engine.LocalEngineError as error:
                return self._engine_failed(error.message)
        return self._engine_ready() is True

    def _engine(self, context: bpy.types.Context) -> Engine:
        engine = run_inputs.engine_from_preferences(preferences.get(context))
        return engine if self._local is None else replace(engine, address=self._local.endpoint)

    def _engine_failed(self, message: str) -> bool:
        engine_status.record("failed", message)
        self.report({"ERROR"}, message)
        return False

    def _start_timer(self, context: bpy.types.Context) -> None:
        wm = context.window_manager
        self._timer = wm.event_timer_add(TIMER_STEP, window=context.window)
        wm.modal_handler_add(self)

    def _stop_timer(self, context: bpy.types.Context) -> None:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None


class MASKPROP_OT_test_connection(_ReachesEngine, bpy.types.Operator):
    """Check that the engine answers at the address in the preferences, starting a local one if they say so"""

    bl_idname = "maskprop.test_connection"
    bl_label = "Test Connection"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if __package__ not in context.preferences.addons:
            cls.poll_message_set("Enable the add-on in the Preferences first")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        if not (self._reach(context) and self._wait_for_engine()):
            return {"CANCELLED"}
        return self._check(context)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if not self._reach(context):
            return {"CANCELLED"}
        ready = self._engine_ready()
        if ready is not False:
            return self._check(context) if ready else {"CANCELLED"}
        self._start_timer(context)
        _redraw_panels(context)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type == "ESC":
            self._stop_timer(context)
            engine_status.record("unknown", "Stopped waiting for the local engine")
            _redraw_panels(context)
            return {"CANCELLED"}
        if event.type != "TIMER" or (ready := self._engine_ready()) is False:
            return {"PASS_THROUGH"}
        self._stop_timer(context)
        _redraw_panels(context)
        return self._check(context) if ready else {"CANCELLED"}

    def _check(self, context: bpy.types.Context) -> set[str]:
        from .core.connection import ConnectionFailed, check_connection  # loads pyzmq only when used

        engine = self._engine(context)
        try:
            message = check_connection(engine.address, engine.keys, engine.timeout)
        except ConnectionFailed as failure:
            self._engine_failed(failure.message)
            return {"CANCELLED"}
        engine_status.record("connected", message)
        self.report({"INFO"}, message)
        _redraw_panels(context)
        return {"FINISHED"}


class MASKPROP_OT_propagate(_ReachesEngine, bpy.types.Operator):
    """Propagate the layers of the mask from the current frame over the clip"""

    bl_idname = "maskprop.propagate"
    bl_label = "Propagate"

    _run: ActiveRun | None = None

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        found = targets.from_context(context)
        if isinstance(found, str):
            cls.poll_message_set(found)
            return False
        if _active is not None:
            cls.poll_message_set("A propagation is already running")
            return False
        if __package__ not in context.preferences.addons:
            cls.poll_message_set("Enable the add-on in the Preferences first")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        """The blocking path, for scripts: wait for the engine, then poll until the run ends."""
        if not self._begin(context):
            return {"CANCELLED"}
        try:
            if not (self._wait_for_engine() and self._start_job(context, wait=True)):
                return {"CANCELLED"}
            while not (progress := propagate.step(self._run.job)).finished:
                time.sleep(TIMER_STEP)
        finally:
            self._end(context)
        return self._report(progress)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if not self._begin(context):
            return {"CANCELLED"}
        ready = self._engine_ready()
        if ready is None or (ready and not self._start_job(context, wait=False)):
            self._end(context)
            return {"CANCELLED"}
        self._start_timer(context)
        context.window_manager.progress_begin(0, 100)
        _redraw_panels(context)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type == "ESC":
            self._run.cancel()
            return {"RUNNING_MODAL"}  # the engine stops between frames; the next tick sees it
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if self._run.job is None:
            return self._wait_tick(context)
        progress = propagate.step(self._run.job)
        context.window_manager.progress_update(100 * progress.done // max(progress.total, 1))
        _redraw_panels(context)
        if not progress.finished:
            return {"PASS_THROUGH"}
        self._end(context)
        return self._report(progress)

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender calls this when the window closes mid-run."""
        if self._run.job is not None:
            self._run.job.run.cancel()
            self._run.job.run.close()
        self._end(context)

    def _begin(self, context: bpy.types.Context) -> bool:
        """Take the mask and clip now, since a later tick's context may be another editor; then reach the engine."""
        global _active
        self._scene = context.scene
        self._mask, self._clip = targets.from_context(context)  # the poll made sure there are both
        self._stream = preferences.streams_frames(preferences.get(context))
        plates = frozenset() if self._stream else frozenset({os.path.dirname(bpy.path.abspath(self._clip.filepath))})
        if not self._reach(context, plates):
            return False
        _active = self._run = ActiveRun()
        return True

    def _wait_tick(self, context: bpy.types.Context) -> set[str]:
        """A tick before the run started: give up if cancelled, else start it once the local engine serves."""
        if self._run.stopping:
            self._end(context)
            self.report({"WARNING"}, "Cancelled before the local engine was ready; it goes on starting")
            return {"CANCELLED"}
        ready = self._engine_ready()
        _redraw_panels(context)
        if ready is False:
            return {"PASS_THROUGH"}
        if ready is None or not self._start_job(context, wait=False):
            self._end(context)
            return {"CANCELLED"}
        return {"PASS_THROUGH"}

    def _start_job(self, context: bpy.types.Context, wait: bool) -> bool:
        """False (reported) when the inputs are wrong or the engine did not take the run; the panel shows the latter.

        Without `wait` (the modal path) the engine's answers come on later ticks: Blender's UI never waits for them.
        """
        try:
            engine = self._engine(context)
            self._run.job = propagate.start_run(self._scene, self._clip, self._mask, engine, self._stream, wait)
        except RunFailed as failure:
            return self._engine_failed(failure.message)
        except ValueError as error:
            self.report({"ERROR"}, str(error))
            return False
        return True

    def _end(self, context: bpy.types.Context) -> None:
        global _active
        _active = None
        if self._timer is not None:
            self._stop_timer(context)
            context.window_manager.progress_end()
        _redraw_panels(context)

    def _report(self, progress: RunProgress) -> set[str]:
        if progress.status == "done":
            self.report({"INFO"}, progress.message)
            return {"FINISHED"}
        self.report({"WARNING" if progress.status == "cancelled" else "ERROR"}, progress.message)
        return {"CANCELLED"}


def _redraw_panels(context: bpy.types.Context) -> None:
    """Redraw every editor that can show the panel, in every window, and the Preferences (Test Connection)."""
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in (*targets.PANEL_EDITORS, "PREFERENCES"):
                area.tag_redraw()


class MASKPROP_OT_cancel(bpy.types.Operator):
    """Stop the running propagation; frames already propagated are not imported"""

    bl_idname = "maskprop.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _active is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        _active.cancel()
        return {"FINISHED"}


class MASKPROP_OT_jump_review(bpy.types.Operator):
    """Jump to the next or previous frame marked for review"""

    bl_idname = "maskprop.jump_review"
    bl_label = "Jump to Review Frame"

    previous: bpy.props.BoolProperty(name="Previous", description="Jump backward instead of forward")

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        frame = review.next_review_frame(scene, scene.frame_current, -1 if self.previous else 1)
        if frame is None:
            self.report({"INFO"}, "No more frames to review in that direction")
            return {"CANCELLED"}
        scene.frame_set(frame)
        return {"FINISHED"}


class MASKPROP_OT_toggle_object(bpy.types.Operator):
    """Switch propagation of this mask layer on or off"""

    bl_idname = "maskprop.toggle_object"
    bl_label = "Toggle Object"

    layer: bpy.props.StringProperty(name="Layer")

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.maskprop
        panel_settings.set_object_enabled(settings, self.layer, not panel_settings.object_enabled(settings, self.layer))
        return {"FINISHED"}


classes = (
    MASKPROP_OT_test_connection,
    MASKPROP_OT_propagate,
    MASKPROP_OT_cancel,
    MASKPROP_OT_jump_review,
    MASKPROP_OT_toggle_object,
)
register, unregister = bpy.utils.register_classes_factory(classes)
