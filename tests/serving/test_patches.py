"""Library patches apply only to the versions they were written for."""

from __future__ import annotations

import logging

import pytest

from echo_model.serving import patches
from echo_model.serving.patches import Patch, apply_patches


def test_installed_versions_get_every_patch() -> None:
    assert apply_patches() == [p.name for p in patches.PATCHES]


def test_a_patch_outside_its_range_is_skipped_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    applied: list[str] = []
    stale = Patch(
        name="stale",
        package="langserve",
        since=(0, 1),
        before=(0, 2),
        apply=lambda: applied.append("stale"),
    )
    monkeypatch.setattr(patches, "PATCHES", (stale,))
    with caplog.at_level(logging.WARNING, logger="echo_model.server"):
        assert apply_patches() == []
    assert applied == []
    assert "not applying 'stale'" in caplog.text


def test_the_patches_are_in_place_once_an_app_exists() -> None:
    from langserve.callbacks import AsyncEventAggregatorCallback
    from sse_starlette.sse import AppStatus
    from uvicorn.server import Server

    from echo_model.serving.app import create_app
    from echo_model.serving.settings import Settings

    create_app(Settings())
    assert AsyncEventAggregatorCallback.run_inline is True
    assert Server.handle_exit is not AppStatus.handle_exit


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.3.3", (0, 3, 3)), ("1.8.2", (1, 8, 2)), ("2.0.0rc1", (2, 0, 0))],
)
def test_version_tuples(text: str, expected: tuple[int, ...]) -> None:
    assert patches._version_tuple(text) == expected
