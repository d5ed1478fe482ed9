"""The Textual console: watch a sweep live, approve or veto skills, read the statistics.

It only reads the session store and writes commands into it; it never imports the engine's
internals, so it can die (an SSH drop) and re-attach, or run in a browser tab.
"""

import os

# Textual repaints at most MAX_FPS times a second, so a key press waits up to one frame before
# its repaint starts: 17 ms at the default 60, 8 ms at 120. Measured in tmux under a sweep,
# 120 took 6-8 ms off the median pane switch. Textual reads it once, when first imported; a
# value the user set wins.
os.environ.setdefault("TEXTUAL_FPS", "120")
