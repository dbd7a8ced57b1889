"""Run the echo-model server: ``python server.py`` (``--help`` lists the flags).

The code lives in ``echo_model.serving``; this file is the entry point the
README runs. ``uvicorn server:app`` works too: the app is built on first use,
once per process.
"""

from __future__ import annotations

from typing import Any

from echo_model.serving.cli import main


def __getattr__(name: str) -> Any:
    if name == "app":  # built only when asked for, so `python server.py` builds once
        from echo_model.serving.app import create_app

        globals()["app"] = app = create_app()
        return app
    raise AttributeError(name)


if __name__ == "__main__":
    main()
