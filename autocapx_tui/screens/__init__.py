"""The console's screens: one per session (dialogs live with the widgets)."""
