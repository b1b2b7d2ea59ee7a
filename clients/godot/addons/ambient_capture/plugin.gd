@tool
extends EditorPlugin
## Enables the Ambient Capture addon. The nodes are global classes (class_name), so
## they appear in "Add Child Node" without custom types; the plugin only checks the
## microphone project setting and says what to change.


func _enable_plugin() -> void:
	if not ProjectSettings.get_setting("audio/driver/enable_input", false):
		push_warning(
			(
				"Ambient Capture: enable Project Settings > Audio > Driver > Enable Input "
				+ "(audio/driver/enable_input) or the microphone stays silent."
			)
		)
	if not ClassDB.class_exists("ZMQSender"):
		print("Ambient Capture: godot_zeromq not installed; streaming over raw TCP (port 5558).")
