"""The add-on's preferences: where the engine is, how to secure the connection, how frames travel."""

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, StringProperty

DEFAULT_ADDRESS = "tcp://127.0.0.1:5557"

FRAME_TRANSPORTS = [
    ("AUTO", "Automatic", "File paths when the engine can read the clip's files, streamed pixels when it cannot"),
    ("PATHS", "File Paths", "The engine reads the clip's frames from disk itself; it must see the same files"),
    ("STREAM", "Streamed Pixels", "Blender sends each frame's pixels over the connection; for engines on other disks"),
]


class MASKPROP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    engine_address: StringProperty(
        name="Engine Address",
        description="ZeroMQ endpoint of the engine, e.g. tcp://127.0.0.1:5557 or ipc:///tmp/maskprop",
        default=DEFAULT_ADDRESS,
    )
    timeout: FloatProperty(
        name="Timeout",
        description="Seconds to wait for the engine's answer before giving up",
        default=5.0,
        min=0.1,
        max=600.0,
        unit="TIME_ABSOLUTE",
    )
    server_public_key_file: StringProperty(
        name="Engine Public Key",
        description="The engine's CurveZMQ public key file (*.key); leave both key files empty for no encryption",
        subtype="FILE_PATH",
    )
    client_secret_key_file: StringProperty(
        name="Client Secret Key",
        description="This computer's CurveZMQ secret key file (*.key_secret), whose public key the engine accepts",
        subtype="FILE_PATH",
    )
    frame_transport: EnumProperty(
        name="Frames As",
        description="How the engine gets the clip's frames",
        items=FRAME_TRANSPORTS,
        default="AUTO",
    )
    start_local_engine: BoolProperty(
        name="Start a Local Engine",
        description="Start the engine on this computer when none answers at the address",
        default=False,
    )
    python_path: StringProperty(
        name="Python Interpreter",
        description="The Python that has the engine installed (it needs PyTorch, which Blender's Python lacks)",
        subtype="FILE_PATH",
    )
    checkpoint_path: StringProperty(
        name="Checkpoint",
        description="The model weights the local engine loads; empty lets the engine find its own",
        subtype="FILE_PATH",
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "engine_address")
        layout.prop(self, "timeout")
        layout.prop(self, "server_public_key_file")
        layout.prop(self, "client_secret_key_file")
        layout.prop(self, "frame_transport")
        layout.operator("maskprop.test_connection", icon="LINKED")
        layout.separator()
        layout.prop(self, "start_local_engine")
        column = layout.column()
        column.enabled = self.start_local_engine
        column.prop(self, "python_path")
        column.prop(self, "checkpoint_path")


def streams_frames(prefs: MASKPROP_preferences) -> bool | None:
    """`propagate.start_run`'s `stream`: True or False as the artist chose, None to let the engine's answer decide."""
    return {"AUTO": None, "PATHS": False, "STREAM": True}[prefs.frame_transport]


def get(context: bpy.types.Context) -> MASKPROP_preferences:
    """This add-on's preferences; they exist only while the add-on is enabled through Blender."""
    return context.preferences.addons[__package__].preferences


classes = (MASKPROP_preferences,)
register, unregister = bpy.utils.register_classes_factory(classes)
