"""Operators: each reads the preferences, calls a function that does not import `bpy`, and reports."""

from __future__ import annotations

import bpy

from . import preferences


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


classes = (MASKPROP_OT_test_connection,)
register, unregister = bpy.utils.register_classes_factory(classes)
