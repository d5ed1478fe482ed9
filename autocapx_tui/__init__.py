"""The Textual console: watch a sweep live, approve or veto skills, read the statistics.

It only reads the session store and writes commands into it; it never imports the engine's
internals, so it can die (an SSH drop) and re-attach, or run in a browser tab.
"""
