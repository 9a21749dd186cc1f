"""Demo mode: the commands that load the Plaine Vallée demo and print its accounts.

Each app keeps its own demo rows in its ``demo.py``; this app only calls them in order, so that
no app has to import one above it.
"""
