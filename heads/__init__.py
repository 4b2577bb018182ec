"""kerasft's built-in task heads, each registered exactly as a plugin's would be."""
