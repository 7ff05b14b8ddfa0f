"""The web console: static HTML, CSS and JavaScript modules served at ``/``; see docs/console.md.

The console is a client like any other: it reads the REST API and the live feed, and needs nothing
from the sidecar beyond serving its files.
"""
