"""Operators: each reads the context, calls a plain function (`connection`, `propagate`) and reports.

Propagate is modal: a 0.1 s timer polls the run, so Blender stays responsive while the engine works. At most
one run is active at a time; the Cancel button and Esc both stop it.
"""

from __future__ import annotations

import bpy

from . import preferences, propagate
from .session import RunFailed

TIMER_STEP = 0.1  # seconds between polls: often enough for a smooth progress bar, cheap when idle
_active: propagate.Job | None = None  # the run in progress, for the Cancel button and the panel


class MASKPROP_OT_test_connection(bpy.types.Operator):
    """Check that the engine answers at the address in the preferences"""

    bl_idname = "maskprop.test_connection"
    bl_label = "Test Connection"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if __package__ not in context.preferences.addons:
            cls.poll_message_set("Enable the add-on in the Preferences first")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        from .connection import ConnectionFailed, KeyFiles, check_connection  # loads pyzmq only when used

        prefs = preferences.get(context)
        keys = KeyFiles(bpy.path.abspath(prefs.server_public_key_file), bpy.path.abspath(prefs.client_secret_key_file))
        try:
            message = check_connection(prefs.engine_address, keys, prefs.timeout)
        except ConnectionFailed as failure:
            self.report({"ERROR"}, failure.message)
            return {"CANCELLED"}
        self.report({"INFO"}, message)
        return {"FINISHED"}


def active_job() -> propagate.Job | None:
    """The run in progress, if any; the panel shows its progress."""
    return _active


def _mask_and_clip(context: bpy.types.Context) -> tuple[bpy.types.Mask | None, bpy.types.MovieClip | None]:
    space = context.space_data
    if getattr(space, "type", "") != "CLIP_EDITOR":
        return None, None
    return space.mask, space.clip


class MASKPROP_OT_propagate(bpy.types.Operator):
    """Propagate the layers of the active mask from the current frame over the clip"""

    bl_idname = "maskprop.propagate"
    bl_label = "Propagate"

    _timer = None
    _job: propagate.Job | None = None

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        mask, clip = _mask_and_clip(context)
        if mask is None or clip is None:
            cls.poll_message_set("Open a clip and a mask in the Movie Clip Editor")
            return False
        if _active is not None:
            cls.poll_message_set("A propagation is already running")
            return False
        if __package__ not in context.preferences.addons:
            cls.poll_message_set("Enable the add-on in the Preferences first")
            return False
        return True

    def _start(self, context: bpy.types.Context) -> bool:
        global _active
        mask, clip = _mask_and_clip(context)
        prefs = preferences.get(context)
        engine = propagate.engine_from_preferences(prefs)
        try:
            self._job = propagate.start_run(context.scene, clip, mask, engine, prefs.frame_transport == "STREAM")
        except (ValueError, RunFailed) as error:
            self.report({"ERROR"}, getattr(error, "message", str(error)))
            return False
        _active = self._job
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        """The blocking path, for scripts: poll until the run ends."""
        import time

        if not self._start(context):
            return {"CANCELLED"}
        try:
            while not (progress := propagate.step(self._job)).finished:
                time.sleep(TIMER_STEP)
        finally:
            self._end(context)
        return self._report(progress)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if not self._start(context):
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(TIMER_STEP, window=context.window)
        wm.progress_begin(0, 100)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type == "ESC":
            self._job.run.cancel()
            return {"RUNNING_MODAL"}  # the engine stops between frames; the next tick sees it
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        progress = propagate.step(self._job)
        context.window_manager.progress_update(100 * progress.done // max(progress.total, 1))
        _redraw_clip_editors(context)
        if not progress.finished:
            return {"PASS_THROUGH"}
        self._end(context)
        return self._report(progress)

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender calls this when the window closes mid-run."""
        self._job.run.cancel()
        self._job.run.close()
        self._end(context)

    def _end(self, context: bpy.types.Context) -> None:
        global _active
        _active = None
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            context.window_manager.progress_end()
            self._timer = None

    def _report(self, progress: propagate.Progress) -> set[str]:
        if progress.status == "done":
            self.report({"INFO"}, progress.message)
            return {"FINISHED"}
        self.report({"WARNING" if progress.status == "cancelled" else "ERROR"}, progress.message)
        return {"CANCELLED"}


def _redraw_clip_editors(context: bpy.types.Context) -> None:
    for area in context.screen.areas if context.screen else ():
        if area.type == "CLIP_EDITOR":
            area.tag_redraw()


class MASKPROP_OT_cancel(bpy.types.Operator):
    """Stop the running propagation; frames already propagated are not imported"""

    bl_idname = "maskprop.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _active is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        _active.run.cancel()
        return {"FINISHED"}


class MASKPROP_OT_jump_review(bpy.types.Operator):
    """Jump to the next or previous frame marked for review"""

    bl_idname = "maskprop.jump_review"
    bl_label = "Jump to Review Frame"

    previous: bpy.props.BoolProperty(name="Previous", description="Jump backward instead of forward")

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        frame = propagate.next_review_frame(scene, scene.frame_current, -1 if self.previous else 1)
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
        propagate.set_object_enabled(settings, self.layer, not propagate.object_enabled(settings, self.layer))
        return {"FINISHED"}


classes = (
    MASKPROP_OT_test_connection,
    MASKPROP_OT_propagate,
    MASKPROP_OT_cancel,
    MASKPROP_OT_jump_review,
    MASKPROP_OT_toggle_object,
)
register, unregister = bpy.utils.register_classes_factory(classes)
