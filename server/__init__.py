"""The cosmoloc hub: a Flask application over SQLAlchemy. ``create_app`` lives in :mod:`server.app`."""
