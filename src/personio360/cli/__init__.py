"""The command line: commands in main.py, output in render.py."""
