"""The app's screens: dialogs that return what the user chose, and result screens of experiments."""
